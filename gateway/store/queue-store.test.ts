import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { Level } from 'level';
import { LabedgeError, type ErrorCode } from '../core/errors.js';
import { QueueStore, INTEGRITY_REASON, READ_AHEAD_CHARS, type InboundInput, type StoreAlarm } from './queue-store.js';
import { prunePayloads } from '../audit/payload-retention.js';
import { encodeInbound } from './record-codec.js';
import type { RecordSealer } from './record-sealer.js';

const hasCode = (code: ErrorCode) => (e: unknown): boolean => e instanceof LabedgeError && e.code === code;
const isNotFound = (e: unknown): boolean => hasCode('LABEDGE_ERR_STORE_NOT_FOUND')(e);

let root: string;
let dataDir: string;
let keyFile: string;
const opened: QueueStore[] = [];

async function openStore(overrides: { keyFile?: string } = {}): Promise<QueueStore> {
  const store = await QueueStore.open({ dataDir, keyFile: overrides.keyFile ?? keyFile });
  opened.push(store);
  return store;
}

/** Direct access to the LevelDB underneath, for tampering (store must be closed). */
async function withRawDb<T>(fn: (db: Level<string, Buffer>) => Promise<T>): Promise<T> {
  const db = new Level<string, Buffer>(join(dataDir, 'store'), { keyEncoding: 'utf8', valueEncoding: 'buffer' });
  await db.open();
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}

/** The LevelDB key of a record id (record-keys.ts: ids are keys with `-` for `!`). */
const keyOf = (id: string): string => id.replaceAll('-', '!');

const input = (sourceId: string, n: number): InboundInput => ({
  sourceId,
  raw: Buffer.from(`H|\\^&|||ANALYZER\rP|1||PID-${n}\rL|1|N\r`),
  receivedAt: 1_700_000_000_000 + n,
  meta: { protocol: 'astm', frames: n, checked: true },
});

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'labedge-queue-'));
  dataDir = join(root, 'data');
  keyFile = join(root, 'keys', 'store.kek');
});

afterEach(async () => {
  for (const s of opened.splice(0)) await s.close();
  await rm(root, { recursive: true, force: true });
});

