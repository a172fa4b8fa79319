import type { AuditEntry, AuditKind, JsonObject, JsonValue } from './audit-types.js';

/**
 * What of an entry may leave the box (export, trace, syslog): opaque ids, instrument ids,
 * digests, counts, codes, positions and server resource ids. Per kind, only listed fields
 * are copied, so a field added to an entry later stays inside until someone lists it here.
 * Link metadata keeps numbers and booleans only (a string there could be anything).
 */
const FIELDS: Record<AuditKind, readonly string[]> = {
  ingest: ['inboundId', 'sourceId', 'digest', 'bytes', 'receivedAt', 'link', 'payloadRef'],
  transform: ['inboundId', 'outboundId', 'sourceId', 'digest', 'fhirDigest', 'resources', 'unmapped', 'warnings'],
  reject: ['inboundId', 'sourceId', 'digest', 'reasonCode', 'detail', 'deadLetterId'],
  deliver: ['outboundId', 'sourceId', 'server', 'status', 'resources'],
  'dead-letter': ['outboundId', 'sourceId', 'server', 'status', 'reasonCode', 'detail', 'issues', 'deadLetterId'],
  'app-start': ['deviceId', 'version', 'configDigest', 'instruments'],
  'app-stop': ['deviceId', 'reason'],
  'config-change': ['deviceId', 'from', 'to'],
  'dlq-access': ['operator', 'action', 'ids', 'count'],
  'payload-access': ['operator', 'ids', 'digests'],
  'audit-access': ['operator', 'action', 'since', 'format', 'count', 'id'],
  'operator-auth-failure': ['action', 'reason'],
  'uplink-auth-failure': ['server', 'status', 'code', 'outcome'],
  integrity: ['recordId', 'reasonCode', 'detail', 'deadLetterId'],
  'payload-expired': ['count', 'firstRef', 'lastRef', 'retentionDays'],
  'retention-purge': ['rule', 'ids', 'count'],
  'audit-recovery': ['issues', 'restored', 'lost', 'unsure', 'removed'],
  enrollment: ['deviceId', 'server', 'certSha256', 'notAfter'],
  renewal: ['deviceId', 'certSha256', 'serial', 'notAfter'],
  'remote-command': ['command', 'commandId', 'issuer', 'outcome'],
};

function scalarsOnly(v: JsonValue | undefined): JsonObject {
  const out: JsonObject = {};
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return out;
  for (const [k, x] of Object.entries(v)) if (typeof x === 'number' || typeof x === 'boolean') out[k] = x;
  return out;
}

/** The PHI-free body of an entry. */
export function projectBody(entry: AuditEntry): JsonObject {
  const out: JsonObject = {};
  for (const field of FIELDS[entry.kind]) {
    const v = entry.body[field];
    if (v === undefined) continue;
    out[field] = field === 'link' ? scalarsOnly(v) : v;
  }
  return out;
}

/** One exported record: the chain fields and the PHI-free body. */
export function projectEntry(entry: AuditEntry): JsonObject {
  return { seq: entry.seq, time: new Date(entry.time).toISOString(), kind: entry.kind, hash: entry.hash, prev: entry.prev, ...projectBody(entry) };
}

/** True for entries that record a failure (used for severities and outcomes). */
export function isFailure(entry: AuditEntry): boolean {
  switch (entry.kind) {
    case 'reject':
    case 'dead-letter':
    case 'integrity':
    case 'operator-auth-failure':
    case 'uplink-auth-failure':
    case 'audit-recovery':
      return true;
    default:
      return false;
  }
}
