import { spawn } from 'node:child_process';
import { link, mkdir, mkdtemp, readFile, rename, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';

/**
 * LevelDB work that may abort the process runs in a child. LevelDB's table builder asserts
 * that keys arrive in order; a flipped bit in a stored key can break that, and then a repair
 * (or a compaction of the damaged table) kills the process with SIGABRT. In a child, that is
 * a failed attempt the daemon can report, not a crash loop.
 */
const CHILD = `
const [levelEntry, dir, mode, compact] = process.argv.slice(1);
// Dies with its parent (the pipe closes): it must never work on the store outside the parent's guard.
process.stdin.on('end', () => process.exit(70));
process.stdin.on('data', () => undefined);
const { Level } = await import(levelEntry);
if (mode === 'probe') {
  // dir holds only a hard link to the store's LOCK file: LevelDB locks it first thing.
  const db = new Level(dir);
  try {
    await db.open();
  } catch (e) {
    process.exit(e.cause?.code === 'LEVEL_LOCKED' ? 4 : 0);
  }
  process.exit(0);
} else if (mode === 'repair') {
  await Level.repair(dir);
} else {
  const db = new Level(dir, { keyEncoding: 'binary', valueEncoding: 'binary' });
  try {
    await db.open();
  } catch (e) {
    if (e.cause?.code === 'LEVEL_LOCKED') process.exit(4); // held by a running writer: nothing to verify here
    throw e;
  }
  let prev;
  for await (const key of db.keys()) {
    if (prev !== undefined && Buffer.compare(prev, key) >= 0) { process.stdout.write('out-of-order'); process.exit(3); }
    prev = key;
  }
  // A full compaction rewrites every table: if one would abort LevelDB, it aborts here, in the child.
  if (compact === 'compact') await db.compactRange(Buffer.alloc(0), Buffer.alloc(1, 0xff));
  await db.close();
}
process.exit(0); // stdin, watched above, would keep it alive
`;

export type ChildOutcome = { ok: true } | { ok: false; reason: string };

function levelEntry(): string {
  return pathToFileURL(createRequire(import.meta.url).resolve('level')).href;
}

function runChild(dir: string, mode: 'repair' | 'verify' | 'probe', timeoutMs: number, compact = false): Promise<ChildOutcome> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD, '--', levelEntry(), dir, mode, compact ? 'compact' : 'scan'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      resolve({ ok: false, reason: e.name });
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0 || (mode === 'verify' && code === 4)) resolve({ ok: true });
      else if (mode === 'probe' && code === 4) resolve({ ok: false, reason: 'locked' });
      else if (signal) resolve({ ok: false, reason: `LevelDB aborted (${signal})` });
      else resolve({ ok: false, reason: /out-of-order/.test(out) ? 'keys out of order' : /Corruption/.test(out) ? 'corruption' : `exit ${code}` });
    });
  });
}

/**
 * Opens the store, reads every key and compacts it fully, in a child: whether this process
 * can open it without risk. Used only after a previous open died and after a repair (a full
 * compaction of a large store takes a while).
 */
export function verifyInChild(dir: string, opts: { compact: boolean; timeoutMs?: number }): Promise<ChildOutcome> {
  return runChild(dir, 'verify', opts.timeoutMs ?? 600_000, opts.compact);
}

/**
 * Whether a process holds the store's LevelDB lock (an fcntl lock on `LOCK`, the real
 * single-writer guard; the lease file only names the holder and may be stale or missing).
 * Nothing of the store is opened: a child opens an empty LevelDB beside it whose LOCK is a
 * hard link to the store's (the same inode, so the same lock). Needed before anything moves
 * the store's directory (repair), which must never happen under a running writer.
 */
export async function heldByAnotherProcess(dbDir: string): Promise<boolean> {
  // Its own directory: probes never remove each other's (the store guard serialises opens, but a probe must not depend on it).
  const probe = await mkdtemp(join(dirname(dbDir), '.lock-probe-'));
  try {
    const linked = await link(join(dbDir, 'LOCK'), join(probe, 'LOCK')).then(
      () => true,
      () => false, // no LOCK file: nobody has opened it
    );
    if (!linked) return false;
    const outcome = await runChild(probe, 'probe', 60_000);
    return !outcome.ok && outcome.reason === 'locked';
  } finally {
    await rm(probe, { recursive: true, force: true });
  }
}

/**
 * LevelDB RepairDB in a child. When it aborts on a table it cannot copy, that table (named
 * in LevelDB's LOG) is moved to `lost/`, as RepairDB does with tables it cannot read, and the
 * repair runs again. Returns the tables set aside.
 */
export async function repairInChild(dir: string, attempts = 6, timeoutMs = 300_000): Promise<{ outcome: ChildOutcome; setAside: string[] }> {
  const setAside: string[] = [];
  let outcome: ChildOutcome = { ok: false, reason: 'not run' };
  for (let i = 0; i < attempts; i++) {
    outcome = await runChild(dir, 'repair', timeoutMs);
    if (outcome.ok) break;
    const log = await readFile(join(dir, 'LOG'), 'utf8').catch(() => '');
    const bad = [...log.matchAll(/Table #(\d+): .*(Corruption|IO error)/g)].map((m) => `${String(m[1]).padStart(6, '0')}.ldb`);
    const next = bad.find((name) => !setAside.includes(name));
    if (!next) break;
    await mkdir(join(dir, 'lost'), { recursive: true });
    const moved = await rename(join(dir, next), join(dir, 'lost', next)).then(
      () => true,
      () => false,
    );
    if (!moved) break;
    setAside.push(next);
  }
  return { outcome, setAside };
}
