import { decodePayload } from '../audit/audit-codec.js';
import { AUDIT_PREFIX, auditRange, payloadRef } from '../audit/audit-keys.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { WriteOp } from './group-commit.js';
import { approximateSize } from './store-db.js';
import type { StoreInternals } from './store-internals.js';

/**
 * A size bound on the audit trail's payload archive (`r!<seq>`: the raw bytes of every
 * ingested message, the only copy left of a delivered one). Expiry by age is the audit
 * trail's (payload-retention.ts, `audit.payloadRetentionDays`); this bound keeps a busy box's
 * archive from growing into the store's byte limit, where it would refuse new messages with
 * an empty queue. Over the bound, the oldest payloads go first, in chunks, each chunk deleted
 * in one batch with a `payload-expired` entry, so the chain explains every missing payload.
 */
export interface PayloadBoundResult {
  pruned: number;
  /** Archive bytes (sealed values) after the sweep. */
  bytes: number;
}

const CHUNK = 500;
/**
 * LevelDB's cheap size estimate (tables only) decides whether the exact count is worth
 * reading; what is still in the memtable (up to its 4 MiB write buffer) is not in it.
 */
const ESTIMATE_MARGIN = 0.9;
const MEMTABLE_BYTES = 4 * 1024 * 1024;

export async function boundPayloadArchive(s: StoreInternals, audit: AuditLog, maxBytes: number): Promise<PayloadBoundResult> {
  const range = auditRange(AUDIT_PREFIX.payload);
  const estimate = await approximateSize(s.db, range);
  if (estimate !== undefined && estimate + MEMTABLE_BYTES < maxBytes * ESTIMATE_MARGIN) return { pruned: 0, bytes: estimate };
  let bytes = 0;
  for await (const value of s.db.values(range)) bytes += value.length;
  let pruned = 0;
  /** The last key looked at: kept payloads stay behind it, the next chunk starts after it. */
  let after: string | undefined;
  while (bytes > maxBytes) {
    const chunk: Array<{ key: string; value: Buffer }> = [];
    let freed = 0;
    let seen = 0;
    for await (const [key, value] of s.db.iterator({ ...(after === undefined ? { gte: range.gte } : { gt: after }), lt: range.lt, limit: CHUNK })) {
      if (bytes - freed <= maxBytes) break;
      seen += 1;
      after = key;
      // A queued message's only copy of its bytes is kept; it ends the chunk, so each
      // `payload-expired` range is exact, and the next chunk goes on after it.
      if (await audit.payloadInUse(key)) {
        if (chunk.length > 0) break;
        continue;
      }
      chunk.push({ key, value });
      freed += value.length;
    }
    const last = chunk[chunk.length - 1];
    if (!last) {
      if (seen === 0) break; // nothing left to look at
      continue;
    }
    // How old the newest deleted payload was: the retention this bound amounted to.
    let receivedAt: number | undefined;
    try {
      receivedAt = s.sealer.open(last.key, last.value, decodePayload)?.receivedAt;
    } catch {
      receivedAt = undefined; // a damaged payload is deleted with the rest; its age is unknown
    }
    const retentionDays = receivedAt === undefined ? 0 : Math.max(0, Math.round(((s.now() - receivedAt) / 86_400_000) * 100) / 100);
    const ops: WriteOp[] = chunk.map(({ key }) => ({ type: 'del', key }));
    const firstRef = payloadRef(chunk[0]?.key ?? last.key);
    await audit.append({ kind: 'payload-expired', body: { count: chunk.length, firstRef, lastRef: payloadRef(last.key), retentionDays } }, ops);
    pruned += chunk.length;
    bytes -= freed;
  }
  return { pruned, bytes };
}
