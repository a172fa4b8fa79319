import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Level } from 'level';
import { auditStoreKit, type AuditStoreKit } from '../../test/harness/audit-kit.js';
import { messageDigest as transformDigest } from '../daemon/transform-worker.js';
import { bundleDigest, messageDigest } from './message-digest.js';
import { verifyChain } from './verify.js';
import type { AuditEntry } from './audit-types.js';
import type { QueueStore } from '../store/queue-store.js';

const input = (source: string, n: number) => ({ sourceId: source, raw: Buffer.from(`H|\\^&\rR|1|^^^GLU|${n}\rL|1|N\r`), receivedAt: 1_700_000_000_000 + n, meta: { frames: 1, complete: true } });

async function all(store: QueueStore): Promise<AuditEntry[]> {
  const out: AuditEntry[] = [];
  for await (const e of store.audit.entries()) out.push(e);
  return out;
}

describe('audit log: one entry per stage, in the same batch as the change it records', () => {
  let kit: AuditStoreKit;
  before(async () => {
    kit = await auditStoreKit();
  });
  after(() => kit.cleanup());

  it('ingest → transform → deliver, reject and dead-letter each append one chained entry with digests', async () => {
    const store = await kit.open();
    try {
      const raw = input('an-1', 1);
      const inId = await store.commitInbound(raw);
      const bundle = { resourceType: 'Bundle', type: 'transaction', entry: [{}, {}] };
      const outId = await store.transformed(inId, { sourceId: 'an-1', bundle }, { digest: messageDigest(raw.raw), warnings: ['R.9: no result status; Observation.status unknown'], unmapped: ['P.6', 'C.4'] });
      const response = { resourceType: 'Bundle', type: 'transaction-response', entry: [{ response: { status: '201 Created', location: 'Observation/7/_history/1', etag: 'W/"1"' } }, { response: { status: '200 OK', location: 'Patient/3/_history/2' } }] };
      await store.delivered(outId, { sourceId: 'an-1', status: 200, response, server: 'https://fhir.test/R4' });

      const bad = await store.commitInbound(input('an-1', 2));
      await store.rejected(bad, { reasonCode: 'no-resources' }, { digest: messageDigest(input('an-1', 2).raw) });
      const third = await store.transformed(await store.commitInbound(input('an-2', 3)), { sourceId: 'an-2', bundle: { resourceType: 'Bundle', entry: [] } });
      await store.deadLetterOutbound(third, { reasonCode: 'upstream-422' }, { status: 422, response: { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'invalid', diagnostics: 'Zzcanaryfam is not valid' }] } });

      const entries = await all(store);
      assert.deepEqual(entries.map((e) => e.kind), ['ingest', 'transform', 'deliver', 'ingest', 'reject', 'ingest', 'transform', 'dead-letter']);
      assert.deepEqual(entries.map((e) => e.seq), [1, 2, 3, 4, 5, 6, 7, 8]);
      const [ingest, transform, deliver, , reject, , , dead] = entries as AuditEntry[] & { length: 8 };
      assert.equal(ingest?.body.digest, messageDigest(raw.raw));
      assert.equal(ingest?.body.digest, transformDigest(raw.raw), 'the same digest the transform worker puts in identifiers and Provenance');
      assert.equal(ingest?.body.inboundId, inId);
      assert.deepEqual(ingest?.body.link, { frames: 1, complete: true });
      assert.equal(transform?.body.digest, ingest?.body.digest);
      assert.equal(transform?.body.fhirDigest, bundleDigest(bundle));
      assert.deepEqual(transform?.body.unmapped, ['P.6', 'C.4']);
      assert.equal(transform?.body.outboundId, outId);
      assert.deepEqual(deliver?.body.resources, [
        { status: '201 Created', location: 'Observation/7/_history/1', etag: 'W/"1"' },
        { status: '200 OK', location: 'Patient/3/_history/2' },
      ]);
      assert.equal(deliver?.body.server, 'https://fhir.test/R4');
      assert.equal(reject?.body.reasonCode, 'no-resources');
      assert.match(String(reject?.body.deadLetterId), /^d-/);
      assert.deepEqual(dead?.body.issues, ['invalid'], 'issue codes only, never the server text');
      assert.ok(!JSON.stringify(dead).includes('Zzcanaryfam'));
      for (let i = 1; i < entries.length; i++) assert.equal(entries[i]?.prev, entries[i - 1]?.hash);

      const payload = await store.audit.readPayload(String(ingest?.body.payloadRef));
      assert.ok(typeof payload === 'object');
      assert.deepEqual(payload.raw, raw.raw, 'the raw bytes stay retrievable after the inbound record is gone');
      assert.equal((await verifyChain(store.audit)).ok, true);
    } finally {
      await store.close();
    }
  });

  it('group commit: concurrent commits share batches, and chain order is batch order', async () => {
    const store = await kit.open();
    try {
      const before = store.audit.currentHead().seq;
      const batches = store.commitStats().batches;
      const ids = await Promise.all(Array.from({ length: 100 }, (_, n) => store.commitInbound(input(`an-${n % 5}`, 100 + n))));
      assert.ok(store.commitStats().batches - batches < 20, 'shared batches');
      const ingests = (await all(store)).filter((e) => e.seq > before);
      assert.equal(ingests.length, 100);
      // Inbound ids are allocated in submission order, and so are the entries.
      assert.deepEqual(ingests.map((e) => e.body.inboundId), ids);
      assert.equal((await verifyChain(store.audit)).ok, true);
    } finally {
      await store.close();
    }
  });

  it('a failed batch leaves no entry and no advanced head; the next batch chains on', async () => {
    const store = await kit.open();
    try {
      const head = store.audit.currentHead();
      const db = (store as unknown as { db: Level<string, Buffer> }).db;
      const realBatch = db.batch.bind(db);
      // The synced write fails (thrown by db.batch(), which the store calls in its chained form).
      (db as unknown as { batch: () => never }).batch = () => {
        throw Object.assign(new Error('EIO injected'), { code: 'EIO' });
      };
      const failed = await Promise.allSettled(Array.from({ length: 10 }, (_, n) => store.commitInbound(input('an-9', 200 + n))));
      (db as unknown as { batch: typeof realBatch }).batch = realBatch;
      assert.ok(failed.every((r) => r.status === 'rejected'));
      assert.deepEqual(store.audit.currentHead(), head, 'head not advanced');
      await store.commitInbound(input('an-9', 300));
      assert.equal(store.audit.currentHead().seq, head.seq + 1, 'no gap: the failed entries never existed');
      const report = await verifyChain(store.audit);
      assert.equal(report.ok, true, JSON.stringify(report.firstBreak));
    } finally {
      await store.close();
    }
  });

  it('reopening resumes the chain from the last entry on disk', async () => {
    let store = await kit.open();
    const head = store.audit.currentHead();
    await store.close();
    store = await kit.open();
    try {
      assert.deepEqual(store.audit.currentHead(), head);
      assert.deepEqual(store.audit.startupIssues, []);
      const entry = await store.audit.append({ kind: 'app-start', body: { deviceId: 'labedge-test', version: '0', configDigest: '0'.repeat(64), instruments: 0 } });
      assert.equal(entry.seq, head.seq + 1);
      assert.equal(entry.prev, head.hash);
      assert.equal((await verifyChain(store.audit)).ok, true);
    } finally {
      await store.close();
    }
  });

  it('a value quarantined for failing authentication is recorded as an integrity entry', async () => {
    let store = await kit.open();
    const id = await store.commitInbound(input('an-7', 400));
    await store.close();
    const key = id.replace('-', '!');
    await kit.raw(async (db) => {
      const v = (await db.get(key)) as Buffer;
      v[v.length - 1] = (v[v.length - 1] as number) ^ 1;
      await db.put(key, v);
    });
    store = await kit.open();
    try {
      await store.listInbound(1000);
      const last = (await all(store)).at(-1);
      assert.equal(last?.kind, 'integrity');
      assert.equal(last?.body.recordId, id);
      assert.equal((await verifyChain(store.audit)).ok, true);
    } finally {
      await store.close();
    }
  });

  it('archived payloads and entries are sealed: no plaintext on disk', async () => {
    const marker = `AUDIT-PLAINTEXT-${randomBytes(6).toString('hex')}`;
    let store = await kit.open();
    await store.commitInbound({ sourceId: 'an-8', raw: Buffer.from(marker.repeat(20)), receivedAt: 1 });
    await store.close();
    store = await kit.open(); // compacts the write-ahead log into a table
    await store.close();
    const found = await kit.raw(async (db) => {
      for await (const [key, value] of db.iterator()) if (value.includes(marker) || key.includes(marker)) return key;
      return undefined;
    });
    assert.equal(found, undefined);
  });
});
