import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { KEY_BACKUP_FILE } from './keys.js';
import type { KekProvider } from './kek-provider.js';
import type { StoreAlarm } from './queue-types.js';
import { ERASED_KEY, PREFIX, prefixRange } from './record-keys.js';
import { compactRange } from './store-db.js';
import { openStoreFiles } from './store-open.js';

export interface EraseResult {
  /** Wrapped data keys deleted from the database. */
  dataKeys: number;
  /** Whether a KEK existed and was destroyed. */
  kekDestroyed: boolean;
}

/**
 * Crypto-erase for decommissioning: every record stays on disk but nothing can open it.
 * The wrapped data keys are deleted (synced, then compacted out of the table files) and the
 * KEK is destroyed, so even a copy of the database taken earlier plus this box's disk is
 * unreadable once both are gone. A marker records when, so a later open says so clearly.
 * Needs the store to itself (the daemon stopped): it takes the same lease.
 */
export async function cryptoErase(dataDir: string, kek: KekProvider, onAlarm: (a: StoreAlarm) => void = () => undefined): Promise<EraseResult> {
  const files = await openStoreFiles(dataDir, { alarm: onAlarm });
  const { db } = files;
  let dataKeys = 0;
  try {
    const range = prefixRange(PREFIX.dataKey);
    const keys = await db.keys(range).all();
    dataKeys = keys.length;
    await db.batch(
      [...keys.map((key) => ({ type: 'del' as const, key })), { type: 'put' as const, key: ERASED_KEY, value: Buffer.from(JSON.stringify({ at: new Date().toISOString() })) }],
      { sync: true },
    );
    await compactRange(db, { gte: '', lt: '\xff' });
  } finally {
    await db.close();
    await files.lease.release();
    await rm(files.openMarker, { force: true });
    await files.guard.release();
  }
  const kekDestroyed = await kek.exists();
  await kek.destroy();
  // The witness would keep a fresh store from starting here; the box is being wiped anyway.
  await rm(files.witnessFile, { force: true });
  await rm(join(dataDir, KEY_BACKUP_FILE), { force: true });
  return { dataKeys, kekDestroyed };
}