describe('QueueStore: records', () => {
  it('round-trips inbound records, oldest first, with meta', async () => {
    const store = await openStore();
    const ids = [];
    for (let n = 0; n < 5; n++) ids.push(await store.commitInbound(input('analyzer-a', n)));
    const listed = await store.listInbound();
    assert.deepEqual(listed.map((r) => r.id), ids);
    assert.deepEqual(listed[2], { id: ids[2], ...input('analyzer-a', 2) });
    assert.deepEqual((await store.listInbound(2)).map((r) => r.id), ids.slice(0, 2));
    assert.deepEqual(await store.stats(), { inbound: 5, outbound: 0, deadLetter: 0 });
  });

  it('refuses malformed input with LABEDGE_ERR_STORE_COMMIT, storing nothing', async () => {
    const store = await openStore();
    const bad: unknown[] = [
      { ...input('a', 1), sourceId: '' },
      { ...input('a', 1), raw: 'not a buffer' },
      { ...input('a', 1), receivedAt: Number.NaN },
      { ...input('a', 1), meta: { n: Number.POSITIVE_INFINITY } },
      { ...input('a', 1), meta: { nested: { x: 1 } } },
    ];
    for (const b of bad) await assert.rejects(store.commitInbound(b as InboundInput), hasCode('LABEDGE_ERR_STORE_COMMIT'));
    assert.deepEqual(await store.stats(), { inbound: 0, outbound: 0, deadLetter: 0 });
  });

  it('creates the key file 0600 and the store directory 0700', async () => {
    await openStore();
    assert.equal((await stat(keyFile)).mode & 0o777, 0o600);
    assert.equal((await stat(join(root, 'keys'))).mode & 0o777, 0o700);
    assert.equal((await stat(join(dataDir, 'store'))).mode & 0o777, 0o700);
  });

  it('persists across close/open and never reuses ids', async () => {
    let store = await openStore();
    const a = await store.commitInbound(input('a', 1));
    const b = await store.commitInbound(input('a', 2));
    await store.transformed(a, { sourceId: 'a', bundle: { resourceType: 'Bundle' } });
    await store.close();
    store = await openStore();
    assert.deepEqual((await store.listInbound()).map((r) => r.id), [b]);
    const heads = await store.outboundHeads();
    assert.equal(heads.length, 1);
    assert.deepEqual(heads[0]?.bundle, { resourceType: 'Bundle' });
    assert.deepEqual(await store.stats(), { inbound: 1, outbound: 1, deadLetter: 0 });
    // Drain everything, restart: the next id is still higher than any issued before.
    await store.transformed(b, { sourceId: 'a', bundle: {} });
    for (const h of await store.outboundHeads()) await store.delivered(h.id);
    for (const h of await store.outboundHeads()) await store.delivered(h.id);
    assert.deepEqual(await store.stats(), { inbound: 0, outbound: 0, deadLetter: 0 });
    await store.close();
    store = await openStore();
    const c = await store.commitInbound(input('a', 3));
    assert.ok(c > b, `${c} > ${b}`);
  });

  it('gives per-source FIFO heads, in receive order even if transformed out of order', async () => {
    const store = await openStore();
    const received: Record<string, string[]> = { 'analyzer-a': [], 'analyzer-b': [], 'analyzer-c': [] };
    const inboundIds: Array<[string, string]> = [];
    for (let n = 0; n < 30; n++) {
      const source = ['analyzer-a', 'analyzer-b', 'analyzer-c'][n % 3] ?? 'analyzer-a';
      const id = await store.commitInbound(input(source, n));
      inboundIds.push([id, source]);
      received[source]?.push(id);
    }
    // Transform in reverse order: delivery order must still follow receive order.
    for (const [id, source] of [...inboundIds].reverse()) await store.transformed(id, { sourceId: source, bundle: { n: id } });
    const deliveredOrder: Record<string, string[]> = { 'analyzer-a': [], 'analyzer-b': [], 'analyzer-c': [] };
    for (;;) {
      const heads = await store.outboundHeads();
      if (heads.length === 0) break;
      assert.ok(heads.length <= 3);
      assert.equal(new Set(heads.map((h) => h.sourceId)).size, heads.length, 'one head per source');
      for (const h of heads) {
        deliveredOrder[h.sourceId]?.push(h.inboundId);
        await store.delivered(h.id);
      }
    }
    assert.deepEqual(deliveredOrder, received);
  });

  it('transformed is atomic: one synced batch, and a failed batch changes nothing', async () => {
    const store = await openStore();
    const id = await store.commitInbound(input('a', 1));
    const before = store.commitStats().batches;
    const db = (store as any).db as Level<string, Buffer>;
    const realBatch = db.batch.bind(db);
    (db as any).batch = () => {
      throw new Error('EIO injected'); // the synced write fails (thrown by db.batch(), array or chained form)
    };
    await assert.rejects(store.transformed(id, { sourceId: 'a', bundle: {} }), hasCode('LABEDGE_ERR_STORE_COMMIT'));
    await assert.rejects(store.rejected(id, { reasonCode: 'parse' }), hasCode('LABEDGE_ERR_STORE_COMMIT'));
    (db as any).batch = realBatch;
    assert.deepEqual(await store.stats(), { inbound: 1, outbound: 0, deadLetter: 0 });
    assert.equal((await store.listInbound()).length, 1);
    assert.equal((await store.outboundHeads()).length, 0);
    const outId = await store.transformed(id, { sourceId: 'a', bundle: { ok: true } });
    assert.equal(store.commitStats().batches, before + 1);
    assert.deepEqual(await store.stats(), { inbound: 0, outbound: 1, deadLetter: 0 });
    await assert.rejects(store.transformed(id, { sourceId: 'a', bundle: {} }), isNotFound);
    await store.close();
    const again = await openStore();
    assert.deepEqual((await again.outboundHeads()).map((h) => [h.id, h.inboundId]), [[outId, id]]);
    assert.equal((await again.listInbound()).length, 0);
  });

  it('rejected moves inbound to the dead-letter queue atomically, raw kept', async () => {
    const store = await openStore();
    const id = await store.commitInbound(input('a', 7));
    await store.rejected(id, { reasonCode: 'ASTM_RECORD', detail: 'R.4 bad field count' });
    assert.deepEqual(await store.stats(), { inbound: 0, outbound: 0, deadLetter: 1 });
    const [dl] = await store.listDeadLetters();
    assert.equal(dl?.stage, 'transform');
    assert.equal(dl?.reasonCode, 'ASTM_RECORD');
    assert.equal(dl?.detail, 'R.4 bad field count');
    assert.equal(dl?.sourceId, 'a');
    assert.deepEqual(dl?.raw, input('a', 7).raw);
    await assert.rejects(store.rejected(id, { reasonCode: 'x' }), isNotFound);
  });

  it('counts attempts, dead-letters outbound records and deletes delivered ones', async () => {
    const store = await openStore();
    const a = await store.transformed(await store.commitInbound(input('a', 1)), { sourceId: 'a', bundle: { b: 1 } });
    const b = await store.transformed(await store.commitInbound(input('b', 2)), { sourceId: 'b', bundle: { b: 2 } });
    await store.recordAttempt(a);
    await store.recordAttempt(a);
    assert.equal((await store.outboundHeads()).find((h) => h.id === a)?.attempts, 2);
    await store.deadLetterOutbound(a, { reasonCode: 'http-422', detail: 'OperationOutcome issue 0' });
    await store.delivered(b);
    assert.deepEqual(await store.stats(), { inbound: 0, outbound: 0, deadLetter: 1 });
    const [dl] = await store.listDeadLetters();
    assert.deepEqual({ ...dl, id: undefined }, { id: undefined, originId: a, sourceId: 'a', stage: 'deliver', reasonCode: 'http-422', detail: 'OperationOutcome issue 0', bundle: { b: 1 }, at: dl?.at });
    await assert.rejects(store.delivered(b), isNotFound);
    await assert.rejects(store.delivered('o-zz'), isNotFound);
  });
});

