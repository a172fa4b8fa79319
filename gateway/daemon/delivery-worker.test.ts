/**
 * The delivery policy on a fake clock: ordering and the in-flight bound, backoff, Retry-After,
 * the auth pause and its alarm, dead-lettering, and the circuit breaker.
 *
 * The store is the real encrypted LevelDB queue. The uplink is a scripted BundleSender: these
 * tests pin the policy's timing exactly, which a real server cannot be made to do on a fake
 * clock; the same faults against the real mTLS harness server are in
 * test/integration/uplink-delivery.test.ts.
 */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { FakeClock } from '../core/clock.js';
import { silentLogger } from '../core/logger.js';
import { QueueStore } from '../store/queue-store.js';
import type { UplinkResult } from '../uplink/fhir-client.js';
import { DeliveryWorker, type BundleSender, type DeliveryWorkerDeps } from './delivery-worker.js';
import type { DaemonEvents } from './events.js';
import { WorkLoop } from './work-loop.js';

interface Call {
  key: string;
  at: number;
  resolve: (r: UplinkResult) => void;
}

/** Answers each POST with `decide(key)`, or holds it until the test resolves it (`hold`). */
class ScriptedSender implements BundleSender {
  readonly calls: Call[] = [];
  readonly open: Call[] = [];
  hold = false;
  decide: (key: string, n: number) => UplinkResult = () => ({ outcome: 'ok', status: 200 });
  constructor(private readonly clock: FakeClock) {}

  postBundle(bundle: object): Promise<UplinkResult> {
    const key = String((bundle as { identifier?: { value?: string } }).identifier?.value);
    return new Promise((resolve) => {
      const call: Call = { key, at: this.clock.now(), resolve };
      this.calls.push(call);
      if (this.hold) this.open.push(call);
      else resolve(this.decide(key, this.calls.length));
    });
  }

  release(result: UplinkResult = { outcome: 'ok', status: 200 }): void {
    this.open.shift()?.resolve(result);
  }
}

let root: string;
let store: QueueStore;
let clock: FakeClock;
let sender: ScriptedSender;
let events: EventEmitter<DaemonEvents>;
let worker: DeliveryWorker | undefined;
let loop: WorkLoop | undefined;
const seen: string[] = [];

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'labedge-delivery-'));
  store = await QueueStore.open({ dataDir: join(root, 'data'), keyFile: join(root, 'keys', 'kek') });
  clock = new FakeClock();
  clock.advance(1_800_000_000_000);
  sender = new ScriptedSender(clock);
  events = new EventEmitter<DaemonEvents>();
  seen.length = 0;
  events.on('delivered', (e) => seen.push(`delivered ${e.sourceId}`));
  events.on('delivery-failed', (e) => seen.push(`failed ${e.outcome} ${e.retryInMs}`));
  events.on('dead-lettered', (e) => seen.push(`dead-letter ${e.status}`));
  events.on('uplink-alarm', (e) => seen.push(`alarm ${e.kind} ${e.active ? 'raised' : 'cleared'}`));
});

afterEach(async () => {
  await worker?.stop();
  await loop?.stop();
  worker = undefined;
  await store.close();
  await rm(root, { recursive: true, force: true });
});

async function enqueue(sourceId: string, n: number): Promise<void> {
  const id = await store.commitInbound({ sourceId, raw: Buffer.from(`${sourceId} message ${n}`), receivedAt: clock.now() });
  await store.transformed(id, { sourceId, bundle: { resourceType: 'Bundle', type: 'transaction', identifier: { value: `${sourceId}#${n}` }, entry: [{}] } });
}

function startWorker(opts: Partial<DeliveryWorkerDeps> = {}): void {
  worker = new DeliveryWorker({ store, client: sender, events, logger: silentLogger(), wake: () => loop?.wake(), clock, random: () => 0.5, ...opts });
  loop = new WorkLoop(worker.step, (e) => assert.fail(e as Error));
  loop.wake();
}

/** Lets real I/O (the store) and the work loop run until `done()` holds. */
async function until(done: () => boolean | Promise<boolean>, what: string): Promise<void> {
  // A generous wall-clock bound: the machine is shared, and only a hang should fail here.
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (await done()) return;
    await sleep(5);
  }
  assert.fail(`timed out: ${what}; events: ${seen.join(', ')}`);
}

const outbound = async (): Promise<number> => (await store.stats()).outbound;

