import { decodeSeq, decodeSource } from './record-codec.js';
import { outboundSourcePrefix, parseKey, prefixRange, PREFIX, SEQ_KEY } from './record-keys.js';
import type { RecordSealer } from './record-sealer.js';
import type { StoreDb } from './store-db.js';

export interface QueueCounts {
  inbound: number;
  outbound: number;
  deadLetter: number;
}

/** What the store keeps in memory: the small source table, the sequence counter, counts. */
export interface StoreState {
  /** sourceId -> sourceNo, for sources whose table entry could be read. */
  sourceNos: Map<string, number>;
  /** Every sourceNo in use; a damaged table entry keeps its number reserved (name undefined). */
  sourceIds: Map<number, string | undefined>;
  /** The highest sequence number ever allocated (the next is seq + 1). */
  seq: number;
  counts: QueueCounts;
}

async function lastKey(db: StoreDb, prefix: string): Promise<string | undefined> {
  const keys = await db.keys({ ...prefixRange(prefix), reverse: true, limit: 1 }).all();
  return keys[0];
}

async function countKeys(db: StoreDb, prefix: string): Promise<number> {
  let n = 0;
  // Keys only: values are never loaded to count.
  for await (const _key of db.keys(prefixRange(prefix))) n += 1;
  return n;
}

/** Source numbers that have outbound records, found by skipping from one source's range to the next. */
export async function outboundSourceNos(db: StoreDb): Promise<number[]> {
  const found: number[] = [];
  const it = db.keys(prefixRange(PREFIX.outbound));
  try {
    for (;;) {
      const key = await it.next();
      if (key === undefined) break;
      const parsed = parseKey(key);
      if (parsed?.kind !== 'outbound') continue;
      found.push(parsed.sourceNo);
      it.seek(nextSourceStart(parsed.sourceNo));
    }
  } finally {
    await it.close();
  }
  return found;
}

/** The first key after every outbound key of this source. */
export const nextSourceStart = (sourceNo: number): string => outboundSourcePrefix(sourceNo).slice(0, -1) + '"';

function seqOf(key: string | undefined): number {
  if (key === undefined) return 0;
  const parsed = parseKey(key);
  return parsed && 'seq' in parsed ? parsed.seq : 0;
}

/**
 * Rebuilds the in-memory state on open. The sequence resumes above both the persisted
 * high-water mark (so ids of deleted records are never reused) and every key present
 * (belt and braces, should the mark itself be damaged).
 */
export async function loadStoreState(db: StoreDb, sealer: RecordSealer, scan?: { byPrefix: ReadonlyMap<string, number> }): Promise<StoreState> {
  const sourceNos = new Map<string, number>();
  const sourceIds = new Map<number, string | undefined>();
  for await (const [key, value] of db.iterator(prefixRange(PREFIX.source))) {
    const parsed = parseKey(key);
    if (parsed?.kind !== 'source') continue;
    let sourceId: string | undefined;
    try {
      sourceId = sealer.open(key, value, decodeSource);
    } catch {
      sourceId = undefined; // outbound values carry their own sourceId; only the number stays reserved
    }
    sourceIds.set(parsed.sourceNo, sourceId);
    if (sourceId !== undefined && !sourceNos.has(sourceId)) sourceNos.set(sourceId, parsed.sourceNo);
  }

  let seq = 0;
  const mark = await db.get(SEQ_KEY);
  if (mark) {
    try {
      seq = sealer.open(SEQ_KEY, mark, decodeSeq);
    } catch {
      seq = 0;
    }
  }
  seq = Math.max(seq, seqOf(await lastKey(db, PREFIX.inbound)), seqOf(await lastKey(db, PREFIX.deadLetter)));
  // The payload archive (r!<inbound seq>) outlives its records: a new record must never take its number.
  const payload = await lastKey(db, 'r!');
  if (payload !== undefined && /^r![0-9a-f]{16}$/.test(payload)) seq = Math.max(seq, parseInt(payload.slice(2), 16));
  for (const sourceNo of await outboundSourceNos(db)) {
    if (!sourceIds.has(sourceNo)) sourceIds.set(sourceNo, undefined); // never hand out a number in use
    seq = Math.max(seq, seqOf(await lastKey(db, outboundSourcePrefix(sourceNo))));
  }

  // The open's key scan (store-open.ts) has counted already; else count here (keys only).
  const count = async (prefix: string): Promise<number> => (scan ? (scan.byPrefix.get(prefix) ?? 0) : countKeys(db, prefix));
  const counts: QueueCounts = {
    inbound: await count(PREFIX.inbound),
    outbound: await count(PREFIX.outbound),
    deadLetter: await count(PREFIX.deadLetter),
  };
  return { sourceNos, sourceIds, seq, counts };
}
