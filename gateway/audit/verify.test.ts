import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Level } from 'level';
import { auditStoreKit, deviceKeyPem, fillChain, type AuditStoreKit } from '../../test/harness/audit-kit.js';
import type { QueueStore } from '../store/queue-store.js';
import type { RecordSealer } from '../store/record-sealer.js';
import { buildEntry, canonicalJson, decodeEntry } from './audit-codec.js';
import { entryKey, checkpointKey, AUDIT_HEAD_KEY } from './audit-keys.js';
import { checkpointNow } from './checkpointer.js';
import { signCheckpoint } from './checkpoint.js';
import { verifyChain, type BreakKind } from './verify.js';
import type { AuditCheckpoint, AuditEntry } from './audit-types.js';

/**
 * Tampering, two ways: without the data key (what anyone with the disk can do: delete,
 * move, copy or flip bytes of values) and with it (an insider re-sealing forged entries).
 * Every way must be caught, naming the first bad seq.
 */
const KEY = deviceKeyPem('ec');
const N = 100;

interface Chain {
  store: QueueStore;
  db: Level<string, Buffer>;
  sealer: RecordSealer;
  checkpoints: AuditCheckpoint[];
}

async function readEntry(c: Chain, seq: number): Promise<AuditEntry> {
  const key = entryKey(seq);
  const plain = c.sealer.open(key, (await c.db.get(key)) as Buffer, (p) => p);
  const d = decodeEntry(plain);
  assert.ok(d.ok);
  return d.entry;
}

/** Writes `entry` (as a forger with the key would) at `seq`, re-hashed unless told not to. */
async function forge(c: Chain, seq: number, entry: AuditEntry, rehash = true): Promise<string> {
  const key = entryKey(seq);
  let plain: Buffer;
  let hash: string;
  if (rehash) {
    const built = buildEntry({ seq: entry.seq - 1, hash: entry.prev }, { kind: entry.kind, body: entry.body }, entry.time);
    plain = built.plain;
    hash = built.entry.hash;
  } else {
    // The entry's own stored hash, over possibly changed content: moved intact, or edited without re-hashing.
    const json = canonicalJson({ body: entry.body, kind: entry.kind, prev: entry.prev, seq: entry.seq, time: entry.time, v: 1 });
    plain = Buffer.concat([Buffer.from(entry.hash, 'hex'), Buffer.from(json)]);
    hash = entry.hash;
  }
  await c.db.put(key, c.sealer.seal(key, plain));
  return hash;
}