describe('DeliveryWorker', () => {
  it("pipelines a source: its next bundle may go while the previous removal commits, unless they share a conditional-update target", async () => {
    const put = (url: string) => ({ request: { method: 'PUT', url } });
    const create = (n: number) => ({ request: { method: 'POST', url: 'Specimen', ifNoneExist: `identifier=s|${n}` } });
    const bundles = [[create(0)], [create(1)], [create(2), put('Observation?identifier=r|7')], [put('Observation?identifier=r|7')]];
    for (const [n, entry] of bundles.entries()) {
      const id = await store.commitInbound({ sourceId: 'a', raw: Buffer.from(`a message ${n}`), receivedAt: clock.now() });
      await store.transformed(id, { sourceId: 'a', bundle: { resourceType: 'Bundle', type: 'transaction', identifier: { value: `a#${n}` }, entry } });
    }
    // Removals are held until the test lets them commit (a slow disk, as far as the worker can tell).
    const gates: (() => void)[] = [];
    const slowStore: DeliveryWorkerDeps['store'] = {
      outboundHeads: (...a) => store.outboundHeads(...a),
      outboundAfter: (...a) => store.outboundAfter(...a),
      stats: () => store.stats(),
      deadLetterOutbound: (...a) => store.deadLetterOutbound(...a),
      recordAttempt: (...a) => store.recordAttempt(...a),
      delivered: async (...a) => {
        await new Promise<void>((resolve) => gates.push(resolve));
        return store.delivered(...a);
      },
    };
    startWorker({ store: slowStore });
    const keys = () => sender.calls.map((c) => c.key);
    await until(() => keys().length === 3, 'a#0..a#2 posted while their removals wait');
    await sleep(30);
    assert.deepEqual(keys(), ['a#0', 'a#1', 'a#2'], 'the correction of a#2 waits for its removal to be durable');
    gates.shift()?.();
    gates.shift()?.();
    await sleep(30);
    assert.deepEqual(keys(), ['a#0', 'a#1', 'a#2'], 'still waiting: a#2 shares its target');
    gates.shift()?.();
    await until(() => keys().length === 4, 'a#3 posted once a#2 is removed');
    gates.shift()?.();
    await until(async () => (await outbound()) === 0, 'queue empty');
    assert.deepEqual(keys(), ['a#0', 'a#1', 'a#2', 'a#3']);

    // And the previous removal landing never frees the source while its next bundle is on the wire.
    for (const n of [4, 5]) {
      const id = await store.commitInbound({ sourceId: 'a', raw: Buffer.from(`a message ${n}`), receivedAt: clock.now() });
      await store.transformed(id, { sourceId: 'a', bundle: { resourceType: 'Bundle', type: 'transaction', identifier: { value: `a#${n}` }, entry: [create(n)] } });
    }
    sender.hold = true;
    loop?.wake();
    await until(() => sender.open.length === 1, 'a#4 on the wire');
    sender.release();
    await until(() => sender.open.length === 1 && keys().length === 6, 'a#5 on the wire while a#4 commits');
    gates.shift()?.();
    await sleep(30);
    assert.equal(keys().length, 6, 'nothing more of source a while a#5 is on the wire');
    assert.equal(worker?.postingCount, 1);
    sender.release();
    await until(() => gates.length === 1, 'a#5 answered');
    gates.shift()?.();
    await until(async () => (await outbound()) === 0, 'queue empty again');
  });

  it('keeps per-source order with one bundle in flight per source and at most maxInFlight overall, oldest first', async () => {
    for (let n = 0; n < 4; n++) for (const s of ['a', 'b', 'c']) await enqueue(s, n);
    sender.hold = true;
    startWorker({ maxInFlight: 2 });
    let released = 0;
    while (released < 12) {
      await until(() => sender.open.length > 0 && worker?.inFlightCount === sender.open.length, 'a delivery in flight');
      await sleep(10); // give the loop a chance to (wrongly) start more
      assert.ok(sender.open.length <= 2, `in flight: ${sender.open.map((c) => c.key)}`);
      const sources = sender.open.map((c) => c.key.split('#')[0]);
      assert.equal(new Set(sources).size, sources.length, 'one per source');
      sender.release();
      released++;
    }
    await until(async () => (await outbound()) === 0, 'queue empty');
    for (const s of ['a', 'b', 'c']) {
      assert.deepEqual(sender.calls.filter((c) => c.key.startsWith(`${s}#`)).map((c) => c.key), [0, 1, 2, 3].map((n) => `${s}#${n}`));
    }
    assert.deepEqual(sender.calls.slice(0, 2).map((c) => c.key), ['a#0', 'b#0'], 'the oldest heads go first');
  });

  it('backs a failing source off with full jitter (base 1 s, doubling, capped) on the injected clock only', async () => {
    await enqueue('a', 0);
    sender.decide = (_k, n) => (n <= 5 ? { outcome: 'transient', status: 500 } : { outcome: 'ok', status: 200 });
    startWorker({ capDelayMs: 3000, breaker: { failureThreshold: 100 } });
    const expected = [500, 1000, 1500, 1500, 1500]; // random 0.5 × min(cap, 1000 × 2^n)
    for (const [i, delay] of expected.entries()) {
      await until(() => sender.calls.length === i + 1 && seen.length === i + 1, `attempt ${i + 1}`);
      assert.equal(seen[i], `failed transient ${delay}`);
      clock.advance(delay - 1);
      await sleep(20);
      assert.equal(sender.calls.length, i + 1, 'no retry before the backoff has passed');
      clock.advance(1);
    }
    await until(async () => (await outbound()) === 0, 'delivered');
    const gaps = sender.calls.slice(1).map((c, i) => c.at - (sender.calls[i]?.at ?? 0));
    assert.deepEqual(gaps, expected);
  });

  it('honours Retry-After for every source, not only the one that got it', async () => {
    await enqueue('a', 0);
    sender.hold = true;
    startWorker();
    await until(() => sender.open.length === 1, 'first call');
    await enqueue('b', 0);
    sender.release({ outcome: 'transient', status: 503, retryAfterMs: 30_000 });
    await until(() => seen.includes('failed transient 30000'), 'the 503');
    loop?.wake();
    await sleep(30);
    assert.equal(sender.calls.length, 1, 'source b waits too: the server asked everyone to');
    clock.advance(30_000);
    await until(() => sender.open.length === 2, 'both sources resume');
    sender.release();
    sender.release();
    await until(async () => (await outbound()) === 0, 'delivered');
  });

  it('pauses everyone on auth, raises the alarm once, clears it on success, and never dead-letters', async () => {
    await enqueue('a', 0);
    await enqueue('b', 0);
    sender.decide = (_k, n) => (n <= 2 ? { outcome: 'auth', status: 401 } : { outcome: 'ok', status: 200 });
    startWorker({ maxInFlight: 1 });
    await until(() => seen.filter((s) => s.startsWith('failed auth')).length === 1, 'first refusal');
    await sleep(20);
    assert.equal(sender.calls.length, 1, 'paused for all sources');
    clock.advance(500);
    await until(() => seen.filter((s) => s.startsWith('failed auth')).length === 2, 'second refusal');
    clock.advance(1000);
    await until(async () => (await outbound()) === 0, 'delivered after the credentials were fixed');
    assert.deepEqual(seen.filter((s) => s.startsWith('alarm')), ['alarm auth raised', 'alarm auth cleared']);
    assert.equal((await store.stats()).deadLetter, 0);
  });

  it('dead-letters a bundle the server rejects, with a PHI-free reason, and moves on', async () => {
    await enqueue('a', 0);
    await enqueue('a', 1);
    sender.decide = (key) =>
      key === 'a#0'
        ? { outcome: 'rejected', status: 422, summary: 'error invalid @Observation.status', response: { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'invalid', diagnostics: 'PHI-DOE^JANE' }] } }
        : { outcome: 'ok', status: 200 };
    startWorker();
    await until(async () => (await outbound()) === 0, 'both done');
    assert.deepEqual(seen, ['dead-letter 422', 'delivered a']);
    const [dl] = await store.listDeadLetters();
    assert.equal(dl?.reasonCode, 'upstream-422');
    assert.equal(dl?.detail, 'error invalid @Observation.status');
    assert.ok(!JSON.stringify(dl?.detail).includes('PHI-DOE'));
  });

  it('opens the circuit after consecutive failures across sources and lets one probe through per cool-down', async () => {
    for (const s of ['a', 'b', 'c', 'd', 'e', 'f']) await enqueue(s, 0);
    let down = true;
    sender.decide = () => (down ? { outcome: 'transient', errorCode: 'ECONNREFUSED' } : { outcome: 'ok', status: 200 });
    startWorker({ maxInFlight: 8, random: () => 0, breaker: { failureThreshold: 5, openMs: 4000 } });
    await until(() => seen.includes('alarm circuit-open raised'), 'circuit open');
    await sleep(30);
    const atOpen = sender.calls.length;
    assert.ok(atOpen >= 5 && atOpen <= 6, `calls before opening: ${atOpen}`);
    clock.advance(1999); // cool-down 4000 with equal jitter (random 0) = 2000
    await sleep(30);
    assert.equal(sender.calls.length, atOpen, 'nothing while open');
    clock.advance(1);
    await until(() => sender.calls.length === atOpen + 1, 'one probe');
    await sleep(30);
    assert.equal(sender.calls.length, atOpen + 1, 'only one probe');
    clock.advance(3999); // re-opened with the cool-down doubled: 8000 / 2
    await sleep(30);
    assert.equal(sender.calls.length, atOpen + 1);
    down = false;
    clock.advance(1);
    await until(async () => (await outbound()) === 0, 'all delivered once the probe succeeded');
    assert.deepEqual(seen.filter((s) => s.startsWith('alarm')), ['alarm circuit-open raised', 'alarm circuit-open cleared']);
    assert.equal(worker?.circuit, 'closed');
  });
});
