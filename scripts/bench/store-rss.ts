/**
 * Memory while holding a large backlog (default 1,000,000 records of 1 KB): the store must
 * stream, never load everything. RSS is sampled every 100 ms while the backlog is committed
 * (this process, 500 commits in flight), then in a fresh process, as a daemon restarting on
 * the backlog: while the store is reopened (the open reads every key once) and while it works
 * on the backlog as the daemon does (lists the oldest inbound, moves 20,000 to outbound 32 at a
 * time, delivers them per source with a read-ahead of 16). Peer in the same run: the RSS of
 * each process before the store was opened.
 *
 * Headline: peak anonymous RSS holding the backlog (reopen + work), in MB (target < 150, lower
 * is better); the file-backed part (LevelDB maps its open table files into memory, at most 64
 * of them; the kernel reclaims those pages at will) and the total are printed beside it.
 * `npm run bench -- store-rss [--records N]`
 */
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { QueueStore } from '../../gateway/store/queue-store.js';

const { values } = parseArgs({
  options: {
    records: { type: 'string', default: '1000000' },
    sources: { type: 'string', default: '20' },
    /** Internal: the holding phases, in a child process, on the store under this directory. */
    'hold-in': { type: 'string' },
  },
});
const N = Number(values.records);
const SOURCES = Number(values.sources);
const MB = 1024 * 1024;
const root = values['hold-in'] ?? (await mkdtemp(join(tmpdir(), 'labedge-bench-rss-')));
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
/** Where the anonymous memory is: V8's heap, Buffers outside it, and (the rest) native memory such as LevelDB's. */
let heapPeak = { heapTotal: 0, external: 0 };
const sampleHeap = (): void => {
  const m = process.memoryUsage();
  heapPeak = { heapTotal: Math.max(heapPeak.heapTotal, m.heapTotal), external: Math.max(heapPeak.external, m.external) };
};
const sampler = setInterval(() => {
  sample();
  sampleHeap();
}, 100);
const phase = async (fn: () => Promise<void>): Promise<Peak> => {
  gc?.();
  peak = { total: 0, anon: 0, file: 0 };
  sample();
  await fn();
  sample();
  return { total: peak.total / MB, anon: peak.anon / MB, file: peak.file / MB };
};
const show = (p: Peak): string => `${p.anon.toFixed(0).padStart(6)} ${p.file.toFixed(0).padStart(6)} ${p.total.toFixed(0).padStart(6)}`;

interface HoldReport {
  baseline: Peak;
  reopen: Peak;
  work: Peak;
  reopenMs: number;
  records: number;
  heapMb: number;
  externalMb: number;
}

/** In a fresh process, as a daemon restarting on the backlog: reopen it, then work on it. */
async function hold(): Promise<HoldReport> {
  const baseline = await phase(async () => undefined);
  let store: QueueStore | undefined;
  let reopenMs = 0;
  const reopen = await phase(async () => {
    const t = performance.now();
    store = await open();
    reopenMs = performance.now() - t;
  });
  if (!store) throw new Error('the store did not open');
  const s: QueueStore = store;
  const stats = await s.stats();
  heapPeak = { heapTotal: 0, external: 0 };
  // The daemon's working pattern: the transform worker takes 32 inbound records at a time,
  // one after another; the delivery worker reads ahead 16 per source, one in flight per source.
  const work = await phase(async () => {
    await s.listInbound(1000); // what `labedge queue list` shows
    for (let moved = 0; moved < 20_000; ) {
      const batch = await s.listInbound(32);
      if (batch.length === 0) break;
      for (const r of batch) await s.transformed(r.id, { sourceId: r.sourceId, bundle: { resourceType: 'Bundle', n: r.id } });
      moved += batch.length;
    }
    for (let heads = await s.outboundHeads(16); heads.length > 0; heads = await s.outboundHeads(16)) {
      const bySource = new Map<string, typeof heads>();
      for (const h of heads) bySource.set(h.sourceId, [...(bySource.get(h.sourceId) ?? []), h]);
      await Promise.all([...bySource.values()].map(async (records) => {
        for (const r of records) await s.delivered(r.id);
      }));
    }
  });
  await s.close();
  return { baseline, reopen, work, reopenMs, records: stats.inbound + stats.outbound, heapMb: heapPeak.heapTotal / MB, externalMb: heapPeak.external / MB };
}

try {
  if (values['hold-in'] !== undefined) {
    process.stdout.write(`${JSON.stringify(await hold())}\n`);
  } else {
    const baseline = await phase(async () => undefined);
    const store = await open();
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
    const child = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--records', String(N), '--hold-in', root], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    const line = child.stdout.split('\n').find((l) => l.startsWith('{'));
    if (child.status !== 0 || !line) throw new Error(`the holding process failed (exit ${child.status})`);
    const h = JSON.parse(line) as HoldReport;

    const held = Math.max(h.reopen.anon, h.work.anon);
    console.log(`resident memory in MB, backlog of ${h.records} records (${N} committed)`);
    console.log(`                                       anon   file  total (file: mmapped LevelDB tables, reclaimable)`);
    console.log(`  before the store (peer)            ${show(baseline)}`);
    console.log(`  peak while committing              ${show(fillPeak)}   (this process, 500 commits in flight)`);
    console.log(`  a fresh process, before the store  ${show(h.baseline)}`);
    console.log(`  peak while reopening               ${show(h.reopen)}   (open took ${(h.reopenMs / 1000).toFixed(1)} s)`);
    console.log(`  peak while working on the backlog  ${show(h.work)}`);
    console.log(`  while working: V8 heap peaked at ${h.heapMb.toFixed(0)} MB, Buffers outside it at ${h.externalMb.toFixed(0)} MB`);
    console.log(`  headline: peak anonymous RSS holding the backlog (reopen + work, fresh process); total RSS peaked at ${Math.max(h.reopen.total, h.work.total).toFixed(0)} MB`);
    console.log(JSON.stringify({ bench: 'store', metric: 'rss_mb_at_1m_backlog', value: Math.round(held), target: 150, records: h.records, total_rss_mb: Math.round(Math.max(h.reopen.total, h.work.total)) }));
  }
} finally {
  clearInterval(sampler);
  if (values['hold-in'] === undefined) await rm(root, { recursive: true, force: true });
}
