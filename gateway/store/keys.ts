import { randomBytes } from 'node:crypto';
import { link, mkdir, open as openFile, stat, unlink } from 'node:fs/promises';
import { dirname, relative, resolve, isAbsolute } from 'node:path';
import { LabedgeError } from '../core/errors.js';
import { KEY_BYTES, unwrapDataKey, wrapDataKey } from './crypto.js';
import { dataKeyKey, parseKey, prefixRange, PREFIX } from './record-keys.js';
import type { StoreDb } from './store-db.js';

/**
 * The key hierarchy: a key-encryption key (KEK, 32 raw bytes in a 0600 file outside the
 * database directory) wraps the data keys (DEKs) stored in the database under `k!<id>`.
 * Key ids are uint32 and start at 1; rotation would add id 2 and seal new values with it,
 * while old values still name the id that opens them. Re-wrapping under a new KEK only
 * rewrites the `k!` entries.
 */
export interface Keyring {
  readonly currentId: number;
  readonly current: Buffer;
  keyFor(keyId: number): Buffer | undefined;
}

const FIRST_KEY_ID = 1;

function keyError(message: string, cause?: unknown): LabedgeError {
  return new LabedgeError('LABEDGE_ERR_KEY', message, cause === undefined ? undefined : { cause });
}

/** The key file must not live inside the database directory: a copied store must reveal nothing. */
export function assertKeyFileOutside(keyFile: string, dbDir: string): void {
  const rel = relative(resolve(dbDir), resolve(keyFile));
  if (rel === '' || (!rel.startsWith('..') && !isAbsolute(rel))) {
    throw keyError(`key file ${keyFile} is inside the database directory ${dbDir}; keep it outside`);
  }
}

/** Reads an existing KEK, refusing files readable or writable by group or others. */
export async function loadKek(keyFile: string): Promise<Buffer> {
  let info;
  try {
    info = await stat(keyFile);
  } catch (e) {
    throw keyError(`key file ${keyFile} cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'})`, e);
  }
  if (!info.isFile()) throw keyError(`key file ${keyFile} is not a regular file`);
  if ((info.mode & 0o077) !== 0) {
    const mode = (info.mode & 0o777).toString(8).padStart(4, '0');
    throw keyError(`key file ${keyFile} has mode ${mode}; it must not be accessible to group or others (chmod 600)`);
  }
  const handle = await openFile(keyFile, 'r').catch((e: unknown) => {
    throw keyError(`key file ${keyFile} cannot be opened`, e);
  });
  try {
    const kek = await handle.readFile();
    if (kek.length !== KEY_BYTES) throw keyError(`key file ${keyFile} holds ${kek.length} bytes, expected ${KEY_BYTES}`);
    return kek;
  } finally {
    await handle.close();
  }
}

/**
 * Creates a fresh KEK: directory 0700 (if absent), file 0600, written to a temporary file,
 * fsync'd, then linked into place so a crash never leaves a short key file behind.
 * If another process created it first, that key is used.
 */
export async function createKek(keyFile: string): Promise<Buffer> {
  const dir = dirname(resolve(keyFile));
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = `${keyFile}.${process.pid}.tmp`;
  const kek = randomBytes(KEY_BYTES);
  const handle = await openFile(tmp, 'wx', 0o600);
  try {
    await handle.writeFile(kek);
    await handle.chmod(0o600);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await link(tmp, keyFile);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    await unlink(tmp);
    return loadKek(keyFile);
  }
  await unlink(tmp);
  await syncDir(dir);
  return kek;
}

async function syncDir(dir: string): Promise<void> {
  const handle = await openFile(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function fileExists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw keyError(`key file ${path} cannot be checked`, e);
  }
}

async function readWrappedKeys(db: StoreDb): Promise<Array<{ keyId: number; wrapped: Buffer }>> {
  const found: Array<{ keyId: number; wrapped: Buffer }> = [];
  // Few entries by construction (one per rotation), so loading them all is fine.
  for await (const [key, value] of db.iterator(prefixRange(PREFIX.dataKey))) {
    const parsed = parseKey(key);
    if (parsed?.kind !== 'dataKey') throw keyError(`unexpected data key entry ${key}`);
    found.push({ keyId: parsed.keyId, wrapped: value });
  }
  return found;
}

async function storeIsEmpty(db: StoreDb): Promise<boolean> {
  const keys = await db.keys({ limit: 1 }).all();
  return keys.length === 0;
}

/**
 * Opens (or, for an empty store, creates) the keyring. An existing store never gets a new
 * key: a missing or wrong KEK is LABEDGE_ERR_KEY, so data is never silently abandoned.
 */
export async function openKeyring(db: StoreDb, keyFile: string): Promise<Keyring> {
  const wrappedKeys = await readWrappedKeys(db);
  if (wrappedKeys.length === 0) {
    if (!(await storeIsEmpty(db))) {
      throw keyError('the store holds records but no data key; refusing to create a new one');
    }
    const kek = (await fileExists(keyFile))
      ? await loadKek(keyFile)
      : await createKek(keyFile).catch((e: unknown) => {
          if (e instanceof LabedgeError) throw e;
          throw keyError(`key file ${keyFile} could not be created (${(e as NodeJS.ErrnoException).code ?? 'error'})`, e);
        });
    const dek = randomBytes(KEY_BYTES);
    try {
      await db.put(dataKeyKey(FIRST_KEY_ID), wrapDataKey(kek, FIRST_KEY_ID, dek), { sync: true });
    } catch (e) {
      throw new LabedgeError('LABEDGE_ERR_STORE_COMMIT', 'the new data key could not be stored', { cause: e });
    }
    return keyringOf(new Map([[FIRST_KEY_ID, dek]]));
  }
  if (!(await fileExists(keyFile))) {
    throw keyError(`key file ${keyFile} is missing; this store's data key cannot be unwrapped (restore the key file)`);
  }
  const kek = await loadKek(keyFile);
  const keys = new Map<number, Buffer>();
  for (const { keyId, wrapped } of wrappedKeys) {
    const dek = unwrapDataKey(kek, keyId, wrapped);
    if (!dek) throw keyError(`key file ${keyFile} does not unwrap data key ${keyId} (wrong key file or damaged key entry)`);
    keys.set(keyId, dek);
  }
  return keyringOf(keys);
}

function keyringOf(keys: Map<number, Buffer>): Keyring {
  const currentId = Math.max(...keys.keys());
  const current = keys.get(currentId);
  if (!current) throw keyError('no current data key');
  return { currentId, current, keyFor: (keyId) => keys.get(keyId) };
}