describe('audit verify catches every kind of tampering, naming the first bad seq', () => {
  let kit: AuditStoreKit;
  let c: Chain;

  before(async () => {
    kit = await auditStoreKit();
  });
  after(() => kit.cleanup());

  /** A fresh store per case: 100 entries, checkpoints at 40 and 80. */
  const fresh = async (): Promise<Chain> => {
    await c?.store.close();
    await kit.cleanup();
    const store = await kit.open();
    const checkpoints: AuditCheckpoint[] = [];
    await fillChain(store, 40, 40);
    checkpoints.push((await checkpointNow(store.audit, { deviceId: 'labedge-test', keyPem: KEY, now: 1 })) as AuditCheckpoint);
    await fillChain(store, 40, 40);
    checkpoints.push((await checkpointNow(store.audit, { deviceId: 'labedge-test', keyPem: KEY, now: 2 })) as AuditCheckpoint);
    await fillChain(store, N - 80, 20);
    const internals = store as unknown as { db: Level<string, Buffer>; sealer: RecordSealer };
    c = { store, db: internals.db, sealer: internals.sealer, checkpoints };
    return c;
  };
  after(() => c?.store.close());

  const expectBreak = async (seq: number, kinds: BreakKind[], options?: Parameters<typeof verifyChain>[1]) => {
    const report = await verifyChain(c.store.audit, options);
    assert.equal(report.ok, false, 'a break is reported');
    assert.equal(report.firstBreak?.seq, seq, `first bad seq: ${JSON.stringify(report.firstBreak)}`);
    assert.ok(kinds.includes(report.firstBreak.kind), `kind ${report.firstBreak.kind} in ${kinds.join('|')}`);
    return report;
  };

  it('an untouched chain verifies, checkpoints included', async () => {
    await fresh();
    const report = await verifyChain(c.store.audit);
    assert.equal(report.ok, true, JSON.stringify(report.firstBreak));
    assert.equal(report.entries, N);
    assert.equal(report.head.seq, N);
    assert.equal(report.checkpoints, 2);
    assert.equal(c.checkpoints[1]?.previous?.seq, 40, 'the later checkpoint names the earlier one');
  });

  it('edited: a flipped ciphertext byte (no key)', async () => {
    await fresh();
    const v = (await c.db.get(entryKey(37))) as Buffer;
    v[40] = (v[40] as number) ^ 0x01;
    await c.db.put(entryKey(37), v);
    await expectBreak(37, ['edited']);
  });

  it('edited: content changed and re-sealed, hash left (key)', async () => {
    await fresh();
    const e = await readEntry(c, 55);
    await forge(c, 55, { ...e, body: { ...e.body, digest: 'f'.repeat(64) } }, false);
    await expectBreak(55, ['edited']);
  });

  it('edited: content changed, re-hashed and re-sealed (key): caught at the next link', async () => {
    await fresh();
    const e = await readEntry(c, 55);
    await forge(c, 55, { ...e, body: { ...e.body, bytes: 1 } });
    await expectBreak(55, ['edited']);
  });

  it('deleted: one entry removed (no key)', async () => {
    await fresh();
    await c.db.del(entryKey(23));
    await expectBreak(23, ['deleted']);
  });

  it('deleted: the first entries removed (no key)', async () => {
    await fresh();
    for (const s of [1, 2, 3]) await c.db.del(entryKey(s));
    await expectBreak(1, ['deleted']);
  });

  it('reordered: two values swapped (no key)', async () => {
    await fresh();
    const [a, b] = [(await c.db.get(entryKey(60))) as Buffer, (await c.db.get(entryKey(61))) as Buffer];
    await c.db.put(entryKey(60), b);
    await c.db.put(entryKey(61), a);
    await expectBreak(60, ['reordered']);
  });

  it('reordered: two entries swapped and re-sealed under each other\'s keys (key)', async () => {
    await fresh();
    const [a, b] = [await readEntry(c, 60), await readEntry(c, 61)];
    await forge(c, 60, b, false);
    await forge(c, 61, a, false);
    await expectBreak(60, ['reordered']);
  });

  it('inserted: a copied value under a key that is not in the chain (no key)', async () => {
    await fresh();
    await c.db.put(`${entryKey(70)}x`, (await c.db.get(entryKey(70))) as Buffer);
    await expectBreak(71, ['inserted']);
  });

  it('inserted: a forged entry spliced in at seq 30, the rest renumbered (key)', async () => {
    await fresh();
    const tail: AuditEntry[] = [];
    for (let s = 30; s <= N; s++) tail.push(await readEntry(c, s));
    const before = await readEntry(c, 29);
    const fake = buildEntry({ seq: 29, hash: before.hash }, { kind: 'deliver', body: { outboundId: 'o-forged', resources: [] } }, before.time).entry;
    await forge(c, 30, fake);
    // The originals move up one key; the forger keeps their seq and hash (a naive splice).
    for (const e of tail) await c.db.put(entryKey(e.seq + 1), c.sealer.seal(entryKey(e.seq + 1), buildEntry({ seq: e.seq - 1, hash: e.prev }, e, e.time).plain));
    await expectBreak(30, ['inserted']);
  });

  it('truncated: the last entries removed; the head mark catches it (no key)', async () => {
    await fresh();
    for (let s = 91; s <= N; s++) await c.db.del(entryKey(s));
    await expectBreak(91, ['truncated']);
  });

  it('truncated: entries, head mark and stored checkpoints removed; a checkpoint kept elsewhere catches it', async () => {
    await fresh();
    for (let s = 71; s <= N; s++) await c.db.del(entryKey(s));
    await c.db.del(AUDIT_HEAD_KEY);
    await c.db.del(checkpointKey(80));
    const report = await verifyChain(c.store.audit); // alone, the loss of the mark is still noticed
    assert.equal(report.ok, false);
    await expectBreak(71, ['truncated'], { extraCheckpoints: [c.checkpoints[1] as AuditCheckpoint] });
  });

  it('a consistent rewrite of the tail (key) is caught by the signed checkpoint it contradicts', async () => {
    await fresh();
    let prev = (await readEntry(c, 59)).hash;
    let last = { seq: 0, hash: '' };
    for (let s = 60; s <= N; s++) {
      const e = await readEntry(c, s);
      const built = buildEntry({ seq: s - 1, hash: prev }, { kind: e.kind, body: s === 60 ? { ...e.body, bytes: 9 } : e.body }, e.time);
      await c.db.put(entryKey(s), c.sealer.seal(entryKey(s), built.plain));
      prev = built.entry.hash;
      last = { seq: s, hash: prev };
    }
    // The forger fixes the head mark too; only the checkpoint at 80 (signed before) disagrees.
    await c.db.put(AUDIT_HEAD_KEY, c.sealer.seal(AUDIT_HEAD_KEY, Buffer.from(JSON.stringify(last))));
    await expectBreak(80, ['checkpoint-mismatch']);
  });

  it('a checkpoint with a forged signature, or one that does not extend the one before, is reported', async () => {
    await fresh();
    const cp = c.checkpoints[0] as AuditCheckpoint;
    await expectBreak(40, ['checkpoint-invalid'], { extraCheckpoints: [{ ...cp, time: cp.time + 1 }] });
    // A re-signed checkpoint at 80 that skips the one at 40 (with the key, but breaking the link).
    const other = signCheckpoint({ deviceId: 'labedge-test', head: { seq: 80, hash: (c.checkpoints[1] as AuditCheckpoint).hash }, time: 3, keyPem: KEY });
    await c.db.put(checkpointKey(80), c.sealer.seal(checkpointKey(80), Buffer.from(JSON.stringify(other))));
    await expectBreak(80, ['checkpoint-mismatch']);
  });

  it('the checkpointer refuses to sign when the chain no longer passes through the last checkpoint', async () => {
    await fresh();
    const e = await readEntry(c, 80);
    await forge(c, 80, { ...e, body: { ...e.body, bytes: 2 } });
    await assert.rejects(checkpointNow(c.store.audit, { deviceId: 'labedge-test', keyPem: KEY, now: 4 }), (err: Error & { code?: string }) => err.code === 'LABEDGE_ERR_AUDIT_BROKEN');
  });

  it('a chain pruned below a checkpoint verifies from that checkpoint', async () => {
    await fresh();
    for (let s = 1; s <= 40; s++) await c.db.del(entryKey(s));
    await c.db.del(checkpointKey(40)); // the anchor comes from a file
    const report = await verifyChain(c.store.audit, { extraCheckpoints: [c.checkpoints[0] as AuditCheckpoint] });
    assert.equal(report.ok, true, JSON.stringify(report.firstBreak));
    assert.equal(report.firstSeq, 41);
    assert.equal(report.entries, N - 40);
  });
});