describe('QueueStore: raw bytes stored once (in the audit trail\'s payload archive)', () => {
  const raw = randomBytes(10_000);

  it('the inbound record points at the archived payload; both are read back as one record, and a reject keeps the bytes', async () => {
    const store = await openStore();
    const id = await store.commitInbound({ sourceId: 'a', raw, receivedAt: 5 });
    const [record] = await store.listInbound();
    assert.deepEqual([record?.id, record?.raw.equals(raw), record?.receivedAt], [id, true, 5]);
    await store.close();
    const sizes = await withRawDb(async (db) => [(await db.get(keyOf(id)))?.length ?? 0, (await db.get(`r!${id.slice(2)}`))?.length ?? 0]);
    assert.ok((sizes[0] ?? 0) < 200 && (sizes[1] ?? 0) > raw.length, `inbound ${sizes[0]} B, payload ${sizes[1]} B`);
    const again = await openStore();
    await again.rejected(id, { reasonCode: 'ASTM_RECORD' });
    assert.ok((await again.listDeadLetters())[0]?.raw?.equals(raw));
  });

  it('a listing still fills up past records quarantined for their payload (a short listing means the queue is empty)', async () => {
    let store = await openStore();
    const ids: string[] = [];
    for (let n = 0; n < 12; n++) ids.push(await store.commitInbound({ sourceId: 'a', raw: Buffer.from(`message ${n}`), receivedAt: n }));
    await store.close();
    await withRawDb(async (db) => {
      for (const n of [2, 3, 7]) await db.del(`r!${ids[n]?.slice(2)}`);
    });
    store = await openStore();
    assert.deepEqual((await store.listInbound(8)).map((r) => r.id), ids.filter((_, n) => ![2, 3, 7].includes(n)).slice(0, 8));
    assert.deepEqual(await store.stats(), { inbound: 9, outbound: 0, deadLetter: 3 });
  });

  it('a record written before the bytes were stored once (bytes inline) reads, and does not hold its payload back from expiry', async () => {
    const store = await openStore();
    const legacy = await store.commitInbound({ sourceId: 'a', raw, receivedAt: 1 });
    const queued = await store.commitInbound({ sourceId: 'a', raw, receivedAt: 2 });
    const done = await store.commitInbound({ sourceId: 'a', raw, receivedAt: 3 });
    await store.handledAtLink(done, 'a');
    // Rewrite the first in the old form, as an earlier version left it (the store's own sealer and handle).
    const inner = store as unknown as { db: Level<string, Buffer>; sealer: RecordSealer };
    await inner.db.put(keyOf(legacy), inner.sealer.seal(keyOf(legacy), encodeInbound({ sourceId: 'a', raw, receivedAt: 1 })), { sync: true });
    const result = await prunePayloads(store.audit, { now: 10, retentionMs: 0 });
    assert.deepEqual([result.pruned, result.firstRef, result.lastRef], [2, `r-${legacy.slice(2)}`, `r-${done.slice(2)}`], 'the queued record\'s payload alone stays');
    assert.deepEqual((await store.listInbound()).map((r) => [r.id, r.raw.equals(raw)]), [[legacy, true], [queued, true]]);
  });

  it('a store marked by a newer version is refused untouched (LABEDGE_ERR_STORE_FORMAT); this version marks the ones it opens', async () => {
    let store = await openStore();
    const id = await store.commitInbound({ sourceId: 'a', raw, receivedAt: 1 });
    const inner = store as unknown as { db: Level<string, Buffer>; sealer: RecordSealer };
    assert.ok((await inner.db.get('m!format')) !== undefined, 'marked on open');
    await inner.db.put('m!format', inner.sealer.seal('m!format', Buffer.from('{"format":3}')), { sync: true });
    await store.close();
    await assert.rejects(openStore(), (e: unknown) => hasCode('LABEDGE_ERR_STORE_FORMAT')(e) && /store format 3; this version reads up to 2/.test((e as Error).message));
    await withRawDb(async (db) => {
      await db.del('m!format'); // an older store, as it was before the mark
    });
    store = await openStore();
    assert.deepEqual((await store.listInbound()).map((r) => r.id), [id]);
  });

  it('instrument text is compressed in the archive and comes back byte for byte', async () => {
    const text = Buffer.from(Array.from({ length: 200 }, (_, n) => `R|${n}|^^^GLU|${(n % 97) / 10}|mmol/L|3.9-6.1|N||F\r`).join(''), 'latin1');
    let store = await openStore();
    const id = await store.commitInbound({ sourceId: 'a', raw: text, receivedAt: 5 });
    await store.close();
    const stored = await withRawDb(async (db) => (await db.get(`r!${id.slice(2)}`))?.length ?? 0);
    assert.ok(stored < text.length / 3, `${text.length} B of text archived in ${stored} B`);
    store = await openStore();
    assert.ok((await store.listInbound())[0]?.raw.equals(text));
    const archived = await store.audit.readPayload(`r-${id.slice(2)}`);
    assert.ok(typeof archived === 'object' && archived.raw.equals(text), 'what `audit trace` shows is the original too');
  });

  it('a damaged or missing payload makes its inbound record an integrity dead letter, with an alarm, never a message without bytes', async () => {
    const alarms: StoreAlarm[] = [];
    let store = await QueueStore.open({ dataDir, keyFile, onAlarm: (a) => alarms.push(a) });
    const damaged = await store.commitInbound({ sourceId: 'a', raw, receivedAt: 1 });
    const missing = await store.commitInbound({ sourceId: 'a', raw, receivedAt: 2 });
    const fine = await store.commitInbound({ sourceId: 'a', raw, receivedAt: 3 });
    await store.close();
    await withRawDb(async (db) => {
      const value = (await db.get(`r!${damaged.slice(2)}`)) ?? Buffer.alloc(0);
      value[value.length - 1] = (value[value.length - 1] ?? 0) ^ 1;
      await db.put(`r!${damaged.slice(2)}`, value);
      await db.del(`r!${missing.slice(2)}`);
    });
    store = await QueueStore.open({ dataDir, keyFile, onAlarm: (a) => alarms.push(a) });
    opened.push(store);
    assert.deepEqual((await store.listInbound()).map((r) => r.id), [fine]);
    assert.deepEqual(await store.stats(), { inbound: 1, outbound: 0, deadLetter: 2 });
    assert.deepEqual((await store.listDeadLetters()).map((d) => d.reasonCode), [INTEGRITY_REASON, INTEGRITY_REASON]);
    assert.equal(alarms.filter((a) => a.code === 'LABEDGE_ERR_STORE_INTEGRITY').length, 2);
  });
});

