/**
 * Memory while holding a large backlog (default 1,000,000 records of 1 KB): the store must
 * stream, never load everything. RSS is sampled every 100 ms while the backlog is committed,
 * while the store is reopened (the open reads every key once), and while it works on the
 * backlog (lists the oldest inbound, moves 20,000 to outbound, walks the per-source heads,
 * delivers them). Peer in the same run: the RSS of this process before the store was opened.
 *
 * Headline: peak anonymous RSS from the reopen on, in MB (target < 150, lower is better); the
 * file-backed part (LevelDB maps its table files into memory; the kernel reclaims those pages
 * at will) and the total are printed beside it.
 * `npm run bench -- store-rss [--records N]`
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { QueueStore } from '../../gateway/store/queue-store.js';

const { values } = parseArgs({ options: { records: { type: 'string', default: '1000000' }, sources: { type: 'string', default: '20' } } });
const N = Number(values.records);
const SOURCES = Number(values.sources);
const MB = 1024 * 1024;
const root = await mkdtemp(join(tmpdir(), 'labedge-bench-rss-'));
const open = (): Promise<QueueStore> => QueueStore.open({ dataDir: join(root, 'data'), keyFile: join(root, 'keys', 'kek'), limits: { minFreeDiskBytes: 0, maxRecords: N + 1, maxBytes: 64 * 1024 * MB } });
const gc = (globalThis as { gc?: () => void }).gc;

/**
 * Resident memory split as Linux reports it: RssAnon is memory the process owns (heap, native
 * allocations, LevelDB's memtable and block cache); RssFile is file pages mapped in, here
 * LevelDB's memory-mapped table files, which the kernel drops whenever it needs the room.
 */
function resident(): { total: number; anon: number; file: number } {
  const status = readFileSync('/proc/self/status', 'utf8');
  const kb = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
  return { total: kb('VmRSS'), anon: kb('RssAnon'), file: kb('RssFile') + kb('RssShmem') };
}
interface Peak {
  total: number;
  anon: number;
  file: number;
}
let peak: Peak = { total: 0, anon: 0, file: 0 };
const sample = (): void => {
  const r = resident();
  peak = { total: Math.max(peak.total, r.total), anon: Math.max(peak.anon, r.anon), file: Math.max(peak.file, r.file) };
};
const sampler = setInterval(sample, 100);
const phase = async (fn: () => Promise<void>): Promise<Peak> => {
  gc?.();
  peak = { total: 0, anon: 0, file: 0 };
  sample();
  await fn();
  sample();
  return { total: peak.total / MB, anon: peak.anon / MB, file: peak.file / MB };
};
const show = (p: Peak): string => `${p.anon.toFixed(0).padStart(6)} ${p.file.toFixed(0).padStart(6)} ${p.total.toFixed(0).padStart(6)}`;

try {
  const baseline = await phase(async () => undefined);
  let store = await open();
  const raw = randomBytes(1024);
  const t0 = performance.now();
  const fillPeak = await phase(async () => {
    let next = 0;
    await Promise.all(Array.from({ length: 500 }, async () => {
      while (next < N) {
        const i = next++;
        await store.commitInbound({ sourceId: `analyzer-${i % SOURCES}`, raw, receivedAt: i });
        if (i % 100_000 === 0 && i > 0) process.stderr.write(`  committed ${i} (${Math.round(i / ((performance.now() - t0) / 1000))}/s, rss ${Math.round(process.memoryUsage().rss / MB)} MB)\n`);
      }
    }));
  });
  await store.close();

  let reopenMs = 0;
  const reopenPeak = await phase(async () => {
    const t = performance.now();
    store = await open();
    reopenMs = performance.now() - t;
  });
  const stats = await store.stats();
  const workPeak = await phase(async () => {
    await store.listInbound(1000);
    for (let moved = 0; moved < 20_000; ) {
      const batch = await store.listInbound(500);
      if (batch.length === 0) break;
      await Promise.all(batch.map((r) => store.transformed(r.id, { sourceId: r.sourceId, bundle: { resourceType: 'Bundle', n: r.id } })));
      moved += batch.length;
    }
    for (let heads = await store.outboundHeads(); heads.length > 0; heads = await store.outboundHeads()) await Promise.all(heads.map((h) => store.delivered(h.id)));
  });
  await store.close();

  const held = Math.max(reopenPeak.anon, workPeak.anon);
  console.log(`resident memory in MB, backlog of ${stats.inbound + stats.outbound} records (${N} committed)`);
  console.log(`                                       anon   file  total (file: mmapped LevelDB tables, reclaimable)`);
  console.log(`  before the store (peer)            ${show(baseline)}`);
  console.log(`  peak while committing              ${show(fillPeak)}`);
  console.log(`  peak while reopening               ${show(reopenPeak)}   (open took ${(reopenMs / 1000).toFixed(1)} s)`);
  console.log(`  peak while working on the backlog  ${show(workPeak)}`);
  console.log(`  headline: peak anonymous RSS holding the backlog (reopen + work); total RSS peaked at ${Math.max(reopenPeak.total, workPeak.total).toFixed(0)} MB`);
  console.log(JSON.stringify({ bench: 'store', metric: 'rss_mb_at_1m_backlog', value: Math.round(held), target: 150, records: stats.inbound + stats.outbound }));
} finally {
  clearInterval(sampler);
  await rm(root, { recursive: true, force: true });
}
