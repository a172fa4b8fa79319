/**
 * Durable commits per second: 1, 10 and 100 concurrent instruments, each committing 1 KB
 * messages one after another (an instrument waits for its ACK), through
 *   (a) QueueStore.commitInbound with group commit (default: no timer, what arrives while a
 *       batch syncs rides in the next one; `--window MS` adds a timer): the real path,
 *       audit entry, payload archive, sequence mark and encryption included;
 *   (b) "group commit off": the same sealed values a commit writes, each caller its own
 *       synced `db.batch` (LevelDB still merges writers that queue at the same instant);
 * and, as the peer in the same run, plain `level` batches of 100 × 1 KB puts with sync:true
 * from one writer: the rate the disk gives durable writes when they are batched perfectly.
 * A second peer writes, per record, the same puts a commit writes (the inbound record, the
 * archived payload holding the raw bytes, the audit entry), so the overhead of the work itself
 * shows apart from the overhead of doing more of it. The records are random bytes, which do not
 * compress: instrument text, which the archive compresses, would favour labedge.
 *
 * Headline: group commit at 100 instruments as a share of the raw synced-batch rate
 * (target ≥ 0.8). `npm run bench -- store-commit [--seconds S] [--rounds R]`.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Level } from 'level';
import { QueueStore } from '../../gateway/store/queue-store.js';
import { seal } from '../../gateway/store/crypto.js';
import { writeSyncedBatch } from '../../gateway/store/store-db.js';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '2' }, rounds: { type: 'string', default: '3' }, window: { type: 'string' } } });
/** The group-commit window to measure (default: the store's own default). */
const WINDOW = values.window === undefined ? undefined : Number(values.window);
const SECONDS = Number(values.seconds);
const ROUNDS = Number(values.rounds);
const CONCURRENCY = [1, 10, 100];
const RECORD = 1024;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

const root = await mkdtemp(join(tmpdir(), 'labedge-bench-commit-'));
let dirNo = 0;
const freshDir = (): string => join(root, `d${dirNo++}`);

/** Runs `callers` loops of `one()` for SECONDS; returns completed operations per second. */
async function rate(callers: number, one: () => Promise<number>): Promise<number> {
  const end = performance.now() + SECONDS * 1000;
  let done = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: callers }, async () => {
      while (performance.now() < end) {
        const n = await one(); // not `done += await one()`: that reads `done` before the await
        done += n;
      }
    }),
  );
  return done / ((performance.now() - t0) / 1000);
}

