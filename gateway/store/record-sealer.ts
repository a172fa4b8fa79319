import { LabedgeError } from '../core/errors.js';
import { createHmac } from 'node:crypto';
import { open, seal, type OpenFailure } from './crypto.js';
import type { Keyring } from './keys.js';

const FAILURE_TEXT: Record<OpenFailure | 'shape', string> = {
  truncated: 'truncated',
  version: 'unknown format version',
  'unknown-key': 'unknown key id',
  authentication: 'authentication tag mismatch',
  shape: 'unexpected content after authentication',
};

/** The integrity error: names the opaque record key and the kind of failure, nothing else. */
export function integrityError(key: string, failure: OpenFailure | 'shape'): LabedgeError {
  return new LabedgeError('LABEDGE_ERR_STORE_INTEGRITY', `stored value at ${key} failed authentication (${FAILURE_TEXT[failure]})`);
}

/** Seals and opens record values under the current data key, with the record key as AAD. */
export class RecordSealer {
  /** Derived index keys by label, for the data key they were derived from (deriving costs an HMAC per call). */
  private readonly indexKeys = new Map<string, { keyId: number; key: Buffer }>();

  constructor(private readonly keyring: Keyring) {}

  /**
   * A keyed MAC (HMAC-SHA-256 under a key derived from the current data key), hex, for opaque
   * index keys: identifying text (e.g. an HL7 control id) never appears in a key. After a key
   * rotation the same text gives another MAC, so old index entries are simply no longer found.
   */
  mac(label: string, text: string): string {
    let derived = this.indexKeys.get(label);
    if (derived?.keyId !== this.keyring.currentId) {
      derived = { keyId: this.keyring.currentId, key: createHmac('sha256', this.keyring.current).update(`labedge-index:${label}`).digest() };
      this.indexKeys.set(label, derived);
    }
    return createHmac('sha256', derived.key).update(text, 'utf8').digest('hex').slice(0, 40);
  }

  seal(key: string, plaintext: Buffer): Buffer {
    return seal(this.keyring.current, this.keyring.currentId, plaintext, Buffer.from(key, 'utf8'));
  }

  /** Opens and decodes a value; any failure is LABEDGE_ERR_STORE_INTEGRITY. */
  open<T>(key: string, sealed: Buffer, decode: (plain: Buffer) => T | undefined): T {
    const result = open(this.keyring.keyFor, sealed, Buffer.from(key, 'utf8'));
    if (!result.ok) throw integrityError(key, result.failure);
    const decoded = decode(result.plaintext);
    if (decoded === undefined) throw integrityError(key, 'shape');
    return decoded;
  }
}

export const isIntegrityError = (e: unknown): e is LabedgeError =>
  e instanceof LabedgeError && e.code === 'LABEDGE_ERR_STORE_INTEGRITY';