describe('QueueStore: reading on from a cursor (outboundAfter)', () => {
  it('gives, per source, the records after the given one, oldest first across sources; never the cursor itself', async () => {
    const store = await openStore();
    const ids: Record<string, string[]> = { a: [], b: [] };
    for (let n = 0; n < 6; n++) {
      const source = n % 2 === 0 ? 'a' : 'b';
      ids[source]?.push(await store.transformed(await store.commitInbound(input(source, n)), { sourceId: source, bundle: { resourceType: 'Bundle', type: 'transaction', n } }));
    }
    const [a0, a1, a2] = ids.a ?? [];
    const [b0, b1, b2] = ids.b ?? [];
    const after = await store.outboundAfter(new Map([['a', a0 ?? ''], ['b', b0 ?? '']]), 5);
    assert.deepEqual(after.map((r) => r.id), [a1, b1, a2, b2]);
    assert.deepEqual(after.map((r) => (r.bundle as { n: number }).n), [2, 3, 4, 5]);
    assert.equal(after[0]?.bundleJson, '{"resourceType":"Bundle","type":"transaction","n":2}');
    assert.deepEqual((await store.outboundAfter(new Map([['a', a0 ?? '']]), 1)).map((r) => r.id), [a1], 'at most perSource');
    // The cursor itself may be gone (delivered): reading on is unaffected.
    await store.delivered(a1 ?? '');
    assert.deepEqual((await store.outboundAfter(new Map([['a', a1 ?? '']]), 5)).map((r) => r.id), [a2]);
    assert.deepEqual(await store.outboundAfter(new Map([['a', a2 ?? '']]), 5), []);
  });

  it('large bundles: a read stops once a source\'s bundles reach READ_AHEAD_CHARS (at least one record), heads and cursor reads alike', async () => {
    const store = await openStore();
    const big = 'x'.repeat(Math.ceil(READ_AHEAD_CHARS / 2.5)); // three of these pass the bound
    const ids: string[] = [];
    for (let n = 0; n < 5; n++) ids.push(await store.transformed(await store.commitInbound(input('a', n)), { sourceId: 'a', bundle: { n, big } }));
    const small = await store.transformed(await store.commitInbound(input('b', 9)), { sourceId: 'b', bundle: { n: 9 } });
    assert.deepEqual((await store.outboundHeads(64)).map((r) => r.id), [...ids.slice(0, 3), small]);
    assert.deepEqual((await store.outboundAfter(new Map([['a', ids[0] ?? '']]), 64)).map((r) => r.id), ids.slice(1, 4));
    const huge = 'y'.repeat(READ_AHEAD_CHARS * 2);
    const alone = await store.transformed(await store.commitInbound(input('c', 1)), { sourceId: 'c', bundle: { huge } });
    assert.ok((await store.outboundHeads(64)).some((r) => r.id === alone), 'a record over the bound still comes, alone');
  });

  it('a queued bundle is stored compressed and comes back as the same JSON text', async () => {
    let store = await openStore();
    const entry = Array.from({ length: 30 }, (_, n) => ({ resource: { resourceType: 'Observation', status: 'final', code: { text: `GLU ${n}` } }, request: { method: 'PUT', url: `Observation?identifier=s|${n}` } }));
    const bundle = { resourceType: 'Bundle', type: 'transaction', entry };
    const id = await store.transformed(await store.commitInbound(input('a', 1)), { sourceId: 'a', bundle });
    await store.close();
    const stored = await withRawDb(async (db) => (await db.get(keyOf(id)))?.length ?? 0);
    assert.ok(stored < JSON.stringify(bundle).length / 3, `${JSON.stringify(bundle).length} B of JSON stored in ${stored} B`);
    store = await openStore();
    const [head] = await store.outboundHeads();
    assert.equal(head?.bundleJson, JSON.stringify(bundle));
    assert.deepEqual([head?.resources, head?.updateTargets.length], [30, 30]);
  });

  it('a cursor of another source, or no outbound id at all, is LABEDGE_ERR_STORE_NOT_FOUND', async () => {
    const store = await openStore();
    const a = await store.transformed(await store.commitInbound(input('a', 1)), { sourceId: 'a', bundle: {} });
    await store.transformed(await store.commitInbound(input('b', 2)), { sourceId: 'b', bundle: {} });
    await assert.rejects(store.outboundAfter(new Map([['b', a]]), 5), isNotFound);
    await assert.rejects(store.outboundAfter(new Map([['a', 'i-0000000000000001']]), 5), isNotFound);
  });

  it('a corrupt record after the cursor is quarantined and its source read no further in that call', async () => {
    const store = await openStore();
    const first = await store.transformed(await store.commitInbound(input('a', 1)), { sourceId: 'a', bundle: {} });
    const second = await store.transformed(await store.commitInbound(input('a', 2)), { sourceId: 'a', bundle: {} });
    const third = await store.transformed(await store.commitInbound(input('a', 3)), { sourceId: 'a', bundle: {} });
    await store.close();
    await withRawDb((db) => db.put(keyOf(second), randomBytes(80)));
    const again = await openStore();
    assert.deepEqual(await again.outboundAfter(new Map([['a', first]]), 5), []);
    assert.deepEqual(await again.stats(), { inbound: 0, outbound: 2, deadLetter: 1 });
    assert.deepEqual((await again.outboundAfter(new Map([['a', first]]), 5)).map((r) => r.id), [third]);
  });

  it('a record read and then removed another way is not found by delivered (the read-ahead memory forgets it)', async () => {
    const store = await openStore();
    const a = await store.transformed(await store.commitInbound(input('a', 1)), { sourceId: 'a', bundle: {} });
    assert.deepEqual((await store.outboundHeads()).map((r) => r.id), [a]);
    await store.deadLetterOutbound(a, { reasonCode: 'upstream-422' });
    await assert.rejects(store.delivered(a), isNotFound);
    assert.deepEqual(await store.stats(), { inbound: 0, outbound: 0, deadLetter: 1 });
  });
});

