import { randomUUID } from 'node:crypto';
import { checkpointAuditEvent } from './audit-fhir.js';
import type { AuditCheckpoint } from './audit-types.js';

/** The transaction that carries one checkpoint upstream (the uplink posts it like any Bundle). */
export function checkpointBundle(cp: AuditCheckpoint): object {
  return {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [{ fullUrl: `urn:uuid:${randomUUID()}`, resource: checkpointAuditEvent(cp), request: { method: 'POST', url: 'AuditEvent' } }],
  };
}
