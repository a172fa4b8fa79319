import { LabedgeError } from '../core/errors.js';
import type { AuditLog } from './audit-log.js';
import { signCheckpoint } from './checkpoint.js';
import type { AuditCheckpoint } from './audit-types.js';

/**
 * Signs and stores a checkpoint of the current head, unless nothing was appended since the
 * last one. Before signing, the chain must still pass through the previous checkpoint (a
 * later checkpoint must extend an earlier one); if it does not, nothing is signed and the
 * caller gets LABEDGE_ERR_AUDIT_BROKEN (and should record an integrity event).
 */
export async function checkpointNow(audit: AuditLog, opts: { deviceId: string; keyPem: string; now: number }): Promise<AuditCheckpoint | undefined> {
  const head = audit.currentHead();
  if (head.seq === 0) return undefined;
  const last = await audit.latestCheckpoint();
  if (last && last.seq >= head.seq) return undefined;
  if (last) {
    const at = await audit.getEntry(last.seq);
    if (!at?.ok || at.entry.hash !== last.hash) {
      throw new LabedgeError('LABEDGE_ERR_AUDIT_BROKEN', `the audit chain no longer passes through the checkpoint at seq ${last.seq}; refusing to sign a new one (run labedge audit verify)`);
    }
  }
  const cp = signCheckpoint({ deviceId: opts.deviceId, head, time: opts.now, keyPem: opts.keyPem, ...(last ? { previous: { seq: last.seq, hash: last.hash } } : {}) });
  await audit.saveCheckpoint(cp);
  return cp;
}