describe('QueueStore: group commit', () => {
  it('100 concurrent commits share fewer synced batches, all durable', async () => {
    let store = await openStore();
    const before = store.commitStats();
    const ids = await Promise.all(Array.from({ length: 100 }, (_, n) => store.commitInbound(input(`analyzer-${n % 8}`, n))));
    const after = store.commitStats();
    assert.equal(new Set(ids).size, 100);
    assert.equal(after.submissions - before.submissions, 100);
    assert.ok(after.batches - before.batches < 10, `batches ${after.batches - before.batches}`);
    await store.close();
    store = await openStore();
    assert.deepEqual((await store.listInbound(1000)).map((r) => r.id), ids);
  });

  it('all callers of a failed batch reject with LABEDGE_ERR_STORE_COMMIT', async () => {
    const store = await openStore();
    const db = (store as any).db as Level<string, Buffer>;
    const realBatch = db.batch.bind(db);
    (db as any).batch = () => {
      throw new Error('EIO injected'); // the synced write fails (thrown by db.batch(), array or chained form)
    };
    const results = await Promise.allSettled(Array.from({ length: 10 }, (_, n) => store.commitInbound(input('a', n))));
    (db as any).batch = realBatch;
    for (const r of results) {
      assert.equal(r.status, 'rejected');
      assert.ok(hasCode('LABEDGE_ERR_STORE_COMMIT')(r.reason));
      assert.doesNotMatch((r.reason as Error).message, /PID-|ANALYZER/);
    }
    assert.deepEqual(await store.stats(), { inbound: 0, outbound: 0, deadLetter: 0 });
    assert.equal((await store.listInbound()).length, 0);
  });

  it('close waits for commits in flight', async () => {
    const store = await openStore();
    const pending = Array.from({ length: 20 }, (_, n) => store.commitInbound(input('a', n)));
    await store.close();
    const ids = await Promise.all(pending);
    const again = await openStore();
    assert.deepEqual((await again.listInbound()).map((r) => r.id), ids);
    await assert.rejects(store.commitInbound(input('a', 99)), hasCode('LABEDGE_ERR_STORE_COMMIT'));
  });
});

