import type { AuditEntry } from './audit-types.js';

/**
 * One message's journey through the chain: ingest → transform → deliver (or reject /
 * dead-letter, and on through an operator's replay of the dead letter). Found by its inbound id (`i-…`), outbound id (`o-…`), dead-letter id
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

/** A dead letter replayed by an operator: `ids` = [dead letter, the new inbound or outbound record]. */
const replayOf = (e: AuditEntry): [string, string] | undefined => {
  const ids = e.body.ids;
  if (e.kind !== 'dlq-access' || e.body.action !== 'dlq-replay' || !Array.isArray(ids) || typeof ids[0] !== 'string' || typeof ids[1] !== 'string') return undefined;
  return [ids[0], ids[1]];
};

export async function traceMessage(entries: () => AsyncIterable<AuditEntry>, id: string): Promise<Journey[]> {
  const wanted = new Set<string>([id]);
  const byDigest = /^[0-9a-f]{64}$/.test(id);
  // Links can point backwards (a replay names a dead letter recorded earlier): repeat until nothing new turns up.
  for (let pass = 0, before = -1; pass < 4 && wanted.size !== before; pass++) {
    before = wanted.size;
    for await (const e of entries()) {
      const replay = replayOf(e);
      const ids = replay ?? (isMessageStage(e) ? idsOf(e) : []);
      if (ids.some((x) => wanted.has(x)) || (byDigest && isMessageStage(e) && e.body.digest === id)) for (const x of ids) wanted.add(x);
    }
  }
  const journeys = new Map<string, Journey>();
  /** Any record id (outbound, dead letter, a replay's new record) → the inbound id its journey started with. */
  const origin = new Map<string, string>();
  for await (const e of entries()) {
    const replay = replayOf(e);
    if ((!isMessageStage(e) && !replay) || !(replay ?? idsOf(e)).some((x) => wanted.has(x))) continue;
    const inboundField = typeof e.body.inboundId === 'string' ? e.body.inboundId : undefined;
    const inbound = replay
      ? origin.get(replay[0])
      : ((inboundField && origin.get(inboundField)) ?? inboundField ?? origin.get(String(e.body.outboundId)));
    if (inbound === undefined) continue;
    for (const x of replay ?? idsOf(e)) if (x !== inbound && !origin.has(x)) origin.set(x, inbound);
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
    const last = j.stages.at(-1)?.kind;
    j.complete = j.stages[0]?.kind === 'ingest' && (last === 'deliver' || last === 'reject' || last === 'dead-letter');
  }
  return [...journeys.values()];
}
