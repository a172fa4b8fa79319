import { randomBytes } from 'node:crypto';
import { open as openFile, readFile, rename } from 'node:fs/promises';
import { relative, resolve, isAbsolute } from 'node:path';
import { LabedgeError } from '../core/errors.js';
import { KEY_BYTES } from './crypto.js';
import { keyError, type KekProvider } from './kek-provider.js';
import { dataKeyKey, ERASED_KEY, parseKey, prefixRange, PREFIX } from './record-keys.js';
import type { StoreDb } from './store-db.js';

export { createKek, loadKek, FileKekProvider, type KekProvider } from './kek-provider.js';

/**
 * The key hierarchy: a key-encryption key (KEK, behind a KekProvider: a 0600 file outside
 * the database directory by default) wraps the data keys (DEKs) stored in the database
 * under `k!<id>`. Key ids are uint32 and start at 1. Rotation adds the next id and seals
 * every new value with it, while old values still name the id that opens them; a re-wrap
 * (key-rotation.ts) re-seals them and then retires the old id.
 */
export interface Keyring {
  readonly currentId: number;
  readonly current: Buffer;
  keyFor(keyId: number): Buffer | undefined;
}

const FIRST_KEY_ID = 1;

/** The unwrapped data keys; the highest id seals new values. */
export class StoreKeyring implements Keyring {
  private readonly keys: Map<number, Buffer>;

  constructor(keys: Map<number, Buffer>) {
    if (keys.size === 0) throw keyError('no data key');
    this.keys = new Map(keys);
  }

  /** Cached: every seal asks (twice), and the key set changes only by add/remove. */
  private currentCache: number | undefined;

  get currentId(): number {
    this.currentCache ??= Math.max(...this.keys.keys());
    return this.currentCache;
  }

  get current(): Buffer {
    const key = this.keys.get(this.currentId);
    if (!key) throw keyError('no current data key');
    return key;
  }

  keyFor = (keyId: number): Buffer | undefined => this.keys.get(keyId);

  ids(): number[] {
    return [...this.keys.keys()].sort((a, b) => a - b);
  }

  add(keyId: number, dek: Buffer): void {
    this.keys.set(keyId, dek);
    this.currentCache = undefined;
  }

  remove(keyId: number): void {
    if (keyId === this.currentId) throw keyError('the current data key cannot be retired');
    this.keys.get(keyId)?.fill(0);
    this.keys.delete(keyId);
    this.currentCache = undefined;
  }
}

/** The key file must not live inside the database directory: a copied store must reveal nothing. */
export function assertKeyFileOutside(keyFile: string, dbDir: string): void {
  const rel = relative(resolve(dbDir), resolve(keyFile));
  if (rel === '' || (!rel.startsWith('..') && !isAbsolute(rel))) {
    // A configuration error (exit 2), not a key fault: the operator must move the file.
    throw new LabedgeError('LABEDGE_ERR_CONFIG', `key file ${keyFile} is inside the data directory ${dbDir}; keep it outside (a copied data directory must reveal nothing)`);
  }
}

