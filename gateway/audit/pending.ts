import type { AuditEntry, JsonObject } from './audit-types.js';

/**
 * Which queue records the audit trail says are still waiting: an inbound record ingested and
 * not yet transformed, rejected or quarantined; an outbound record transformed and not yet
 * delivered, dead-lettered or quarantined; a record an operator replayed from the dead letters.
 * And which dead letters it says are kept (not replayed, purged or expired).
 * Folded over the chain in order, holding only what is still waiting (about the queue's size).
 * Pure: the store compares it with what it holds after damage (gateway/store/reconcile.ts).
 */
export interface PendingRecord {
  /** The waiting record: `i-…` or `o-…`. */
  id: string;
  /** The inbound id its journey began with: its archived payload (`payloadRef`) holds the raw bytes. */
  inboundId?: string;
  sourceId?: string;
  receivedAt?: number;
  /** The ingest entry's link metadata (the inbound record's meta). */
  link?: JsonObject;
  payloadRef?: string;
  /** The audit seq of the entry that made it wait. */
  since: number;
  /**
   * For a record an operator replayed: the dead letter it came from. The replay's entry is
   * written before the move; a letter still there means the move never happened.
   */
  fromLetter?: string;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
/** The sequence number in a record id (`i-…`, `o-<source>-…`, `d-…`: the last 16 hex digits). */
const seqOfId = (v: unknown): number => {
  const m = typeof v === 'string' ? /^[iod]-(?:[0-9a-f]{8}-)?([0-9a-f]{16})$/.exec(v) : null;
  return m?.[1] ? parseInt(m[1], 16) : 0;
};
const ID_FIELDS = ['inboundId', 'outboundId', 'deadLetterId', 'recordId'] as const;

export class PendingFold {
  private readonly waiting = new Map<string, PendingRecord>();
  /** Dead letters by id, with their journey (for an operator's replay of one). */
  private readonly letters = new Map<string, PendingRecord>();

  /** The highest record sequence number any entry names: a store must never hand it out again. */
  maxSeq = 0;

  add(e: AuditEntry): void {
    const b = e.body;
    for (const f of ID_FIELDS) this.maxSeq = Math.max(this.maxSeq, seqOfId(b[f]));
    if (Array.isArray(b.ids)) for (const id of b.ids) this.maxSeq = Math.max(this.maxSeq, seqOfId(id));
    switch (e.kind) {
      case 'ingest': {
        const id = str(b.inboundId);
        if (!id) return;
        const link = typeof b.link === 'object' && b.link !== null && !Array.isArray(b.link) ? b.link : undefined;
        this.waiting.set(id, {
          id,
          inboundId: id,
          ...(str(b.sourceId) !== undefined && { sourceId: str(b.sourceId) }),
          ...(typeof b.receivedAt === 'number' && { receivedAt: b.receivedAt }),
          ...(link !== undefined && { link }),
          ...(str(b.payloadRef) !== undefined && { payloadRef: str(b.payloadRef) }),
          since: e.seq,
        });
        return;
      }
      case 'transform': {
        const from = this.take(str(b.inboundId));
        const to = str(b.outboundId); // '' when nothing is to be delivered (a host query answered on the line)
        if (to) this.waiting.set(to, { ...from, inboundId: from?.inboundId ?? str(b.inboundId), id: to, since: e.seq });
        return;
      }
      case 'reject':
        this.toLetter(this.take(str(b.inboundId)) ?? { id: str(b.inboundId) ?? '', since: e.seq }, str(b.deadLetterId), e.seq);
        return;
      case 'deliver':
        this.take(str(b.outboundId));
        return;
      case 'dead-letter':
        this.toLetter(this.take(str(b.outboundId)) ?? { id: str(b.outboundId) ?? '', since: e.seq }, str(b.deadLetterId), e.seq);
        return;
      case 'integrity':
        // A quarantined record becomes a dead letter too (it cannot be replayed, but it is kept).
        this.toLetter(this.take(str(b.recordId)) ?? { id: str(b.recordId) ?? '', since: e.seq }, str(b.deadLetterId), e.seq);
        return;
      case 'dlq-access':
      case 'retention-purge': {
        const ids = Array.isArray(b.ids) ? b.ids.filter((x): x is string => typeof x === 'string') : [];
        if (e.kind === 'dlq-access' && b.action === 'dlq-replay' && ids.length === 2) {
          const [letter, record] = ids as [string, string];
          const journey = this.letters.get(letter);
          this.letters.delete(letter);
          this.waiting.set(record, { ...journey, id: record, since: e.seq, fromLetter: letter });
        } else if (e.kind === 'retention-purge' || b.action === 'dlq-purge') {
          for (const id of ids) this.letters.delete(id);
        }
        return;
      }
      default:
        return;
    }
  }

  /** What is still waiting, oldest first. */
  records(): PendingRecord[] {
    return [...this.waiting.values()].sort((a, b) => a.since - b.since);
  }

  /** The dead letters kept, oldest first (`id` is the dead letter's). */
  deadLetters(): PendingRecord[] {
    return [...this.letters.values()].sort((a, b) => a.since - b.since);
  }

  private take(id: string | undefined): PendingRecord | undefined {
    if (id === undefined) return undefined;
    const r = this.waiting.get(id);
    this.waiting.delete(id);
    return r;
  }

  private toLetter(from: PendingRecord, letterId: string | undefined, seq: number): void {
    if (!letterId) return;
    this.letters.set(letterId, { ...from, id: letterId, since: seq });
  }
}
