/**
 * Per-source order under churn: the real encrypted store, the real DeliveryWorker with a tiny
 * read-ahead (so its reader rescans all the time), new messages arriving while bundles are in
 * flight, and a sender that answers out of order after random delays with random transient
 * failures, auth refusals and data rejections. Properties checked for every source:
 * - the keys posted never go backwards (a retry repeats the same key, nothing older follows a
 *   newer one: a correction never overtakes the result it corrects);
 * - every message ends delivered exactly once or dead-lettered, none is left or lost;
 * - at most one bundle per source and at most maxInFlight overall are on the wire.
 * (`readAhead` 2 and 8: refills when a source runs dry, and at the low-water mark. A second
 * property queues the whole backlog first and makes some sources' bundles large, so refills read
 * on from a cursor and stop at the read-ahead's size bound. The sender receives the stored JSON
 * text, and checks it is the bundle that was queued.)
 * The sender is scripted (a real server cannot be made to fail at random points this densely);
 * the same policy against the real mTLS server is in test/integration/uplink-delivery.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import fc from 'fast-check';
import { silentLogger } from '../core/logger.js';
import { QueueStore } from '../store/queue-store.js';
import type { UplinkResult } from '../uplink/fhir-client.js';
import { DeliveryWorker } from './delivery-worker.js';
import type { DaemonEvents } from './events.js';
import { WorkLoop } from './work-loop.js';

const SOURCES = ['s0', 's1', 's2', 's3'];
const MAX_IN_FLIGHT = 3;

type Answer = 'ok' | 'transient' | 'auth' | 'rejected';

/** `preload`: the whole backlog before delivery starts (refills then read on from a cursor); `pad`: text that makes some bundles large (the read-ahead's size cut-off). */
interface Shape {
  preload?: boolean;
  pad?: (source: string, n: number) => string;
}

