import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { QueueStore } from './queue-store.js';
import { deadLetterRule, DAY_MS, DEFAULT_RETENTION } from './retention.js';
import { StoreSweeper } from './store-sweeper.js';
import { verifyChain } from '../audit/verify.js';
import { DEFAULT_AUDIT_SETTINGS } from '../audit/audit-config.js';

/**
 * The daemon's housekeeping on its own timer (no call from outside): retention sweeps come
 * round by themselves, and after a key rotation the old records are re-wrapped in the
 * background and the old key retired. The store's clock is moved forward instead of waiting.
 */
let root: string;
let now = 1_800_000_000_000;
const opened: Array<QueueStore | StoreSweeper> = [];
const raw = (n: number) => Buffer.from(`H|\\^&\rP|1||PID-${n}\rR|1|^^^GLU|${n}\rL|1|N\r`);

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'labedge-sweeper-'));
});
afterEach(async () => {
  for (const o of opened.splice(0).reverse()) await (o instanceof StoreSweeper ? o.stop() : o.close());
  await rm(root, { recursive: true, force: true });
});

async function openStore(): Promise<QueueStore> {
  const store = await QueueStore.open({ dataDir: join(root, 'data'), keyFile: join(root, 'keys', 'kek'), clock: { now: () => now } });
  opened.push(store);
  return store;
}

async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting: ${what}`);
    await sleep(20);
  }
}

describe('store housekeeping (StoreSweeper)', () => {
  it('defaults: delivered records (their archived payload) kept 7 days, dead letters 90; both bounded by size, swept periodically', () => {
    assert.deepEqual(DEFAULT_RETENTION, { deadLetterDays: 90, deadLetterMaxBytes: 256 * 1024 * 1024, payloadArchiveMaxBytes: 256 * 1024 * 1024, sweepIntervalMs: 60 * 60 * 1000 });
    assert.equal(DEFAULT_AUDIT_SETTINGS.payloadRetentionMs, 7 * DAY_MS, 'delivered: 7 days (expired on the audit checkpoint timer)');
    assert.equal(DEFAULT_AUDIT_SETTINGS.checkpointIntervalMs, 15 * 60_000);
  });

  it('sweeps periodically by itself: a dead letter past its retention goes at the next round, a young one stays', async () => {
    const store = await openStore();
    for (let n = 0; n < 2; n++) await store.rejected(await store.commitInbound({ sourceId: 'analyzer-1', raw: raw(n), receivedAt: n }), { reasonCode: 'mapping-error', detail: 'R.3' });
    now += 91 * DAY_MS;
    await store.rejected(await store.commitInbound({ sourceId: 'analyzer-1', raw: raw(9), receivedAt: 9 }), { reasonCode: 'mapping-error', detail: 'R.3' });
    const sweeper = new StoreSweeper(store, { rules: [deadLetterRule(DEFAULT_RETENTION)], intervalMs: 50, firstDelayMs: 0 });
    opened.push(sweeper);
    sweeper.start();
    await until(async () => (await store.stats()).deadLetter === 1, 'the old dead letters swept');
    // Later rounds keep going and keep the young one until it, too, is past 90 days.
    now += 89 * DAY_MS;
    await sleep(200);
    assert.equal((await store.stats()).deadLetter, 1);
    now += 2 * DAY_MS;
    await until(async () => (await store.stats()).deadLetter === 0, 'the last dead letter swept once old enough');
  });

  it('the payload archive is bounded by size: the oldest payloads go, each chunk explained by a payload-expired entry; a queued message\'s bytes stay', async () => {
    const store = await openStore();
    const noise = randomBytes(4000); // incompressible: the archive compresses what it can
    const big = (n: number) => Buffer.concat([raw(n), noise]);
    const ids = [];
    for (let n = 0; n < 30; n++) ids.push(await store.commitInbound({ sourceId: 'analyzer-1', raw: big(n), receivedAt: now + n }));
    const payloadKeys = async (): Promise<string[]> => {
      const keys: string[] = [];
      for await (const [key] of store.audit.payloads()) keys.push(key);
      return keys;
    };
    const all = await payloadKeys();
    const ref = (key: string | undefined): string | undefined => key?.replace('!', '-');
    // Message 10 is still queued: its payload is its only copy. The bound deletes around it.
    for (const [n, id] of ids.entries()) if (n !== 10) await store.handledAtLink(id, 'analyzer-1');
    const held = await store.boundPayloads(50_000);
    assert.ok(held.bytes <= 50_000, `${held.bytes} bytes left`);
    const kept = await payloadKeys();
    assert.equal(kept[0], all[10], 'the queued message\'s payload stays');
    assert.deepEqual(kept.slice(1), all.slice(all.length - (kept.length - 1)), 'and otherwise the newest');
    assert.equal(held.pruned, 30 - kept.length);
    assert.deepEqual((await store.listInbound(100)).map((r) => [r.id, r.raw.equals(big(10))]), [[ids[10], true]], 'the queued message reads whole');
    const expired = async (): Promise<unknown[][]> => {
      const bodies: unknown[][] = [];
      for await (const e of store.audit.entries()) if (e.kind === 'payload-expired') bodies.push([e.body.count, e.body.firstRef, e.body.lastRef]);
      return bodies;
    };
    assert.deepEqual(await expired(), [
      [10, ref(all[0]), ref(all[9])],
      [19 - kept.length + 1, ref(all[11]), ref(all[30 - kept.length])],
    ], 'exact ranges on both sides of the kept payload');

    // Once transformed, it is an ordinary archived payload again, and the oldest goes first.
    await store.handledAtLink(ids[10] ?? '', 'analyzer-1');
    const sweeper = new StoreSweeper(store, { rules: [], payloadArchiveMaxBytes: 30_000, intervalMs: 60_000, firstDelayMs: 0 });
    opened.push(sweeper);
    sweeper.start();
    await until(async () => (await payloadKeys()).length < kept.length, 'the archive bounded');
    await sweeper.stop();
    const after = await payloadKeys();
    assert.ok(after.length >= 5 && after.length <= 8, `about 30 kB of ~4.1 kB payloads kept, newest: ${after.length}`);
    assert.deepEqual(after, kept.slice(kept.length - after.length), 'the oldest went first');
    assert.equal((await verifyChain(store.audit)).ok, true, 'the chain still verifies');
    const again = await store.boundPayloads(30_000);
    assert.equal(again.pruned, 0, 'under the bound: nothing more goes');
    assert.ok(again.bytes <= 30_000);
  });

  it('after a key rotation, re-wraps the old records in the background and retires the old key', async () => {
    const store = await openStore();
    const ids = [];
    for (let n = 0; n < 40; n++) ids.push(await store.commitInbound({ sourceId: `analyzer-${n % 3}`, raw: raw(n), receivedAt: n }));
    const rotation = store.keyRotation;
    const old = rotation.currentKeyId;
    const fresh = await rotation.rotate();
    assert.ok(rotation.pending);
    const sweeper = new StoreSweeper(store, { rules: [], intervalMs: 60_000, firstDelayMs: 0, rewrapBatch: 7, rewrapPauseMs: 1 });
    opened.push(sweeper);
    sweeper.start();
    await until(async () => !rotation.pending, 're-wrap finished');
    const census = await rotation.census();
    assert.equal(census.get(old) ?? 0, 0, 'nothing left under the old key');
    assert.ok((census.get(fresh) ?? 0) > 0);
    assert.deepEqual((await store.listInbound(100)).map((r) => r.id), ids, 'every record still reads, in order');
  });
});