describe('QueueStore: locking and keys', () => {
  it('a second open of the same store is LABEDGE_ERR_STORE_LOCKED', async () => {
    await openStore();
    await assert.rejects(openStore(), (e: unknown) => hasCode('LABEDGE_ERR_STORE_LOCKED')(e) && /locked/.test((e as Error).message));
  });

  it('a wrong KEK is LABEDGE_ERR_KEY and the store is left intact', async () => {
    const store = await openStore();
    const id = await store.commitInbound(input('a', 1));
    await store.close();
    const otherKey = join(root, 'keys', 'other.kek');
    const other = await QueueStore.open({ dataDir: join(root, 'elsewhere'), keyFile: otherKey });
    await other.close();
    await assert.rejects(openStore({ keyFile: otherKey }), hasCode('LABEDGE_ERR_KEY'));
    const again = await openStore();
    assert.deepEqual((await again.listInbound()).map((r) => r.id), [id]);
  });

  it('a missing KEK for an existing store is LABEDGE_ERR_KEY, never a new key', async () => {
    const store = await openStore();
    await store.commitInbound(input('a', 1));
    await store.close();
    const missing = join(root, 'keys', 'missing.kek');
    await assert.rejects(openStore({ keyFile: missing }), (e: unknown) => hasCode('LABEDGE_ERR_KEY')(e) && /missing/.test((e as Error).message));
    await assert.rejects(stat(missing), /ENOENT/);
    assert.equal((await (await openStore()).listInbound()).length, 1);
  });

  it('a key file readable by others is refused', async () => {
    const store = await openStore();
    await store.close();
    await chmod(keyFile, 0o644);
    await assert.rejects(openStore(), hasCode('LABEDGE_ERR_KEY'));
  });

  it('a key file anywhere inside the data directory is refused (a configuration error, exit 2)', async () => {
    await assert.rejects(openStore({ keyFile: join(dataDir, 'store', 'kek') }), hasCode('LABEDGE_ERR_CONFIG'));
    await assert.rejects(openStore({ keyFile: join(dataDir, 'kek') }), hasCode('LABEDGE_ERR_CONFIG'));
  });

  it('a store directory that lost its CURRENT file is kept aside and repaired, not recreated empty', async () => {
    const store = await openStore();
    const id = await store.commitInbound(input('a', 1));
    await store.close();
    await rm(join(dataDir, 'store', 'CURRENT'));
    const alarms: StoreAlarm[] = [];
    const repaired = await QueueStore.open({ dataDir, keyFile, onAlarm: (a) => alarms.push(a) });
    opened.push(repaired);
    assert.deepEqual((await repaired.listInbound()).map((r) => r.id), [id]);
    assert.equal(alarms[0]?.code, 'LABEDGE_ERR_STORE_DAMAGED');
    const [kept] = await readdir(join(dataDir, 'damaged'));
    assert.match(alarms[0]?.message ?? '', new RegExp(kept ?? 'no copy'));
    assert.ok((await readdir(join(dataDir, 'damaged', kept ?? ''))).some((n) => n.startsWith('MANIFEST-')), 'the damaged copy is kept as it was');
  });

  it('a store that lost its wrapped data key gets it back from the backup beside it, with an alarm', async () => {
    const store = await openStore();
    const id = await store.commitInbound(input('a', 1));
    await store.close();
    await withRawDb((db) => db.del('k!00000001'));
    const alarms: StoreAlarm[] = [];
    const again = await QueueStore.open({ dataDir, keyFile, onAlarm: (a) => alarms.push(a) });
    opened.push(again);
    assert.deepEqual((await again.listInbound()).map((r) => r.id), [id]);
    assert.match(alarms[0]?.message ?? '', /lost its wrapped data keys \(1\); restored/);
  });

  it('a store with records but no data key (and no backup) is refused', async () => {
    const store = await openStore();
    await store.commitInbound(input('a', 1));
    await store.close();
    await withRawDb((db) => db.del('k!00000001'));
    await rm(join(dataDir, 'wrapped-keys.json'));
    await assert.rejects(openStore(), hasCode('LABEDGE_ERR_KEY'));
  });
});

