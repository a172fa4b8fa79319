import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { LabedgeError } from '../core/errors.js';
import { QueueStore, type QueueStoreOptions, type StoreAlarm } from './queue-store.js';

/**
 * Backpressure: at a limit commitInbound refuses with LABEDGE_ERR_STORE_FULL (the instrument
 * gets a NAK), one alarm is raised, nothing stored is dropped, and admission resumes by
 * itself. The real full disk is in test/crash/disk-full.test.ts; here the free-space probe
 * and one write failure are injected (mocks, said where used).
 */
let root: string;
const opened: QueueStore[] = [];
const isFull = (e: unknown): boolean => e instanceof LabedgeError && e.code === 'LABEDGE_ERR_STORE_FULL';
/** 2 kB that do not compress (the payload archive compresses what it can). */
const input = (n: number) => ({ sourceId: 'analyzer-1', raw: randomBytes(2000), receivedAt: n });

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'labedge-cap-'));
});
afterEach(async () => {
  for (const s of opened.splice(0)) await s.close();
  await rm(root, { recursive: true, force: true });
});

async function openStore(extra: Partial<QueueStoreOptions>): Promise<{ store: QueueStore; alarms: StoreAlarm[] }> {
  const alarms: StoreAlarm[] = [];
  const store = await QueueStore.open({ dataDir: join(root, 'data'), keyFile: join(root, 'keys', 'kek'), onAlarm: (a) => alarms.push(a), ...extra });
  opened.push(store);
  return { store, alarms };
}

/** Commits until one is admitted (admission re-measures in the background), or gives up. */
async function commitWhenAdmitted(store: QueueStore, n: number, ms = 3000): Promise<string> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await store.commitInbound(input(n));
    } catch (e) {
      if (!isFull(e) || Date.now() > deadline) throw e;
      await sleep(50);
    }
  }
}

describe('capacity and backpressure', () => {
  it('the record limit refuses new messages with one alarm, keeps everything, and resumes when records leave', async () => {
    const { store, alarms } = await openStore({ limits: { maxRecords: 5 } });
    const ids = [];
    for (let n = 0; n < 5; n++) ids.push(await store.commitInbound(input(n)));
    await assert.rejects(store.commitInbound(input(5)), isFull);
    await assert.rejects(store.commitInbound(input(6)), isFull);
    assert.deepEqual(alarms.map((a) => [a.code, a.cleared === true]), [['LABEDGE_ERR_STORE_FULL', false]], 'one alarm for the spell');
    assert.deepEqual((await store.listInbound()).map((r) => r.id), ids, 'nothing dropped to make room');
    // Two records delivered: below the resume mark, the next commit goes through.
    for (const id of ids.slice(0, 2)) await store.delivered(await store.transformed(id, { sourceId: 'analyzer-1', bundle: {} }));
    await store.commitInbound(input(7));
    assert.deepEqual(alarms.map((a) => [a.code, a.cleared === true]), [['LABEDGE_ERR_STORE_FULL', false], ['LABEDGE_ERR_STORE_FULL', true]]);
  });

  it('the byte limit counts the store on disk', async () => {
    const { store, alarms } = await openStore({ limits: { maxBytes: 40_000 } });
    let refused = 0;
    for (let n = 0; n < 40 && refused === 0; n++) await store.commitInbound(input(n)).catch((e: unknown) => (isFull(e) ? refused++ : Promise.reject(e)));
    assert.equal(refused, 1);
    assert.equal(store.capacity().full, 'bytes');
    assert.match(alarms[0]?.message ?? '', /size limit \(40000 bytes\)/);
  });

  it('full on bytes: once the backlog is delivered, a compaction gives the dead space back and admission resumes by itself', async () => {
    let skew = 0; // the store's clock, moved past the reclaim interval instead of waiting it out
    const { store, alarms } = await openStore({ limits: { maxBytes: 400_000 }, clock: { now: () => Date.now() + skew } });
    // Small messages with large bundles: the queue's own records (not the audit trail's payload
    // archive, which has its own bound) fill the store.
    const small = (n: number) => ({ sourceId: 'analyzer-1', raw: Buffer.from(`message ${n}`), receivedAt: n });
    // Random text: bundles are compressed at rest, and repeated letters would shrink to nothing.
    const bundle = (n: number) => ({ resourceType: 'Bundle', type: 'transaction', id: String(n), note: randomBytes(15_000).toString('base64') });
    const ids: string[] = [];
    for (let n = 0; n < 100; n++) {
      try {
        ids.push(await store.transformed(await store.commitInbound(small(n)), { sourceId: 'analyzer-1', bundle: bundle(n) }));
      } catch (e) {
        if (!isFull(e)) throw e;
        break;
      }
    }
    assert.equal(store.capacity().full, 'bytes', 'the byte limit was reached');
    // Deliver everything: LevelDB only writes tombstones; the reclaiming compaction removes the records.
    for (const id of ids) await store.delivered(id);
    skew = 10_000;
    const deadline = Date.now() + 30_000;
    let next: string | undefined;
    while (next === undefined) {
      next = await store.commitInbound(small(1000)).catch((e: unknown) => (isFull(e) && Date.now() < deadline ? sleep(100).then(() => undefined) : Promise.reject(e)));
    }
    assert.deepEqual(alarms.map((a) => [a.code, a.cleared === true]), [['LABEDGE_ERR_STORE_FULL', false], ['LABEDGE_ERR_STORE_FULL', true]]);
  });

  it('the free-disk floor refuses and resumes when space returns (free space injected: a mock for a full disk)', async () => {
    let free = 10_000;
    const { store, alarms } = await openStore({ limits: { minFreeDiskBytes: 1_000_000 }, statfs: () => ({ bavail: free, bsize: 1 }) });
    await assert.rejects(store.commitInbound(input(1)), isFull);
    free = 50_000_000;
    await commitWhenAdmitted(store, 2);
    assert.deepEqual(alarms.map((a) => a.cleared === true), [false, true]);
  });

  it('a write that finds the disk full is a refusal (STORE_FULL); the handle is reopened and writes resume (ENOSPC injected: a mock)', async () => {
    let free = 50_000_000;
    const { store, alarms } = await openStore({ limits: { minFreeDiskBytes: 1_000_000 }, statfs: () => ({ bavail: free, bsize: 1 }) });
    const kept = await store.commitInbound(input(1));
    const db = (store as any).db;
    const realBatch = db.batch.bind(db);
    db.batch = () => {
      throw new Error('IO error: /x/000003.log: No space left on device'); // the synced write fails (thrown by db.batch(), array or chained form)
    };
    free = 1000;
    await assert.rejects(store.commitInbound(input(2)), isFull);
    db.batch = realBatch;
    await assert.rejects(store.commitInbound(input(3)), isFull, 'still full: the floor is not regained');
    free = 50_000_000;
    const next = await commitWhenAdmitted(store, 4);
    assert.deepEqual((await store.listInbound()).map((r) => r.id), [kept, next]);
    assert.deepEqual(alarms.map((a) => [a.code, a.cleared === true]), [['LABEDGE_ERR_STORE_FULL', false], ['LABEDGE_ERR_STORE_FULL', true]]);
    await store.close();
    const again = (await openStore({})).store;
    assert.deepEqual((await again.listInbound()).map((r) => r.id), [kept, next]);
  });
});
