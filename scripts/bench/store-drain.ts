/**
 * Draining a backlog: N records (default 100,000) from S instruments (default 10) committed
 * while the uplink is down, then moved inbound → outbound (transform, with a 2 KB bundle) and
 * delivered (deleted in per-source FIFO order, one in flight per source, read ahead 16 per
 * source as the delivery worker does; the network is left out: this is the store's side of the drain).
 * Peer in the same run: plain `level`, one synced single-key delete per record, S deleters.
 *
 * `npm run bench -- store-drain [--records N] [--sources S]`
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Level } from 'level';
import { QueueStore } from '../../gateway/store/queue-store.js';

const { values } = parseArgs({ options: { records: { type: 'string', default: '100000' }, sources: { type: 'string', default: '10' } } });
const N = Number(values.records);
const SOURCES = Number(values.sources);
/** The delivery worker's read-ahead per source (OutboundReader's default). */
const READ_AHEAD = 16;
const root = await mkdtemp(join(tmpdir(), 'labedge-bench-drain-'));
const raw = randomBytes(1024);
const bundle = { resourceType: 'Bundle', type: 'transaction', entry: Array.from({ length: 6 }, (_, i) => ({ fullUrl: `urn:uuid:${i}`, resource: { resourceType: 'Observation', status: 'final', code: { text: 'x'.repeat(200) }, valueQuantity: { value: i } } })) };
const perSecond = (n: number, t0: number): number => Math.round(n / ((performance.now() - t0) / 1000));

async function inParallel<T>(items: T[], width: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, async () => {
    while (next < items.length) await fn(items[next++] as T);
  }));
}

try {
  const store = await QueueStore.open({ dataDir: join(root, 'data'), keyFile: join(root, 'keys', 'kek'), limits: { minFreeDiskBytes: 0, maxRecords: N + 1 } });
  let t0 = performance.now();
  await inParallel(Array.from({ length: N }, (_, i) => i), 200, (i) => store.commitInbound({ sourceId: `analyzer-${i % SOURCES}`, raw, receivedAt: i }));
  const fill = perSecond(N, t0);

  t0 = performance.now();
  for (let batch = await store.listInbound(256); batch.length > 0; batch = await store.listInbound(256)) {
    await Promise.all(batch.map((r) => store.transformed(r.id, { sourceId: r.sourceId, bundle })));
  }
  const transform = perSecond(N, t0);

  // As the delivery worker reads (gateway/daemon/outbound-reader.ts): up to READ_AHEAD records
  // per source from one scan, then each source's records one at a time, sources in parallel.
  t0 = performance.now();
  let delivered = 0;
  for (let heads = await store.outboundHeads(READ_AHEAD); heads.length > 0; heads = await store.outboundHeads(READ_AHEAD)) {
    const bySource = new Map<string, typeof heads>();
    for (const h of heads) bySource.set(h.sourceId, [...(bySource.get(h.sourceId) ?? []), h]);
    await Promise.all([...bySource.values()].map(async (records) => {
      for (const r of records) await store.delivered(r.id);
    }));
    delivered += heads.length;
  }
  const drain = perSecond(delivered, t0);
  await store.close();

  const db = new Level<string, Buffer>(join(root, 'peer'), { valueEncoding: 'buffer' });
  await db.open();
  const keys = Array.from({ length: N }, (_, i) => `o!${(i % SOURCES).toString(16).padStart(8, '0')}!${i.toString(16).padStart(16, '0')}`);
  for (let i = 0; i < N; i += 1000) await db.batch(keys.slice(i, i + 1000).map((key) => ({ type: 'put' as const, key, value: raw })));
  t0 = performance.now();
  await inParallel(keys, SOURCES, (key) => db.del(key, { sync: true }));
  const peer = perSecond(N, t0);
  await db.close();

  console.log(`backlog of ${N} records from ${SOURCES} instruments (records/s)`);
  console.log(`  commit (200 in flight)                 ${fill}`);
  console.log(`  transform: inbound → outbound          ${transform}`);
  console.log(`  deliver: per-source FIFO, ${SOURCES} in flight   ${drain}`);
  console.log(`  peer: level synced deletes, ${SOURCES} in flight ${peer}`);
  console.log(`  whole drain (transform + deliver)      ${Math.round(1 / (1 / transform + 1 / drain))}`);
  console.log(JSON.stringify({ bench: 'store', metric: 'drain_records_per_s', value: Math.round(1 / (1 / transform + 1 / drain)), peer_deletes_per_s: peer }));
} finally {
  await rm(root, { recursive: true, force: true });
}