describe('QueueStore: integrity', () => {
  async function seed(): Promise<string[]> {
    const store = await openStore();
    const ids = [];
    for (let n = 0; n < 4; n++) ids.push(await store.commitInbound(input('a', n)));
    await store.close();
    opened.length = 0;
    return ids;
  }

  it('a flipped byte is detected; listing quarantines it (ciphertext kept) and goes on', async () => {
    const ids = await seed();
    const key = keyOf(ids[1] ?? '');
    const tampered = await withRawDb(async (db) => {
      const value = (await db.get(key)) ?? Buffer.alloc(0);
      value[value.length - 3] = (value[value.length - 3] ?? 0) ^ 0x01;
      await db.put(key, value);
      return value;
    });
    const store = await openStore();
    const listed = await store.listInbound();
    assert.deepEqual(listed.map((r) => r.id), [ids[0], ids[2], ids[3]]);
    assert.deepEqual(await store.stats(), { inbound: 3, outbound: 0, deadLetter: 1 });
    const [dl] = await store.listDeadLetters();
    assert.equal(dl?.reasonCode, INTEGRITY_REASON);
    assert.deepEqual(dl?.raw, tampered);
    assert.match(dl?.detail ?? '', new RegExp(`^stored value at ${key} failed authentication`));
  });

  it('limited listings still fill up past quarantined records', async () => {
    const ids = await seed();
    await withRawDb(async (db) => {
      for (const id of ids.slice(0, 2)) await db.put(keyOf(id), Buffer.from('garbage'));
    });
    const store = await openStore();
    assert.deepEqual((await store.listInbound(2)).map((r) => r.id), ids.slice(2));
    assert.equal((await store.stats()).deadLetter, 2);
  });

  it('a value copied under another key fails (record key is AAD)', async () => {
    const ids = await seed();
    await withRawDb(async (db) => {
      const v0 = await db.get(keyOf(ids[0] ?? ''));
      if (v0) await db.put(keyOf(ids[3] ?? ''), v0);
    });
    const store = await openStore();
    assert.deepEqual((await store.listInbound()).map((r) => r.id), ids.slice(0, 3));
    const [dl] = await store.listDeadLetters();
    assert.match(dl?.detail ?? '', /authentication tag mismatch/);
  });

  it('a corrupt outbound record: recordAttempt throws LABEDGE_ERR_STORE_INTEGRITY naming the key only, heads skip to the next', async () => {
    const store = await openStore();
    const first = await store.transformed(await store.commitInbound(input('a', 1)), { sourceId: 'a', bundle: { patient: 'ZZCANARY^QUENTIN' } });
    const second = await store.transformed(await store.commitInbound(input('a', 2)), { sourceId: 'a', bundle: { n: 2 } });
    await store.close();
    await withRawDb(async (db) => {
      const value = (await db.get(keyOf(first))) ?? Buffer.alloc(0);
      await db.put(keyOf(first), value.subarray(0, value.length - 5)); // truncated
    });
    const again = await openStore();
    await assert.rejects(again.recordAttempt(first), (e: unknown) => {
      assert.ok(hasCode('LABEDGE_ERR_STORE_INTEGRITY')(e));
      assert.equal((e as Error).message, `stored value at ${keyOf(first)} failed authentication (authentication tag mismatch)`);
      return true;
    });
    assert.deepEqual((await again.outboundHeads()).map((h) => h.id), [second]);
    const [dl] = await again.listDeadLetters();
    assert.equal(dl?.stage, 'deliver');
    assert.equal(dl?.sourceId, 'a');
  });

  it('a corrupt outbound head is quarantined while listing heads', async () => {
    const store = await openStore();
    const first = await store.transformed(await store.commitInbound(input('a', 1)), { sourceId: 'a', bundle: {} });
    const second = await store.transformed(await store.commitInbound(input('a', 2)), { sourceId: 'a', bundle: {} });
    await store.close();
    await withRawDb((db) => db.put(keyOf(first), randomBytes(80)));
    const again = await openStore();
    assert.deepEqual((await again.outboundHeads()).map((h) => h.id), [second]);
    assert.deepEqual(await again.stats(), { inbound: 0, outbound: 1, deadLetter: 1 });
  });

  it('a corrupt dead letter is listed as an integrity entry, not dropped', async () => {
    const store = await openStore();
    await store.rejected(await store.commitInbound(input('a', 1)), { reasonCode: 'parse' });
    const [dl] = await store.listDeadLetters();
    await store.close();
    await withRawDb((db) => db.put(keyOf(dl?.id ?? ''), Buffer.from('x')));
    const again = await openStore();
    const listed = await again.listDeadLetters();
    assert.equal(listed.length, 1);
    assert.equal(listed[0]?.id, dl?.id);
    assert.equal(listed[0]?.reasonCode, INTEGRITY_REASON);
    assert.deepEqual(listed[0]?.raw, Buffer.from('x'));
  });
});
