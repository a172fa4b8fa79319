import { randomBytes } from 'node:crypto';
import { link, mkdir, open as openFile, stat, unlink } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { LabedgeError } from '../core/errors.js';
import { KEY_BYTES, unwrapDataKey, wrapDataKey } from './crypto.js';

/**
 * Where the key-encryption key (KEK) lives. The store only ever asks the provider to wrap
 * and unwrap data keys, never for the KEK's bytes, so a TPM2 or PKCS#11 provider whose key
 * cannot leave the chip fits the same interface. The file provider is the default.
 */
export interface KekProvider {
  /** PHI-free, for messages: "key file /etc/labedge/kek". */
  readonly description: string;
  exists(): Promise<boolean>;
  /** Creates the KEK when absent; an existing KEK is kept. */
  create(): Promise<void>;
  wrap(keyId: number, dek: Buffer): Promise<Buffer>;
  /** The data key, or undefined when this KEK does not open `wrapped`. */
  unwrap(keyId: number, wrapped: Buffer): Promise<Buffer | undefined>;
  /** Crypto-erase: destroys the KEK for good. */
  destroy(): Promise<void>;
}

export function keyError(message: string, cause?: unknown): LabedgeError {
  return new LabedgeError('LABEDGE_ERR_KEY', message, cause === undefined ? undefined : { cause });
}

/** Reads an existing KEK file, refusing files readable or writable by group or others. */
export async function loadKek(keyFile: string): Promise<Buffer> {
  let info;
  try {
    info = await stat(keyFile);
  } catch (e) {
    throw keyError(`key file ${keyFile} cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'})`, e);
  }
  // A directory (or device) where the key file should be is a configuration error (exit 2).
  if (!info.isFile()) throw new LabedgeError('LABEDGE_ERR_CONFIG', `key file ${keyFile} is not a regular file`);
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

export async function syncDir(dir: string): Promise<void> {
  const handle = await openFile(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** The KEK as 32 raw bytes in a 0600 file outside the data directory. */
export class FileKekProvider implements KekProvider {
  private kek: Buffer | undefined;

  constructor(readonly keyFile: string) {}

  get description(): string {
    return `key file ${this.keyFile}`;
  }

  async exists(): Promise<boolean> {
    try {
      await stat(this.keyFile);
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw keyError(`key file ${this.keyFile} cannot be checked`, e);
    }
  }

  async create(): Promise<void> {
    try {
      this.kek = await createKek(this.keyFile);
    } catch (e) {
      if (e instanceof LabedgeError) throw e;
      throw keyError(`key file ${this.keyFile} could not be created (${(e as NodeJS.ErrnoException).code ?? 'error'})`, e);
    }
  }

  async wrap(keyId: number, dek: Buffer): Promise<Buffer> {
    return wrapDataKey(await this.load(), keyId, dek);
  }

  async unwrap(keyId: number, wrapped: Buffer): Promise<Buffer | undefined> {
    return unwrapDataKey(await this.load(), keyId, wrapped);
  }

  /** Overwrites the file with random bytes, syncs, unlinks and syncs the folder. */
  async destroy(): Promise<void> {
    this.kek?.fill(0);
    this.kek = undefined;
    if (!(await this.exists())) return;
    const handle = await openFile(this.keyFile, 'r+');
    try {
      await handle.write(randomBytes(KEY_BYTES), 0, KEY_BYTES, 0);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await unlink(this.keyFile);
    await syncDir(dirname(resolve(this.keyFile)));
  }

  private async load(): Promise<Buffer> {
    this.kek ??= await loadKek(this.keyFile);
    return this.kek;
  }
}
