import { mkdir, readdir } from 'node:fs/promises';
import { Level } from 'level';
import { LabedgeError } from '../core/errors.js';

/** The LevelDB handle: string keys (opaque, ASCII), Buffer values (always sealed). */
export type StoreDb = Level<string, Buffer>;

function codeOf(e: unknown): string | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * Opens the database directory (created 0700 if absent). A lock held by another process
 * (or another handle in this one) is LABEDGE_ERR_STORE_LOCKED; any other failure is
 * LABEDGE_ERR_STORE_COMMIT, since nothing can be committed. Never repairs or recreates.
 */
export async function openStoreDb(dir: string): Promise<StoreDb> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await refuseHeadlessStore(dir);
  const db: StoreDb = new Level<string, Buffer>(dir, { keyEncoding: 'utf8', valueEncoding: 'buffer' });
  try {
    await db.open();
  } catch (e) {
    const cause = (e as { cause?: unknown }).cause;
    if (codeOf(cause) === 'LEVEL_LOCKED') {
      throw new LabedgeError(
        'LABEDGE_ERR_STORE_LOCKED',
        `the store at ${dir} is locked by another process (is another labedge running on this data dir?)`,
        { cause: e },
      );
    }
    throw new LabedgeError('LABEDGE_ERR_STORE_COMMIT', `the store at ${dir} could not be opened (${codeOf(cause) ?? codeOf(e) ?? 'error'})`, {
      cause: e,
    });
  }
  return db;
}

/**
 * LevelDB treats a directory without CURRENT as a new database and later deletes the
 * files it does not know, so a lost CURRENT (power cut, bad copy) would silently wipe the
 * queue. Data files without CURRENT are refused; repair is an operator decision.
 */
async function refuseHeadlessStore(dir: string): Promise<void> {
  const names = await readdir(dir);
  if (names.includes('CURRENT')) return;
  if (names.some((n) => /^MANIFEST-|\.(ldb|sst|log)$/.test(n))) {
    throw new LabedgeError('LABEDGE_ERR_STORE_COMMIT', `the store at ${dir} has data files but no CURRENT file; refusing to create a new database over them`);
  }
}