export async function readWrappedKeys(db: StoreDb): Promise<Array<{ keyId: number; wrapped: Buffer }>> {
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

/** When the store was crypto-erased (key-erase.ts), or undefined. */
export async function erasedAt(db: StoreDb): Promise<string | undefined> {
  const marker = await db.get(ERASED_KEY);
  if (!marker) return undefined;
  try {
    const at = (JSON.parse(marker.toString('utf8')) as { at?: unknown }).at;
    return typeof at === 'string' ? at : 'an unknown time';
  } catch {
    return 'an unknown time';
  }
}

/** Adds a fresh data key under `keyId`, wrapped by the KEK and synced before it is used. */
export async function addDataKey(db: StoreDb, kek: KekProvider, keyId: number): Promise<Buffer> {
  const dek = randomBytes(KEY_BYTES);
  try {
    await db.put(dataKeyKey(keyId), await kek.wrap(keyId, dek), { sync: true });
  } catch (e) {
    if (e instanceof LabedgeError) throw e;
    throw new LabedgeError('LABEDGE_ERR_STORE_COMMIT', `data key ${keyId} could not be stored`, { cause: e });
  }
  return dek;
}

/**
 * A copy of the wrapped data keys beside the database (`dataDir/wrapped-keys.json`), so a
 * damaged table that held the `k!` entries does not make every record unreadable. The keys
 * in it are wrapped by the KEK: without the KEK the file is useless, as the entries in the
 * database are. Crypto-erase deletes it with them.
 */
export const KEY_BACKUP_FILE = 'wrapped-keys.json';

export async function writeKeyBackup(file: string, keys: Array<{ keyId: number; wrapped: Buffer }>): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  const handle = await openFile(tmp, 'w', 0o600);
  try {
    await handle.writeFile(`${JSON.stringify({ keys: keys.map((k) => ({ id: k.keyId, wrapped: k.wrapped.toString('base64') })) })}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, file);
}

async function readKeyBackup(file: string): Promise<Array<{ keyId: number; wrapped: Buffer }>> {
  try {
    const parsed = JSON.parse(await readFile(file, 'utf8')) as { keys?: Array<{ id?: unknown; wrapped?: unknown }> };
    return (parsed.keys ?? []).flatMap((k) => (typeof k.id === 'number' && typeof k.wrapped === 'string' ? [{ keyId: k.id, wrapped: Buffer.from(k.wrapped, 'base64') }] : []));
  } catch {
    return [];
  }
}

/** Keeps the backup equal to the database's wrapped keys. */
export async function syncKeyBackup(db: StoreDb, file: string): Promise<void> {
  const inDb = await readWrappedKeys(db);
  const backup = await readKeyBackup(file);
  const same = backup.length === inDb.length && inDb.every((k, i) => backup[i]?.keyId === k.keyId && backup[i]?.wrapped.equals(k.wrapped));
  if (!same) await writeKeyBackup(file, inDb);
}

/**
 * Opens (or, for an empty store, creates) the keyring. An existing store never gets a new
 * key: a missing or wrong KEK is LABEDGE_ERR_KEY, so data is never silently abandoned. When
 * the store lost its wrapped keys (damage) and the backup has them, they are restored.
 */
export async function openKeyring(db: StoreDb, kek: KekProvider, backup?: { file: string; restored: (ids: number[]) => void }): Promise<StoreKeyring> {
  let wrappedKeys = await readWrappedKeys(db);
  if (wrappedKeys.length === 0 && backup && !(await storeIsEmpty(db)) && !(await erasedAt(db))) {
    const saved = await readKeyBackup(backup.file);
    const usable = [];
    for (const k of saved) if (await kek.unwrap(k.keyId, k.wrapped).catch(() => undefined)) usable.push(k);
    if (usable.length > 0) {
      await db.batch(usable.map((k) => ({ type: 'put' as const, key: dataKeyKey(k.keyId), value: k.wrapped })), { sync: true });
      backup.restored(usable.map((k) => k.keyId));
      wrappedKeys = usable;
    }
  }
  if (wrappedKeys.length === 0) {
    const erased = await erasedAt(db);
    if (erased) throw keyError(`this store was crypto-erased at ${erased}; its records cannot be read (remove the data directory to start afresh)`);
    if (!(await storeIsEmpty(db))) {
      throw keyError('the store holds records but no data key; refusing to create a new one');
    }
    if (!(await kek.exists())) await kek.create();
    const dek = await addDataKey(db, kek, FIRST_KEY_ID);
    return new StoreKeyring(new Map([[FIRST_KEY_ID, dek]]));
  }
  if (!(await kek.exists())) {
    throw keyError(`${kek.description} is missing; this store's data key cannot be unwrapped (restore the key)`);
  }
  const keys = new Map<number, Buffer>();
  for (const { keyId, wrapped } of wrappedKeys) {
    const dek = await kek.unwrap(keyId, wrapped);
    if (!dek) throw keyError(`${kek.description} does not unwrap data key ${keyId} (wrong key or damaged key entry)`);
    keys.set(keyId, dek);
  }
  return new StoreKeyring(keys);
}
