import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';
import { cp, link, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { LabedgeError } from '../core/errors.js';
import { readWitness } from './commit-witness.js';
import { KNOWN_PREFIXES } from './record-keys.js';
import type { StoreAlarm } from './queue-types.js';
import {
  classifyOpenFailure,
  ensureDbDir,
  failureReason,
  fsFailure,
  hasDataFiles,
  isHeadless,
  newLevel,
  openLevel,
  type StoreDb,
} from './store-db.js';
import { heldByAnotherProcess, repairInChild, verifyInChild } from './store-repair.js';
import { describeLease, leaseHolderRunning, readLease, StoreLease } from './store-lease.js';
import { StoreGuard } from './store-guard.js';
import { checkTables, intactTables, tableFiles, type TableDamage } from './table-check.js';
import { salvageTable } from './table-salvage.js';

/**
 * Opening the store's files, with integrity on open:
 * - the LevelDB lock is the single-writer guarantee; the lease file names the holder, and a
 *   caller may wait for a hand-over (`leaseWaitMs`) instead of crash-looping;
 * - every key is read once (which reads every table block): LevelDB corruption shows up
 *   here, not later in the middle of a delivery;
 * - a store that fails to open because it is damaged is never recreated empty: the damaged
 *   directory is kept under `dataDir/damaged/`, a copy is repaired (LevelDB RepairDB), and
 *   an alarm is raised; if the repair recovers nothing, the open is refused;
 * - write-ahead log bytes that LevelDB drops during recovery (a flipped bit) raise an alarm,
 *   and the damaged log is kept (it was hard-linked aside before the open);
 * - an empty store where the commit witness says records were committed is refused;
 * - every table block's checksum is checked before LevelDB opens the store (table-check.ts):
 *   LevelDB itself would read a flipped bit as data, and its compactions would launder it. A
 *   damaged table goes through repair, rewritten first without what cannot be trusted
 *   (table-salvage.ts).
 */
export const DB_DIR = 'store';
export const WITNESS_FILE = 'commit-mark';
/** How far the audit trail reached (commit-witness.ts): a trail that reopens shorter lost its last entries. */
export const AUDIT_WITNESS_FILE = 'audit-mark';
export const DAMAGED_DIR = 'damaged';
/** Written when a read met damage while the store was open (StoreRuntime.noteFailure): the next open repairs. */
export const DAMAGE_FOUND_FILE = 'damage-found';
const LOG_LINKS_DIR = '.open-logs';
/**
 * Present from the moment an open finds damage until the queue has been compared with the
 * audit trail (QueueStore.reconcile): a process stopped in between (a repair of a large store
 * takes seconds) leaves the comparison due, and the next open, which finds a clean store,
 * still makes it. Written and synced before anything is repaired.
 */
export const RECONCILE_DUE_FILE = 'reconcile-due';

export function markReconcileDue(dataDir: string, why: string): void {
  const fd = openSync(join(dataDir, RECONCILE_DUE_FILE), 'w', 0o600);
  try {
    writeSync(fd, `${why.slice(0, 500)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  const dir = openSync(dataDir, 'r'); // the file's name must survive a power cut too
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}
/**
 * Present while the store is open (removed by a clean close): found at the next start, the
 * last run ended without closing (SIGKILL, power loss, or LevelDB aborting on a damaged
 * table), so the store is checked in a child before this process opens it.
 */
export const OPEN_MARKER = '.open';
/** Above this, the check after an unclean exit reads every key but skips the full compaction. */
const COMPACT_CHECK_MAX_BYTES = 256 * 1024 * 1024;

export interface KeyScan {
  /** Keys per prefix ('i!', 'o!', …). */
  byPrefix: Map<string, number>;
  total: number;
  /** Keys outside every known prefix: key damage, reported by alarm. */
  unknown: number;
}

export interface OpenedFiles {
  db: StoreDb;
  dbDir: string;
  lease: StoreLease;
  witnessFile: string;
  /** The mark the witness held before this open (undefined: none to compare). */
  witnessed: number | undefined;
  /** The audit trail's witnessed head seq before this open (undefined: none to compare). */
  auditWitnessed: number | undefined;
  scan: KeyScan;
  /** Removed by a clean close (StoreRuntime.close). */
  openMarker: string;
  /** Held until the store is closed; released last (StoreRuntime.close). */
  guard: StoreGuard;
  /** Damage was found while opening (and alarmed): records may be missing, so the queue is compared with the audit trail. */
  damaged: boolean;
}

export interface OpenFilesOptions {
  leaseWaitMs?: number;
  alarm: (a: StoreAlarm) => void;
  /**
   * Damage found after an earlier open of this process succeeded (a read of the store's state
   * failed on a table block the open's key scan could not see): repair before opening.
   */
  knownDamage?: string;
}

const stampNow = (): string => new Date().toISOString().replace(/[:.]/g, '-');

async function scanKeys(db: StoreDb): Promise<KeyScan> {
  const byPrefix = new Map<string, number>();
  let total = 0;
  let unknown = 0;
  let prev: string | undefined;
  for await (const key of db.keys()) {
    // Keys out of order mean a damaged table, which would abort LevelDB's next compaction of it.
    if (prev !== undefined && key <= prev) throw Object.assign(new Error('keys out of order: Corruption'), { code: 'LEVEL_CORRUPTION' });
    prev = key;
    total += 1;
    const prefix = key.slice(0, 2);
    if (KNOWN_PREFIXES.includes(prefix)) byPrefix.set(prefix, (byPrefix.get(prefix) ?? 0) + 1);
    else unknown += 1;
  }
  return { byPrefix, total, unknown };
}

/** Hard-links the write-ahead logs aside so a damaged one survives LevelDB's recovery (which deletes it). */
async function linkLogsAside(dataDir: string, dbDir: string): Promise<string> {
  const dir = join(dataDir, LOG_LINKS_DIR);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { mode: 0o700 });
  for (const name of await readdir(dbDir)) {
    if (name.endsWith('.log')) await link(join(dbDir, name), join(dir, name)).catch(() => undefined);
  }
  return dir;
}

/** Bytes LevelDB reported dropping while recovering its logs during this open (its LOG restarts at every open). */
async function droppedLogBytes(dbDir: string): Promise<number> {
  const text = await readFile(join(dbDir, 'LOG'), 'utf8').catch(() => '');
  let dropped = 0;
  for (const m of text.matchAll(/dropping (\d+) bytes/g)) dropped += Number(m[1]);
  if (dropped === 0 && /Corruption/.test(text)) dropped = 1;
  return dropped;
}

async function openAndScan(dbDir: string, leaseWaitMs: number, dataDir: string, marker: string, onWait?: (holder: string) => void): Promise<{ db: StoreDb; scan: KeyScan }> {
  if (await isHeadless(dbDir)) throw Object.assign(new Error('data files but no CURRENT file: Corruption'), { code: 'LEVEL_CORRUPTION' });
  const deadline = Date.now() + leaseWaitMs;
  let waiting = false;
  for (;;) {
    const db = newLevel(dbDir);
    try {
      await openLevel(db, dbDir, async () => describeLease(await readLease(dataDir)));
    } catch (e) {
      if (e instanceof LabedgeError && e.code === 'LABEDGE_ERR_STORE_LOCKED' && Date.now() < deadline) {
        // Said once, so an operator sees a hand-over in progress rather than a silent start.
        if (!waiting) onWait?.(describeLease(await readLease(dataDir)));
        waiting = true;
        await sleep(Math.min(500, Math.max(10, deadline - Date.now())));
        continue;
      }
      throw e;
    }
    try {
      await writeFile(marker, `${process.pid}\n`); // the lock is ours: from here, LevelDB may compact
      return { db, scan: await scanKeys(db) };
    } catch (e) {
      await db.close().catch(() => undefined);
      throw e;
    }
  }
}

/**
 * Waits (up to `waitMs`) until no process holds the store's LevelDB lock: a repair moves the
 * directory, which under a running writer would split the store in two.
 */
async function untilUnheld(dataDir: string, dbDir: string, waitMs: number, onWait: (holder: string) => void): Promise<void> {
  const deadline = Date.now() + waitMs;
  // LevelDB's lock, or a live holder named by a fresh lease (its LOCK file may have been deleted under it).
  const held = async (): Promise<boolean> => (await heldByAnotherProcess(dbDir)) || leaseHolderRunning(await readLease(dataDir));
  for (let said = false; await held(); said = true) {
    const holder = describeLease(await readLease(dataDir));
    if (Date.now() >= deadline) {
      throw new LabedgeError('LABEDGE_ERR_STORE_LOCKED', `the store at ${dbDir} needs repair, which waits until no process holds it; it is held by ${holder}`);
    }
    if (!said) onWait(holder);
    await sleep(500);
  }
}

/**
 * The working copy for a repair: hard links to the damaged store's files (no second copy on
 * disk, so a nearly full disk does not stop a repair), a real copy only where linking fails.
 * Safe because nothing here writes a store file in place: LevelDB's tables are immutable,
 * RepairDB and the salvage write new files and rename them over (mendTables), and LevelDB
 * renames its own MANIFEST, CURRENT and LOG into place.
 */
async function linkTree(from: string, to: string): Promise<void> {
  await mkdir(to, { mode: 0o700 });
  for (const entry of await readdir(from, { withFileTypes: true })) {
    const src = join(from, entry.name);
    const dst = join(to, entry.name);
    if (entry.isDirectory()) await cp(src, dst, { recursive: true });
    else await link(src, dst).catch(() => cp(src, dst));
  }
}

/** The newest damaged copies kept; older ones go (each repair keeps one, and a box that loses power often would fill its disk). */
const DAMAGED_COPIES_KEPT = 3;

/**
 * Keeps the newest DAMAGED_COPIES_KEPT copies of each kind (`-store`, `-wal`), by the time in
 * their names, and never `justMade` (a clock set back after a power cut would date it oldest).
 */
async function pruneDamagedCopies(dataDir: string, justMade: string): Promise<string[]> {
  const dir = join(dataDir, DAMAGED_DIR);
  const names = await readdir(dir).catch(() => [] as string[]);
  const removed: string[] = [];
  for (const kind of ['-store', '-wal']) {
    const copies = names.filter((n) => n.endsWith(kind) && join(dir, n) !== justMade).sort();
    const old = copies.slice(0, Math.max(0, copies.length - (DAMAGED_COPIES_KEPT - (justMade.endsWith(kind) ? 1 : 0))));
    for (const name of old) await rm(join(dir, name), { recursive: true, force: true });
    removed.push(...old);
  }
  return removed;
}

/** Keeps the damaged directory, repairs a copy in its place. Returns where the damaged copy is. */
async function repairAside(dataDir: string, dbDir: string): Promise<string> {
  const kept = join(dataDir, DAMAGED_DIR, `${stampNow()}-store`);
  await mkdir(join(dataDir, DAMAGED_DIR), { recursive: true, mode: 0o700 });
  await rename(dbDir, kept);
  // Now, not after a success: repairs that keep failing must not fill the disk with copies either.
  const pruned = await pruneDamagedCopies(dataDir, kept);
  try {
    await linkTree(kept, dbDir);
  } catch (e) {
    await rm(dbDir, { recursive: true, force: true });
    await rename(kept, dbDir);
    throw new LabedgeError('LABEDGE_ERR_STORE_DAMAGED', `the store at ${dbDir} is damaged and could not be set up for repair (${failureReason(e)}); nothing was changed`, { cause: e });
  }
  await rm(join(dbDir, 'LOCK'), { force: true });
  const mended = await mendTables(dbDir);
  const { outcome, setAside } = await repairInChild(dbDir);
  if (!outcome.ok) {
    throw new LabedgeError('LABEDGE_ERR_STORE_DAMAGED', `the store is damaged and LevelDB repair failed (${outcome.reason}); the damaged copy is kept at ${kept}`);
  }
  // LevelDB may still abort on what repair kept (keys out of order survive a repair): check in a child first.
  const check = await verifyInChild(dbDir, { compact: true });
  if (!check.ok) {
    throw new LabedgeError('LABEDGE_ERR_STORE_DAMAGED', `the store is damaged and still unusable after LevelDB repair (${check.reason}); the damaged copy is kept at ${kept}`);
  }
  const notes = [
    ...mended,
    ...(setAside.length > 0 ? [`tables set aside as unreadable: ${setAside.join(', ')}`] : []),
    ...(pruned.length > 0 ? [`older damaged copies removed (the newest ${DAMAGED_COPIES_KEPT} are kept): ${pruned.join(', ')}`] : []),
  ];
  return notes.length > 0 ? `${kept} (${notes.join('; ')})` : kept;
}

export async function openStoreFiles(dataDir: string, opts: OpenFilesOptions): Promise<OpenedFiles> {
  const dbDir = join(dataDir, DB_DIR);
  await ensureDbDir(dbDir).catch((e: unknown) => {
    throw new LabedgeError('LABEDGE_ERR_STORE_COMMIT', `the store's directory could not be created: ${fsFailure(e, dataDir) ?? failureReason(e)}`, { cause: e });
  });
  // Nothing below runs in two processes at once (store-guard.ts).
  const leaseWaitMs = opts.leaseWaitMs ?? 0;
  const guard = await StoreGuard.take(dataDir, {
    waitMs: leaseWaitMs,
    holder: async () => describeLease(await readLease(dataDir)),
    onWait: (holder) => opts.alarm({ code: 'LABEDGE_ERR_STORE_LOCKED', severity: 'info', message: `the store is held by ${holder}; waiting up to ${Math.round(leaseWaitMs / 1000)} s for it to be released` }),
  });
  try {
    return { ...(await openGuarded(dataDir, dbDir, opts)), guard };
  } catch (e) {
    await guard.release();
    const fs = e instanceof LabedgeError ? undefined : fsFailure(e, dataDir);
    if (fs !== undefined) throw new LabedgeError('LABEDGE_ERR_STORE_COMMIT', `the store at ${dbDir} could not be opened: ${fs}`, { cause: e });
    throw e;
  }
}

async function openGuarded(dataDir: string, dbDir: string, opts: OpenFilesOptions): Promise<Omit<OpenedFiles, 'guard'>> {
  const witnessFile = join(dataDir, WITNESS_FILE);
  const witnessed = await readWitness(witnessFile);
  const tableDamage = await checkTablesFirst(dbDir);
  const logLinks = await linkLogsAside(dataDir, dbDir);
  const leaseWaitMs = opts.leaseWaitMs ?? 0;
  const marker = join(dataDir, OPEN_MARKER);
  // The last run did not close the store: check it in a child (LevelDB may abort on damage there, not here).
  const unclean = await readFile(marker).then(() => true, () => false);
  const unsafe = unclean && tableDamage === undefined && (await hasDataFiles(dbDir)) ? await verifyInChild(dbDir, { compact: (await dataBytes(dbDir)) <= COMPACT_CHECK_MAX_BYTES }) : undefined;
  // The check's open recovered the write-ahead log: what LevelDB dropped is in that open's LOG, not the next one's.
  const droppedInCheck = unsafe?.ok ? await droppedLogBytes(dbDir) : 0;
  const damageFile = join(dataDir, DAMAGE_FOUND_FILE);
  const noted = await readFile(damageFile, 'utf8').then((t) => `a read while running found: ${t.trim().slice(0, 200)}`, () => undefined);
  try {
    const found = [opts.knownDamage, tableDamage, noted, unsafe === undefined || unsafe.ok ? undefined : `the last run ended without closing the store, and a check found: ${unsafe.reason}`];
    const knownDamage = found.filter((x) => x !== undefined).join('; ') || undefined;
    const files = await openWithRepair(dataDir, dbDir, leaseWaitMs, witnessFile, witnessed, { logLinks, droppedInCheck }, knownDamage, marker, opts);
    if (noted !== undefined) await rm(damageFile, { force: true }); // repaired
    return files;
  } catch (e) {
    // Handled cleanly; but a held store's marker belongs to its holder.
    if (!(e instanceof LabedgeError && e.code === 'LABEDGE_ERR_STORE_LOCKED')) await rm(marker, { force: true });
    throw e;
  }
}

function describeTableDamage(d: TableDamage): string {
  const keys = d.upTo !== undefined || d.after !== undefined ? ` (keys ${d.after !== undefined ? `after ${d.after} ` : ''}up to ${d.upTo ?? 'the end'})` : '';
  return `${d.table} at byte ${d.offset}: ${d.what}${keys}`;
}

/**
 * Checks every table before LevelDB opens them (and before a check after an unclean exit
 * compacts them, which would launder the damage into a table with good checksums). Damage
 * found here goes through repair, where the damaged tables are mended first (mendTables).
 */
async function checkTablesFirst(dbDir: string): Promise<string | undefined> {
  // Only the tables the MANIFEST lists (table-check.ts): a half-written one, or a leftover, is not damage.
  const files = await tableFiles(dbDir);
  const damage = await checkTables(dbDir, files);
  const { missing, unrecorded } = files;
  const said: string[] = [];
  if (missing.length > 0) said.push(`${missing.length} table file(s) the MANIFEST lists are missing: ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', …' : ''}`);
  // Whole tables (a half-written one is a leftover) that LevelDB's open would delete with their data.
  const lostFromManifest = await intactTables(dbDir, unrecorded);
  if (lostFromManifest.length > 0) said.push(`the MANIFEST has lost its record of ${lostFromManifest.length} table file(s) holding data (its last edits are gone, and so is the log it names): ${lostFromManifest.slice(0, 5).join(', ')}${lostFromManifest.length > 5 ? ', …' : ''}`);
  if (damage.length > 0) {
    const tables = new Set(damage.map((d) => d.table)).size;
    const shown = damage.slice(0, 5).map(describeTableDamage).join('; ');
    said.push(`${damage.length} block(s) in ${tables} table(s) fail their checksum: ${shown}${damage.length > 5 ? '; …' : ''}`);
  }
  return said.length > 0 ? said.join('; ') : undefined;
}

/**
 * In the copy being repaired: every damaged table rewritten with what can be kept of it
 * (table-salvage.ts), or set aside in lost/ when nothing can. Returns what was done.
 */
async function mendTables(dbDir: string): Promise<string[]> {
  const done: string[] = [];
  const { orphans, lastSequence } = await tableFiles(dbDir);
  const lost = join(dbDir, 'lost');
  // LevelDB's leftovers would otherwise be taken back in by RepairDB (stale data, deleted keys).
  if (orphans.length > 0) {
    await mkdir(lost, { recursive: true });
    for (const t of orphans) await rename(join(dbDir, t), join(lost, t));
    done.push(`${orphans.length} table file(s) the MANIFEST listed and dropped set aside (stale compaction inputs a crash left behind): ${orphans.join(', ')}`);
  }
  for (const table of new Set((await checkTables(dbDir)).map((d) => d.table))) {
    const file = join(dbDir, table);
    const salvage = salvageTable(await readFile(file), lastSequence);
    if (salvage) {
      // A new file renamed over the old: the damaged copy links to the old one and keeps it as it was.
      await writeFile(`${file}.salvaged`, salvage.table).catch(async (e: unknown) => {
        await rm(`${file}.salvaged`, { force: true }); // no half-written file left behind (a full disk)
        throw e;
      });
      await rename(`${file}.salvaged`, file);
      done.push(`${table} rewritten without its damaged parts (${salvage.kept} entries kept; at least ${salvage.dropped} dropped: what cannot be parsed in a damaged block cannot be counted)`);
    } else {
      await mkdir(lost, { recursive: true });
      await rename(file, join(lost, table));
      done.push(`${table} set aside (nothing in it could be located)`);
    }
  }
  return done;
}

async function dataBytes(dir: string): Promise<number> {
  let total = 0;
  for (const name of await readdir(dir)) if (/\.(ldb|sst|log)$/.test(name)) total += (await stat(join(dir, name)).catch(() => ({ size: 0 }))).size;
  return total;
}

async function openWithRepair(
  dataDir: string,
  dbDir: string,
  leaseWaitMs: number,
  witnessFile: string,
  witnessed: number | undefined,
  logs: { logLinks: string; droppedInCheck: number },
  knownDamage: string | undefined,
  openMarker: string,
  opts: OpenFilesOptions,
): Promise<Omit<OpenedFiles, 'guard'>> {
  let opened: { db: StoreDb; scan: KeyScan };
  let repaired = false;
  try {
    if (knownDamage) throw Object.assign(new Error(`${knownDamage}: Corruption`), { code: 'LEVEL_CORRUPTION' });
    const onWait = (holder: string): void =>
      opts.alarm({ code: 'LABEDGE_ERR_STORE_LOCKED', severity: 'info', message: `the store is held by ${holder}; waiting up to ${Math.round(leaseWaitMs / 1000)} s for it to be released` });
    opened = await openAndScan(dbDir, leaseWaitMs, dataDir, openMarker, onWait);
  } catch (e) {
    if (e instanceof LabedgeError) throw e;
    const kind = classifyOpenFailure(e);
    if (kind !== 'damaged') {
      throw new LabedgeError('LABEDGE_ERR_STORE_COMMIT', `the store at ${dbDir} could not be opened (${failureReason(e)})`, { cause: e });
    }
    const reason = knownDamage ?? failureReason(e);
    markReconcileDue(dataDir, reason);
    await untilUnheld(dataDir, dbDir, leaseWaitMs, (holder) =>
      opts.alarm({ code: 'LABEDGE_ERR_STORE_LOCKED', severity: 'info', message: `the store needs repair and is held by ${holder}; waiting up to ${Math.round(leaseWaitMs / 1000)} s for it to be released` }),
    );
    const kept = await repairAside(dataDir, dbDir).catch((e2: unknown) => {
      const fs = e2 instanceof LabedgeError ? undefined : fsFailure(e2, dataDir);
      throw fs === undefined ? e2 : new LabedgeError('LABEDGE_ERR_STORE_DAMAGED', `the store is damaged (${reason}) and its repair failed: ${fs}; the damaged copy is under ${join(dataDir, DAMAGED_DIR)}, and the next start tries again`, { cause: e2 });
    });
    repaired = true;
    opts.alarm({
      code: 'LABEDGE_ERR_STORE_DAMAGED',
      severity: 'error',
      message: `the store is damaged (${reason}); the damaged copy is kept at ${kept} and LevelDB repair ran: records may be missing: the queue is compared with the audit trail next`,
    });
    try {
      opened = await openAndScan(dbDir, 0, dataDir, openMarker);
    } catch (again) {
      throw new LabedgeError('LABEDGE_ERR_STORE_DAMAGED', `the store is damaged and repair did not help (${failureReason(again)}); the damaged copy is kept at ${kept}`, { cause: again });
    }
    if (opened.scan.total === 0 && (await hasDataFiles(kept))) {
      await opened.db.close();
      throw new LabedgeError('LABEDGE_ERR_STORE_DAMAGED', `repair recovered nothing from the damaged store; refusing to run on an empty replacement (the damaged copy is kept at ${kept})`);
    }
  }
  const { db, scan } = opened;

  try {
    const { logLinks, droppedInCheck } = logs;
    const dropped = repaired ? 0 : droppedInCheck + (await droppedLogBytes(dbDir));
    if (dropped > 0 || scan.unknown > 0) markReconcileDue(dataDir, dropped > 0 ? 'write-ahead log bytes dropped' : 'unknown keys');
    if (dropped > 0) {
      const kept = join(dataDir, DAMAGED_DIR, `${stampNow()}-wal`);
      await mkdir(join(dataDir, DAMAGED_DIR), { recursive: true, mode: 0o700 });
      await rename(logLinks, kept);
      await pruneDamagedCopies(dataDir, kept);
      opts.alarm({
        code: 'LABEDGE_ERR_STORE_DAMAGED',
        severity: 'error',
        message: `LevelDB dropped ${dropped} bytes of a damaged write-ahead log while opening; the damaged log is kept at ${kept}: records may be missing`,
      });
    } else {
      await rm(logLinks, { recursive: true, force: true });
    }
    if (scan.total === 0 && witnessed !== undefined && witnessed > 0) {
      throw new LabedgeError(
        'LABEDGE_ERR_STORE_DAMAGED',
        `the store at ${dbDir} is empty, but records up to sequence ${witnessed} were committed here; refusing to run on an empty replacement (restore the store, or remove ${witnessFile} to start afresh)`,
      );
    }
    if (scan.unknown > 0) {
      opts.alarm({ code: 'LABEDGE_ERR_STORE_INTEGRITY', severity: 'error', message: `${scan.unknown} stored keys match no known record kind (key damage?); they are left in place` });
    }
    const { lease, previous } = await StoreLease.take(dataDir);
    if (previous) opts.alarm({ code: 'LABEDGE_ERR_STORE_LOCKED', severity: 'info', message: `took over the lease of pid ${previous.pid} on host ${previous.host} (since ${previous.since}), which no longer holds the store` });
    const due = await readFile(join(dataDir, RECONCILE_DUE_FILE)).then(() => true, () => false);
    const auditWitnessed = await readWitness(join(dataDir, AUDIT_WITNESS_FILE), 'labedge-audit-mark');
    return { db, dbDir, lease, witnessFile, witnessed, auditWitnessed, scan, openMarker, damaged: repaired || dropped > 0 || scan.unknown > 0 || due };
  } catch (e) {
    await db.close().catch(() => undefined);
    throw e;
  }
}
