import type { WriteOp } from '../store/group-commit.js';
import { payloadRef } from './audit-keys.js';
import type { AuditLog } from './audit-log.js';

/**
 * Retention of archived raw payloads (`r!<seq>`, written with every ingest entry).
 *
 * The chain keeps, forever, what happened to each message and the SHA-256 of its bytes; the
 * bytes themselves are PHI and are kept only for `retentionMs` after receipt so an operator can
 * show them in `audit trace`. Expired payloads are deleted in one batch together with a
 * `payload-expired` entry naming the range, so a missing payload is always explained by the
 * chain itself. A payload that an inbound record still points at (the message is not yet
 * transformed) is its only copy and is never expired. Queue copies (outbound bundles, dead
 * letters) follow the queue's own rules; an unreadable payload is left for forensics.
 */
export interface PruneResult {
  pruned: number;
  firstRef?: string;
  lastRef?: string;
}

export async function prunePayloads(audit: AuditLog, options: { now: number; retentionMs: number; maxPerRun?: number }): Promise<PruneResult> {
  const cutoff = options.now - options.retentionMs;
  const max = options.maxPerRun ?? 10_000;
  const keys: string[] = [];
  for await (const [key, payload] of audit.payloads()) {
    if (!payload) continue;
    // Keys follow receipt order: the first payload inside the window ends the run, and so does
    // the first that is still a queued message's only copy of its bytes (it is kept, and so
    // is everything after it, until that message is transformed).
    if (payload.receivedAt >= cutoff || keys.length >= max || (await audit.payloadInUse(key))) break;
    keys.push(key);
  }
  if (keys.length === 0) return { pruned: 0 };
  const firstRef = payloadRef(keys[0] as string);
  const lastRef = payloadRef(keys[keys.length - 1] as string);
  const ops: WriteOp[] = keys.map((key) => ({ type: 'del', key }));
  await audit.append({ kind: 'payload-expired', body: { count: keys.length, firstRef, lastRef, retentionDays: Math.round((options.retentionMs / 86_400_000) * 100) / 100 } }, ops);
  return { pruned: keys.length, firstRef, lastRef };
}
