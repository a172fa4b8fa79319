import type { AuditEntry } from './audit-types.js';

/**
 * One message's journey through the chain: ingest → transform → deliver (or reject /
 * dead-letter). Found by its inbound id (`i-…`), outbound id (`o-…`), dead-letter id
 * (`d-…`) or message digest, in two streaming passes over the chain (first to learn the
 * related ids, then to collect every stage), never holding more than the matches.
 */
export interface Journey {
  inboundId: string;
  digest?: string;
  stages: AuditEntry[];
  /** Every digest of the raw bytes recorded along the way is the same one. */
  digestsAgree: boolean;
  complete: boolean;
}

const ID_FIELDS = ['inboundId', 'outboundId', 'deadLetterId'] as const;

function idsOf(entry: AuditEntry): string[] {
  const ids: string[] = [];
  for (const f of ID_FIELDS) {
    const v = entry.body[f];
    if (typeof v === 'string') ids.push(v);
  }
  return ids;
}

const isMessageStage = (e: AuditEntry): boolean =>
  e.kind === 'ingest' || e.kind === 'transform' || e.kind === 'reject' || e.kind === 'deliver' || e.kind === 'dead-letter';

export async function traceMessage(entries: () => AsyncIterable<AuditEntry>, id: string): Promise<Journey[]> {
  const wanted = new Set<string>([id]);
  const byDigest = /^[0-9a-f]{64}$/.test(id);
  for await (const e of entries()) {
    if (!isMessageStage(e)) continue;
    const ids = idsOf(e);
    if (ids.some((x) => wanted.has(x)) || (byDigest && e.body.digest === id)) for (const x of ids) wanted.add(x);
  }
  const journeys = new Map<string, Journey>();
  const outboundToInbound = new Map<string, string>();
  for await (const e of entries()) {
    if (!isMessageStage(e) || !idsOf(e).some((x) => wanted.has(x))) continue;
    const inbound = typeof e.body.inboundId === 'string' ? e.body.inboundId : outboundToInbound.get(String(e.body.outboundId));
    if (inbound === undefined) continue;
    if (typeof e.body.outboundId === 'string') outboundToInbound.set(e.body.outboundId, inbound);
    let j = journeys.get(inbound);
    if (!j) {
      j = { inboundId: inbound, stages: [], digestsAgree: true, complete: false };
      journeys.set(inbound, j);
    }
    j.stages.push(e);
    const digest = typeof e.body.digest === 'string' ? e.body.digest : undefined;
    if (digest !== undefined) {
      if (j.digest !== undefined && j.digest !== digest) j.digestsAgree = false;
      j.digest ??= digest;
    }
  }
  for (const j of journeys.values()) {
    const kinds = new Set(j.stages.map((s) => s.kind));
    j.complete = kinds.has('ingest') && (kinds.has('reject') || (kinds.has('transform') && (kinds.has('deliver') || kinds.has('dead-letter'))));
  }
  return [...journeys.values()];
}