async function groupCommit(callers: number): Promise<number> {
  const dataDir = freshDir();
  const store = await QueueStore.open({ dataDir, keyFile: join(root, 'keys', `k${dirNo}`), limits: { minFreeDiskBytes: 0 }, groupCommitWindowMs: WINDOW });
  const raw = randomBytes(RECORD);
  try {
    return await rate(callers, async () => {
      await store.commitInbound({ sourceId: 'bench', raw, receivedAt: Date.now() });
      return 1;
    });
  } finally {
    await store.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

/** Group commit off: each commit its own synced batch with the same sealed values, callers independent (LevelDB still merges writers that queue together). */
async function noGroupCommit(callers: number, shape: number[]): Promise<number> {
  const dir = freshDir();
  const db = new Level<string, Buffer>(dir, { valueEncoding: 'buffer' });
  await db.open();
  const key32 = randomBytes(32);
  const plain = shape.map((n) => randomBytes(Math.max(0, n - 33)));
  let seq = 0;
  try {
    return await rate(callers, async () => {
      const n = ++seq;
      const ops = plain.map((p, i) => {
        const key = `${'iarh'[i] ?? 'x'}!${n.toString(16).padStart(16, '0')}`;
        return { type: 'put' as const, key, value: seal(key32, 1, p, Buffer.from(key)) };
      });
      ops.push({ type: 'put', key: 'm!seq', value: seal(key32, 1, Buffer.from(String(n)), Buffer.from('m!seq')) });
      await writeSyncedBatch(db, ops); // the store's own synced writer
      return 1;
    });
  } finally {
    await db.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** What one commitInbound writes: value sizes of its puts (sealed record, audit entry, archived payload …). */
async function commitShape(): Promise<number[]> {
  const dataDir = freshDir();
  const store = await QueueStore.open({ dataDir, keyFile: join(root, 'keys', `k${dirNo}`), limits: { minFreeDiskBytes: 0 } });
  // The store writes through a chained batch (store-db.ts writeSyncedBatch): record its puts.
  interface Chain {
    put(key: string, value: Buffer): Chain;
  }
  const db = (store as unknown as { db: { batch: (...args: unknown[]) => unknown } }).db;
  const real = db.batch.bind(db);
  let sizes: number[] = [];
  db.batch = (...args: unknown[]) => {
    const chain = real(...args) as Chain;
    if (args.length > 0) return chain;
    sizes = [];
    const put = chain.put.bind(chain);
    chain.put = (key, value) => {
      sizes.push(value.length);
      return put(key, value);
    };
    return chain;
  };
  await store.commitInbound({ sourceId: 'bench', raw: randomBytes(RECORD), receivedAt: Date.now() });
  await store.close();
  await rm(dataDir, { recursive: true, force: true });
  return sizes.slice(0, -1); // the last put is the batch's sequence mark, shared by the whole group
}

/** One writer, batches of 100 records; a record is `shape` puts of those sizes (default: one 1 KB put). */
async function rawSyncedBatches(shape: number[] = [RECORD]): Promise<number> {
  const dir = freshDir();
  const db = new Level<string, Buffer>(dir, { valueEncoding: 'buffer' });
  await db.open();
  const values = shape.map((n) => randomBytes(n));
  let seq = 0;
  try {
    return await rate(1, async () => {
      const ops = Array.from({ length: 100 }, () => values.map((value) => ({ type: 'put' as const, key: `i!${(++seq).toString(16).padStart(16, '0')}`, value }))).flat();
      await db.batch(ops, { sync: true });
      return 100;
    });
  } finally {
    await db.close();
    await rm(dir, { recursive: true, force: true });
  }
}

const results = new Map<string, number[]>();
const record = (name: string, v: number): void => void results.set(name, [...(results.get(name) ?? []), v]);
const shape = await commitShape();
try {
  await groupCommit(10); // warm-up
  for (let round = 0; round < ROUNDS; round++) {
    // Alternate the order so drift in the disk's state does not favour one side.
    const order = round % 2 === 0 ? ['peer', 'on', 'off'] : ['off', 'on', 'peer'];
    for (const what of order) {
      if (what === 'peer') {
        record('raw level batch(100) sync', await rawSyncedBatches());
        record('raw, same bytes as a commit', await rawSyncedBatches(shape));
      }
      for (const c of CONCURRENCY) {
        if (what === 'on') record(`group commit on, ${c} instruments`, await groupCommit(c));
        if (what === 'off') record(`group commit off, ${c} instruments`, await noGroupCommit(c, shape));
      }
    }
  }
} finally {
  await rm(root, { recursive: true, force: true });
}

console.log(`durable commits/s, 1 KB records, median of ${ROUNDS} × ${SECONDS} s (min–max)`);
for (const [name, xs] of results) console.log(`  ${name.padEnd(36)} ${Math.round(median(xs)).toString().padStart(8)}  (${Math.round(Math.min(...xs))}–${Math.round(Math.max(...xs))})`);
const peer = median(results.get('raw level batch(100) sync') ?? []);
const on100 = median(results.get('group commit on, 100 instruments') ?? []);
const off100 = median(results.get('group commit off, 100 instruments') ?? []);
const sameBytes = median(results.get('raw, same bytes as a commit') ?? []);
console.log(`  a commit writes ${shape.length} values (${shape.join(' + ')} bytes: inbound record, archived payload, audit entry, audit head) besides the shared mark`);
console.log(`  group commit on / off at 100 instruments: ${(on100 / off100).toFixed(2)}×`);
console.log(`  group commit at 100 instruments vs raw batches of the same bytes: ${(on100 / sameBytes).toFixed(2)}`);
console.log(JSON.stringify({ bench: 'store', metric: 'group_commit_vs_raw_sync_batch', value: Number((on100 / peer).toFixed(3)), target: 0.8 }));
