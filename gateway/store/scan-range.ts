import { isIntegrityError } from './record-sealer.js';
import type { StoreDb } from './store-db.js';

/** A value that failed authentication, as seen while reading; detail is the PHI-free error text. */
export interface Corrupt {
  key: string;
  value: Buffer;
  detail: string;
}

/**
 * Reads up to `limit` records of a key range in order, through an iterator (never the
 * whole range at once). Values whose `read` throws an integrity error are handed to
 * `quarantine` and the scan continues past them, so one bad record neither aborts the
 * listing nor disappears silently.
 */
export async function scanRange<T>(
  db: StoreDb,
  range: { gte: string; lt: string },
  limit: number,
  read: (key: string, value: Buffer) => T,
  quarantine: (corrupt: Corrupt) => Promise<void>,
): Promise<T[]> {
  const out: T[] = [];
  let lower: { gte: string } | { gt: string } = { gte: range.gte };
  while (out.length < limit) {
    const corrupt: Corrupt[] = [];
    let last: string | undefined;
    for await (const [key, value] of db.iterator({ ...lower, lt: range.lt, limit: limit - out.length })) {
      last = key;
      try {
        out.push(read(key, value));
      } catch (e) {
        if (!isIntegrityError(e)) throw e;
        corrupt.push({ key, value, detail: e.message });
      }
    }
    for (const c of corrupt) await quarantine(c);
    if (corrupt.length === 0 || last === undefined) break;
    lower = { gt: last };
  }
  return out;
}