async function run(seed: number, answers: Answer[], readAhead: number, perSource: number, shape: Shape = {}): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'labedge-order-'));
  const store = await QueueStore.open({ dataDir: join(dir, 'data'), keyFile: join(dir, 'keys', 'kek') });
  const events = new EventEmitter<DaemonEvents>();
  const posted = new Map<string, number[]>();
  const delivered = new Map<string, number>();
  const deadLettered = new Set<string>();
  const onWire = new Set<string>();
  let wire = 0;
  let maxWire = 0;
  let call = 0;
  let rnd = seed;
  const random = (): number => {
    rnd = (rnd * 1103515245 + 12345) % 2 ** 31;
    return rnd / 2 ** 31;
  };
  const sender = {
    // The worker posts the stored JSON text; it must be the bundle that was queued.
    async postBundleJson(json: string, bundle: () => object): Promise<UplinkResult> {
      assert.deepEqual(JSON.parse(json), bundle());
      return this.postBundle(JSON.parse(json) as object);
    },
    async postBundle(bundle: object): Promise<UplinkResult> {
      const [source = '', n = ''] = String((bundle as { identifier?: { value?: string } }).identifier?.value).split('#');
      assert.ok(!onWire.has(source), `two bundles of ${source} on the wire`);
      onWire.add(source);
      wire += 1;
      maxWire = Math.max(maxWire, wire);
      (posted.get(source) ?? posted.set(source, []).get(source))?.push(Number(n));
      const answer = answers[call++ % answers.length] ?? 'ok';
      await sleep(Math.floor(random() * 4));
      onWire.delete(source);
      wire -= 1;
      if (answer === 'ok') delivered.set(`${source}#${n}`, (delivered.get(`${source}#${n}`) ?? 0) + 1);
      if (answer === 'rejected') deadLettered.add(`${source}#${n}`);
      const status = { ok: 200, transient: 503, auth: 401, rejected: 422 }[answer];
      return { outcome: answer, status };
    },
  };
  const worker: DeliveryWorker = new DeliveryWorker({
    store, client: sender, events, logger: silentLogger(), wake: () => loop.wake(),
    baseDelayMs: 1, capDelayMs: 4, maxInFlight: MAX_IN_FLIGHT, readAhead, random,
    breaker: { failureThreshold: 1000 },
  });
  const loop: WorkLoop = new WorkLoop(worker.step, (e) => assert.fail(e as Error));
  try {
    const enqueue = async (source: string, n: number): Promise<void> => {
      const id = await store.commitInbound({ sourceId: source, raw: Buffer.from(`${source} ${n}`), receivedAt: Date.now() });
      await store.transformed(id, { sourceId: source, bundle: { resourceType: 'Bundle', type: 'transaction', identifier: { value: `${source}#${n}` }, ...(shape.pad && { pad: shape.pad(source, n) }), entry: [{}] } });
      loop.wake();
    };
    // Half the backlog first, the rest while delivery runs (the reader sees the count change).
    const half = shape.preload ? perSource : Math.ceil(perSource / 2);
    for (let n = 0; n < half; n++) for (const s of SOURCES) await enqueue(s, n);
    loop.wake();
    for (let n = half; n < perSource; n++) {
      for (const s of SOURCES) await enqueue(s, n);
      await sleep(Math.floor(random() * 3));
    }
    const deadline = Date.now() + 60_000;
    while ((await store.stats()).outbound > 0 || worker.inFlightCount > 0) {
      assert.ok(Date.now() < deadline, `not drained: ${(await store.stats()).outbound} left`);
      await sleep(10);
    }
  } finally {
    await worker.stop();
    await loop.stop();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
  assert.ok(maxWire <= MAX_IN_FLIGHT, `${maxWire} on the wire`);
  for (const s of SOURCES) {
    const keys = posted.get(s) ?? [];
    for (let i = 1; i < keys.length; i++) assert.ok((keys[i] ?? 0) >= (keys[i - 1] ?? 0), `${s} went backwards: ${keys.join(',')}`);
    for (let n = 0; n < perSource; n++) {
      const key = `${s}#${n}`;
      const times = delivered.get(key) ?? 0;
      assert.ok(deadLettered.has(key) ? times === 0 : times === 1, `${key} delivered ${times} times`);
    }
  }
}

test('per-source order holds under rescans, put-backs, new arrivals and random outcomes; nothing lost or delivered twice', async () => {
  const answer = fc.constantFrom<Answer>('ok', 'ok', 'ok', 'transient', 'transient', 'auth', 'rejected');
  await fc.assert(
    // readAhead 2: refills when a source runs dry; 8: refills at the low-water mark, appended after the buffered tail.
    fc.asyncProperty(fc.integer({ min: 1, max: 2 ** 30 }), fc.array(answer, { minLength: 1, maxLength: 24 }), fc.constantFrom(2, 8), async (seed, answers, readAhead) => {
      // At least one 'ok' in the cycle, or nothing could ever be delivered.
      await run(seed, [...answers, 'ok'], readAhead, readAhead * 3);
    }),
    { numRuns: 12 },
  );
});

test('the same with the whole backlog queued first and some sources of large bundles: refills read on from a cursor, cut off by size', async () => {
  const answer = fc.constantFrom<Answer>('ok', 'ok', 'ok', 'ok', 'transient', 'auth', 'rejected');
  // s1: every bundle ~150 kB of non-ASCII text; s2: every fifth ~600 kB (a read stops at READ_AHEAD_CHARS).
  const pad = (source: string, n: number): string => (source === 's1' ? 'é'.repeat(150_000) : source === 's2' && n % 5 === 0 ? 'x'.repeat(600_000) : 'ü€😀');
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 1, max: 2 ** 30 }), fc.array(answer, { minLength: 1, maxLength: 24 }), fc.constantFrom(4, 64), fc.boolean(), async (seed, answers, readAhead, preload) => {
      await run(seed, [...answers, 'ok'], readAhead, 30, { preload, pad });
    }),
    { numRuns: 6 },
  );
});
