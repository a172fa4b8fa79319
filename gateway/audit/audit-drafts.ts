import { bundleDigest } from './message-digest.js';
import type { AuditDraft, DeadLetterAudit, DeliverAudit, JsonObject, JsonValue, RejectAudit, TransformAudit } from './audit-types.js';

/**
 * Builds the audit drafts of a message's stages from what the store and the workers know.
 * Pure. Everything here goes into sealed entries; nothing is content except the digests.
 */

const MAX_TEXT = 200;
const MAX_LIST = 1000;

const text = (s: string): string => (s.length > MAX_TEXT ? s.slice(0, MAX_TEXT) : s);
const strings = (list: readonly string[] | undefined): string[] => (list ?? []).slice(0, MAX_LIST).map(text);

function linkMeta(meta: Record<string, string | number | boolean> | undefined): JsonObject {
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(meta ?? {})) out[k] = typeof v === 'string' ? text(v) : v;
  return out;
}

export function ingestDraft(a: {
  inboundId: string;
  sourceId: string;
  digest: string;
  bytes: number;
  receivedAt: number;
  meta?: Record<string, string | number | boolean>;
  payloadRef: string;
}): AuditDraft {
  return {
    kind: 'ingest',
    body: { inboundId: a.inboundId, sourceId: a.sourceId, digest: a.digest, bytes: a.bytes, receivedAt: a.receivedAt, link: linkMeta(a.meta), payloadRef: a.payloadRef },
  };
}

export function transformDraft(a: { inboundId: string; outboundId: string; sourceId: string; bundle: unknown; details?: TransformAudit }): AuditDraft {
  const entries = (a.bundle as { entry?: unknown } | null)?.entry;
  const body: JsonObject = {
    inboundId: a.inboundId,
    outboundId: a.outboundId,
    sourceId: a.sourceId,
    fhirDigest: bundleDigest(a.bundle),
    resources: Array.isArray(entries) ? entries.length : 0,
    unmapped: strings(a.details?.unmapped),
    warnings: strings(a.details?.warnings),
  };
  if (a.details?.digest !== undefined) body.digest = a.details.digest;
  return { kind: 'transform', body };
}

export function rejectDraft(a: { inboundId: string; sourceId: string; reasonCode: string; detail?: string; details?: RejectAudit }): AuditDraft {
  const body: JsonObject = { inboundId: a.inboundId, sourceId: a.sourceId, reasonCode: text(a.reasonCode) };
  if (a.detail !== undefined) body.detail = text(a.detail);
  if (a.details?.digest !== undefined) body.digest = a.details.digest;
  return { kind: 'reject', body };
}

/** Resource ids and versions from a transaction-response Bundle: `Observation/12/_history/1`, status, ETag. */
export function returnedResources(response: unknown): JsonObject[] {
  const entries = (response as { resourceType?: unknown; entry?: unknown } | null)?.entry;
  if (!Array.isArray(entries)) return [];
  const out: JsonObject[] = [];
  for (const e of entries.slice(0, MAX_LIST)) {
    const r = (e as { response?: Record<string, unknown> } | null)?.response;
    if (typeof r !== 'object' || r === null) continue;
    const item: JsonObject = {};
    for (const field of ['location', 'status', 'etag', 'lastModified'] as const) {
      const v = r[field];
      if (typeof v === 'string') item[field] = text(v);
    }
    out.push(item);
  }
  return out;
}

/** Issue codes of an OperationOutcome (never its text, which may quote the data). */
export function issueCodes(response: unknown): string[] {
  const o = response as { resourceType?: unknown; issue?: unknown } | null;
  if (o?.resourceType !== 'OperationOutcome' || !Array.isArray(o.issue)) return [];
  return (o.issue as { code?: unknown }[]).map((i) => (typeof i?.code === 'string' ? text(i.code) : 'unknown')).slice(0, MAX_LIST);
}

export function deliverDraft(a: { outboundId: string; details?: DeliverAudit; server?: string }): AuditDraft {
  const body: JsonObject = { outboundId: a.outboundId, resources: returnedResources(a.details?.response) };
  const server = a.details?.server ?? a.server;
  if (server !== undefined) body.server = text(server);
  if (a.details?.status !== undefined) body.status = a.details.status;
  if (a.details?.sourceId !== undefined) body.sourceId = a.details.sourceId;
  return { kind: 'deliver', body };
}

export function deadLetterDraft(a: { outboundId: string; reasonCode: string; detail?: string; details?: DeadLetterAudit; server?: string }): AuditDraft {
  const body: JsonObject = { outboundId: a.outboundId, reasonCode: text(a.reasonCode), issues: issueCodes(a.details?.response) };
  if (a.detail !== undefined) body.detail = text(a.detail);
  const server = a.details?.server ?? a.server;
  if (server !== undefined) body.server = text(server);
  if (a.details?.status !== undefined) body.status = a.details.status;
  if (a.details?.sourceId !== undefined) body.sourceId = a.details.sourceId;
  return { kind: 'dead-letter', body };
}

/** A record quarantined because its stored value failed authentication. */
export function integrityDraft(recordId: string, detail: string): AuditDraft {
  return { kind: 'integrity', body: { recordId, reasonCode: 'integrity', detail: text(detail) } };
}

/** Adds the dead-letter id once the store has allocated it. */
export function withDeadLetterId(draft: AuditDraft, deadLetterId: string): AuditDraft {
  return { kind: draft.kind, body: { ...draft.body, deadLetterId } as Record<string, JsonValue> };
}
