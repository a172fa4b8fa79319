import { LabedgeError } from '../core/errors.js';
import { FORMAT_KEY } from './record-keys.js';
import type { RecordSealer } from './record-sealer.js';
import type { StoreDb } from './store-db.js';

/**
 * The layout of the values this version writes, marked in the store (`m!format`).
 *   1 (or no mark): raw bytes in the inbound record, bundles as objects in the record header.
 *   2: raw bytes only in the audit trail's payload archive, bundles as compressed JSON text.
 * This version reads both. A store marked newer is refused before anything is read or
 * written: this version would misread it (an older labedge reads a format-2 inbound record as
 * a message of no bytes). Going back to an older version once a newer one has written the
 * store is therefore not supported.
 */
export const STORE_FORMAT = 2;

const encodeFormat = (format: number): Buffer => Buffer.from(JSON.stringify({ format }), 'utf8');

function decodeFormat(plain: Buffer): number | undefined {
  try {
    const format = (JSON.parse(plain.toString('utf8')) as { format?: unknown }).format;
    return typeof format === 'number' && Number.isSafeInteger(format) && format >= 1 ? format : undefined;
  } catch {
    return undefined;
  }
}

/** Refuses a store written by a newer version; marks an older or new one with this version's format. */
export async function claimStoreFormat(db: StoreDb, sealer: RecordSealer): Promise<void> {
  const value = await db.get(FORMAT_KEY);
  const format = value === undefined ? undefined : sealer.open(FORMAT_KEY, value, decodeFormat);
  if (format !== undefined && format > STORE_FORMAT) {
    throw new LabedgeError('LABEDGE_ERR_STORE_FORMAT', `the store was written by a newer labedge (store format ${format}; this version reads up to ${STORE_FORMAT}): run that version`);
  }
  if (format !== STORE_FORMAT) await db.put(FORMAT_KEY, sealer.seal(FORMAT_KEY, encodeFormat(STORE_FORMAT)), { sync: true });
}
