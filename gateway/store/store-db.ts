import { mkdir, readdir } from 'node:fs/promises';
import { Level } from 'level';
import { LabedgeError } from '../core/errors.js';
import type { WriteOp } from './group-commit.js';

/** The LevelDB handle: string keys (opaque, ASCII), Buffer values (always sealed). */
export type StoreDb = Level<string, Buffer>;

/**
 * The classic-level (LevelDB) extras that `level`'s browser-neutral typings leave out. In
 * Node, `level`'s Level *is* classic-level's ClassicLevel, so these exist at run time.
 */
interface ClassicExtras {
  approximateSize?: (start: string, end: string) => Promise<number>;
  compactRange?: (start: string, end: string) => Promise<void>;
}

/** Every `code` along an error's cause chain (classic-level wraps open errors in LEVEL_DATABASE_NOT_OPEN). */
export function levelCodes(e: unknown): string[] {
  const codes: string[] = [];
  for (let cur: unknown = e, depth = 0; cur && depth < 5; depth++) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === 'string') codes.push(code);
    cur = (cur as { cause?: unknown }).cause;
  }
  return codes;
}

/** LevelDB's answer to a read that met a damaged table block. */
export const isCorruption = (e: unknown): boolean => levelCodes(e).includes('LEVEL_CORRUPTION');

function messages(e: unknown): string {
  const parts: string[] = [];
  for (let cur: unknown = e, depth = 0; cur && depth < 5; depth++) {
    if (cur instanceof Error) parts.push(cur.message);
    cur = (cur as { cause?: unknown }).cause;
  }
  return parts.join(' / ');
}

/**
 * What an open (or the first full read) failure means. `damaged`: LevelDB reports
 * corruption, or a file it needs is gone: repair is worth trying. `locked`: another
 * writer. `io`: anything else (permissions, a failing device): an operator matter.
 */
export type OpenFailureKind = 'locked' | 'damaged' | 'io';

export function classifyOpenFailure(e: unknown): OpenFailureKind {
  const codes = levelCodes(e);
  if (codes.includes('LEVEL_LOCKED')) return 'locked';
  if (codes.includes('LEVEL_CORRUPTION')) return 'damaged';
  const text = messages(e);
  if (/Permission denied|Read-only file system/i.test(text)) return 'io';
  if (/Corruption|No such file or directory|too short|bad magic/i.test(text)) return 'damaged';
  // An I/O error reading one of the store's own files (a truncated table reads as EINVAL).
  if (/IO error: \S*(\.ldb|\.sst|\.log|MANIFEST-\d+|CURRENT)\b/.test(text)) return 'damaged';
  return 'io';
}

const FS_CODES: Record<string, string> = {
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'the file system is read-only',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EIO: 'input/output error (a failing device?)',
};

/**
 * A file-system failure in the store's own directories, said plainly: `ENOSPC (no space left
 * on the device) in /data/labedge`. Store paths come from configuration, never from a message,
 * so naming them is safe. Undefined for anything that is not a system error.
 */
export function fsFailure(e: unknown, where: string): string | undefined {
  const { code, syscall } = (e ?? {}) as { code?: unknown; syscall?: unknown };
  if (typeof code !== 'string' || typeof syscall !== 'string' || !/^E[A-Z]+$/.test(code)) return undefined;
  return `${code} (${FS_CODES[code] ?? syscall}) in ${where}`;
}

/** A short, PHI-free reason for an open failure: the LevelDB code, never file contents. */
export function failureReason(e: unknown): string {
  const codes = levelCodes(e).filter((c) => c !== 'LEVEL_DATABASE_NOT_OPEN');
  const code = codes[0] ?? levelCodes(e)[0] ?? 'error';
  // Which of LevelDB's own files it names (numbers and fixed names only, never a key or value).
  const text = messages(e);
  const file = /\b(MANIFEST-\d+|CURRENT|\d+\.(?:ldb|sst|log))\b/.exec(text)?.[1] ?? (/descriptor|VersionEdit/.test(text) ? 'the MANIFEST' : undefined);
  return file === undefined ? code : `${code} in ${file}`;
}

/**
 * LevelDB memory-maps every table file it keeps open (up to 1000 on 64-bit), and the open's
 * full key scan touches them all: with the default of 1000 open files a 1,000,000-record
 * backlog held ~2 GB of mapped table pages in RSS. 64 (LevelDB's floor) caps that at about
 * 64 × 2 MB; the queue reads mostly in key order, so the smaller table cache costs little.
 */
const MAX_OPEN_FILES = 64;

export function newLevel(dir: string): StoreDb {
  return new Level<string, Buffer>(dir, { keyEncoding: 'utf8', valueEncoding: 'buffer', maxOpenFiles: MAX_OPEN_FILES });
}

/** Creates the database directory 0700 if absent. */
export async function ensureDbDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
}

/**
 * LevelDB treats a directory without CURRENT as a new database and later deletes the
 * files it does not know, so a lost CURRENT (power cut, bad copy) would silently wipe the
 * queue. Such a directory counts as damaged (the caller keeps a copy and repairs it).
 */
export async function isHeadless(dir: string): Promise<boolean> {
  const names = await readdir(dir);
  if (names.includes('CURRENT')) return false;
  return names.some((n) => /^MANIFEST-|\.(ldb|sst|log)$/.test(n));
}

/**
 * One synced LevelDB write of `ops`, through a chained batch: abstract-level's array form
 * clones and re-validates every op (measured ~8 µs an op against ~2 µs chained), which at
 * five puts a commit was a third of the commit path's CPU. Same atomicity: one WriteBatch.
 */
export async function writeSyncedBatch(db: StoreDb, ops: readonly WriteOp[]): Promise<void> {
  const batch = db.batch();
  try {
    for (const op of ops) {
      if (op.type === 'put') batch.put(op.key, op.value);
      else batch.del(op.key);
    }
  } catch (e) {
    await batch.close();
    throw e;
  }
  await batch.write({ sync: true });
}

/** Whether the directory holds LevelDB data files at all. */
export async function hasDataFiles(dir: string): Promise<boolean> {
  const names = await readdir(dir).catch(() => [] as string[]);
  return names.some((n) => /^MANIFEST-|\.(ldb|sst|log)$/.test(n));
}

/** LevelDB's estimate of the on-disk bytes of a key range (tables only), or undefined if unsupported. */
export async function approximateSize(db: StoreDb, range: { gte: string; lt: string }): Promise<number | undefined> {
  const fn = (db as unknown as ClassicExtras).approximateSize;
  if (typeof fn !== 'function') return undefined;
  return fn.call(db, range.gte, range.lt);
}

/** Compacts a key range so deleted values leave the table files (crypto-erase). */
export async function compactRange(db: StoreDb, range: { gte: string; lt: string }): Promise<void> {
  const fn = (db as unknown as ClassicExtras).compactRange;
  if (typeof fn === 'function') await fn.call(db, range.gte, range.lt);
}

/** Opens the handle, mapping a held lock to LABEDGE_ERR_STORE_LOCKED (the caller names the holder). */
export async function openLevel(db: StoreDb, dir: string, holder: () => Promise<string>): Promise<void> {
  try {
    await db.open();
  } catch (e) {
    if (classifyOpenFailure(e) === 'locked') {
      throw new LabedgeError('LABEDGE_ERR_STORE_LOCKED', `the store at ${dir} is locked by ${await holder()}; is another labedge running on this data dir?`, {
        cause: e,
      });
    }
    throw e;
  }
}
