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
 * transformed) is its only copy: it is kept, and expiry goes on around it. Queue copies
 * (outbound bundles, dead letters) follow the queue's own rules; an unreadable payload is left
 * for forensics.
 */
export interface PruneResult {
  pruned: number;
  firstRef?: string;
  lastRef?: string;
}

export async function prunePayloads(audit: AuditLog, options: { now: number; retentionMs: number; maxPerRun?: number }): Promise<PruneResult> {
  const cutoff = options.now - options.retentionMs;
  const max = options.maxPerRun ?? 10_000;
  // Runs of consecutive expired payloads: a payload that is kept (unreadable, or still a queued
  // message's only copy of its bytes) ends a run, so each `payload-expired` range is exact.
  const runs: string[][] = [];
  let run: string[] = [];
  let pruned = 0;
  for await (const [key, payload] of audit.payloads()) {
    // Keys follow receipt order: the first payload inside the window ends the sweep.
    if ((payload && payload.receivedAt >= cutoff) || pruned >= max) break;
    if (!payload || (await audit.payloadInUse(key))) {
      if (run.length > 0) runs.push(run);
      run = [];
      continue;
    }
    run.push(key);
    pruned += 1;
  }
  if (run.length > 0) runs.push(run);
  const retentionDays = Math.round((options.retentionMs / 86_400_000) * 100) / 100;
  for (const keys of runs) {
    const ops: WriteOp[] = keys.map((key) => ({ type: 'del', key }));
    await audit.append({ kind: 'payload-expired', body: { count: keys.length, firstRef: payloadRef(keys[0] ?? ''), lastRef: payloadRef(keys.at(-1) ?? ''), retentionDays } }, ops);
  }
  const first = runs[0]?.[0];
  const last = runs.at(-1)?.at(-1);
  return first === undefined || last === undefined ? { pruned: 0 } : { pruned, firstRef: payloadRef(first), lastRef: payloadRef(last) };
}
