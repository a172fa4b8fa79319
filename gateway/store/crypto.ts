import { createCipheriv, createDecipheriv, randomFillSync } from 'node:crypto';

/**
 * AES-256-GCM for stored values and for wrapping data keys.
 *
 * Sealed value layout (all stored values, wrapped keys included):
 *   [0]      format version (VALUE_VERSION)
 *   [1..4]   key id, uint32 big-endian (which data key sealed it; rotation adds ids)
 *   [5..16]  nonce, 12 random bytes, fresh per seal
 *   [17..32] GCM tag, 16 bytes
 *   [33..]   ciphertext
 * The AAD is the 5 header bytes followed by the caller's context (for records: the
 * LevelDB key), so a value moved under another key, or relabelled to another key id,
 * fails authentication.
 */
export const VALUE_VERSION = 1;
export const KEY_BYTES = 32;
export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;
export const HEADER_BYTES = 1 + 4 + NONCE_BYTES + TAG_BYTES;

const ALGORITHM = 'aes-256-gcm';

/** Why a sealed value could not be opened. Callers turn this into a LabedgeError. */
export type OpenFailure = 'truncated' | 'version' | 'unknown-key' | 'authentication';

export type OpenResult = { ok: true; plaintext: Buffer; keyId: number } | { ok: false; failure: OpenFailure };

function headerOf(keyId: number): Buffer {
  const header = Buffer.alloc(5);
  header[0] = VALUE_VERSION;
  header.writeUInt32BE(keyId, 1);
  return header;
}

/**
 * Fresh random nonces, drawn from a pool refilled by the CSPRNG 512 at a time: the same
 * randomness as randomBytes(12) per value, without a system call per value (the commit path
 * seals several values per message).
 */
const noncePool = Buffer.alloc(NONCE_BYTES * 512);
let noncePos = noncePool.length;
function freshNonce(): Buffer {
  if (noncePos >= noncePool.length) {
    randomFillSync(noncePool);
    noncePos = 0;
  }
  const nonce = Buffer.from(noncePool.subarray(noncePos, noncePos + NONCE_BYTES));
  noncePool.fill(0, noncePos, noncePos + NONCE_BYTES); // a used nonce never stays in the pool
  noncePos += NONCE_BYTES;
  return nonce;
}

export function seal(key: Buffer, keyId: number, plaintext: Buffer, context: Buffer): Buffer {
  const header = headerOf(keyId);
  const nonce = freshNonce();
  const cipher = createCipheriv(ALGORITHM, key, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(Buffer.concat([header, context]));
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([header, nonce, cipher.getAuthTag(), ciphertext]);
}

/** Reads the key id without authenticating anything (to pick the key). */
export function sealedKeyId(sealed: Buffer): number | undefined {
  if (sealed.length < HEADER_BYTES || sealed[0] !== VALUE_VERSION) return undefined;
  return sealed.readUInt32BE(1);
}

export function open(keyFor: (keyId: number) => Buffer | undefined, sealed: Buffer, context: Buffer): OpenResult {
  if (sealed.length < HEADER_BYTES) return { ok: false, failure: 'truncated' };
  if (sealed[0] !== VALUE_VERSION) return { ok: false, failure: 'version' };
  const keyId = sealed.readUInt32BE(1);
  const key = keyFor(keyId);
  if (!key) return { ok: false, failure: 'unknown-key' };
  const nonce = sealed.subarray(5, 5 + NONCE_BYTES);
  const tag = sealed.subarray(5 + NONCE_BYTES, HEADER_BYTES);
  const decipher = createDecipheriv(ALGORITHM, key, nonce, { authTagLength: TAG_BYTES });
  decipher.setAAD(Buffer.concat([sealed.subarray(0, 5), context]));
  decipher.setAuthTag(tag);
  try {
    const plaintext = Buffer.concat([decipher.update(sealed.subarray(HEADER_BYTES)), decipher.final()]);
    return { ok: true, plaintext, keyId };
  } catch {
    return { ok: false, failure: 'authentication' };
  }
}

/** AAD context for a wrapped data key: a fixed label plus the key id it carries. */
export function wrapContext(keyId: number): Buffer {
  const id = Buffer.alloc(4);
  id.writeUInt32BE(keyId);
  return Buffer.concat([Buffer.from('labedge/data-key-wrap/v1', 'ascii'), id]);
}

/** Wraps a data key under the key-encryption key. The key id in the header is the DEK's own id. */
export function wrapDataKey(kek: Buffer, keyId: number, dek: Buffer): Buffer {
  return seal(kek, keyId, dek, wrapContext(keyId));
}

export function unwrapDataKey(kek: Buffer, keyId: number, wrapped: Buffer): Buffer | undefined {
  const result = open((id) => (id === keyId ? kek : undefined), wrapped, wrapContext(keyId));
  if (!result.ok || result.plaintext.length !== KEY_BYTES) return undefined;
  return result.plaintext;
}
