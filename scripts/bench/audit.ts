/**
 * Audit trail costs.
 *
 * 1. Append cost per message: what the audit adds to one message's trip through the store
 *    (ingest + transform + deliver entries, the archived raw payload, the head mark: built,
 *    hashed and sealed), measured by pushing the same placeholders through the audit's batch
 *    writer with a no-op disk write. The peer, measured in the same run: the whole store
 *    pipeline for one message (commitInbound → transformed → delivered, three synced batches).
 *    Headline: the audit's share of the pipeline (target ≤ 0.10).
 * 2. Verify speed: `audit verify` over a chain of N entries (streamed, decrypted, hashed,
 *    linked), entries/s; peer: a raw LevelDB scan of the same keys and values.
 *
 * `npm run bench -- audit [N]` (N entries for verify, default 100000).
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { auditStoreKit, fillChain } from '../../test/harness/audit-kit.js';
import { verifyChain } from '../../gateway/audit/verify.js';
import { messageDigest } from '../../gateway/audit/message-digest.js';
import { transformDraft, deliverDraft } from '../../gateway/audit/audit-drafts.js';
import type { WriteOp } from '../../gateway/store/group-commit.js';
import type { Level } from 'level';

const N = Number(process.argv[2] ?? 100_000);
const MESSAGES = 300;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

const raw = await readFile(fileURLToPath(new URL('../../test/fixtures/astm/senaite-roche-cobas-c311.astm', import.meta.url)));
const bundle = { resourceType: 'Bundle', type: 'transaction', entry: Array.from({ length: 9 }, (_, i) => ({ fullUrl: `urn:uuid:${i}`, resource: { resourceType: 'Observation', status: 'final', valueQuantity: { value: i } } })) };
const response = { resourceType: 'Bundle', type: 'transaction-response', entry: bundle.entry.map((_, i) => ({ response: { status: '201 Created', location: `Observation/${i}/_history/1`, etag: 'W/"1"' } })) };

// ---- 1. append cost per message vs the store pipeline -------------------------------------
const kit = await auditStoreKit('labedge-bench-audit-');
let store = await kit.open();
const pipelineRounds: number[] = [];
for (let round = 0; round < 3; round++) {
  const t0 = performance.now();
  for (let i = 0; i < MESSAGES / 3; i++) {
    const id = await store.commitInbound({ sourceId: 'bench-1', raw, receivedAt: Date.now(), meta: { frames: 3, complete: true } });
    const out = await store.transformed(id, { sourceId: 'bench-1', bundle }, { digest: messageDigest(raw), warnings: [], unmapped: ['P.6'] });
    await store.delivered(out, { sourceId: 'bench-1', status: 200, response });
  }
  pipelineRounds.push(((performance.now() - t0) * 1000) / (MESSAGES / 3));
}
const pipelineUs = median(pipelineRounds);

// The audit's own work for one message, without the disk: the same ops through writeBatch.
const noWrite = async (_ops: WriteOp[]): Promise<void> => undefined;
const auditRounds: number[] = [];
for (let round = 0; round < 5; round++) {
  const t0 = performance.now();
  for (let i = 0; i < MESSAGES; i++) {
    const key = `i!${(1_000_000 + i).toString(16).padStart(16, '0')}`;
    const ingest = store.audit.ingestOps(key, key.replace('!', '-'), { sourceId: 'bench-1', raw, receivedAt: Date.now(), meta: { frames: 3, complete: true } });
    await store.audit.writeBatch(ingest, noWrite);
    await store.audit.writeBatch([store.audit.op(transformDraft({ inboundId: 'i-x', outboundId: 'o-x', sourceId: 'bench-1', bundle, details: { digest: messageDigest(raw), unmapped: ['P.6'] } }))], noWrite);
    await store.audit.writeBatch([store.audit.op(deliverDraft({ outboundId: 'o-x', details: { status: 200, response }, server: 'https://fhir.example/R4' }))], noWrite);
  }
  auditRounds.push(((performance.now() - t0) * 1000) / MESSAGES);
}
const auditUs = median(auditRounds);
await store.close(); // the no-op writes advanced the in-memory head only: reopen from disk
await kit.cleanup();

// ---- 2. verify speed vs a raw scan --------------------------------------------------------
store = await kit.open();
const tFill = performance.now();
await fillChain(store, N, 5000);
const fillS = (performance.now() - tFill) / 1000;
const db = (store as unknown as { db: Level<string, Buffer> }).db;
const scanRates: number[] = [];
const verifyRates: number[] = [];
let ok = true;
for (let round = 0; round < 3; round++) {
  let t0 = performance.now();
  let n = 0;
  let bytes = 0;
  for await (const [, value] of db.iterator({ gte: 'a!', lt: 'a"' })) {
    n += 1;
    bytes += value.length;
  }
  scanRates.push(n / ((performance.now() - t0) / 1000));
  t0 = performance.now();
  const report = await verifyChain(store.audit);
  verifyRates.push(report.entries / ((performance.now() - t0) / 1000));
  ok &&= report.ok && report.entries === N && bytes > 0;
}
await store.close();
await kit.cleanup();
const verifyRate = median(verifyRates);
const scanRate = median(scanRates);

console.log(`audit append, per message (3 entries + archived payload of ${raw.length} bytes + head marks):`);
console.log(`  audit work (build, hash, seal)     ${auditUs.toFixed(1)} µs`);
console.log(`  store pipeline (3 synced batches)  ${pipelineUs.toFixed(1)} µs   (the peer)`);
console.log(`  audit share of the pipeline        ${(auditUs / pipelineUs).toFixed(3)}`);
console.log(`audit verify over ${N.toLocaleString('en')} entries (filled in ${fillS.toFixed(1)} s through the API): ${ok ? 'OK' : 'FAILED'}`);
console.log(`  verify                             ${Math.round(verifyRate).toLocaleString('en')} entries/s  (${(N / verifyRate).toFixed(2)} s)`);
console.log(`  raw LevelDB scan of the same       ${Math.round(scanRate).toLocaleString('en')} entries/s   (the peer)`);
console.log(`  verify / raw scan                  ${(verifyRate / scanRate).toFixed(3)}`);
console.log(JSON.stringify({ bench: 'audit', metric: 'append_us_per_message', value: Number(auditUs.toFixed(1)), target: 300 }));
console.log(JSON.stringify({ bench: 'audit', metric: 'append_share_of_store_pipeline', value: Number((auditUs / pipelineUs).toFixed(3)), target: 0.1 }));
console.log(JSON.stringify({ bench: 'audit', metric: 'verify_entries_per_s', value: Math.round(verifyRate), target: 20000 }));
console.log(JSON.stringify({ bench: 'audit', metric: 'verify_vs_raw_scan', value: Number((verifyRate / scanRate).toFixed(3)), target: 0.1 }));
if (!ok) process.exitCode = 1;
