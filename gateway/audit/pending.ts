import * as rk from '../store/record-keys.js';
import type { AuditEntry } from './audit-types.js';

/**
 * Which queue records the audit trail says are still waiting: an inbound record ingested and
 * not yet transformed, rejected or quarantined; an outbound record transformed and not yet
 * delivered, dead-lettered or quarantined; a record an operator replayed from the dead letters.
 * And which dead letters it says are kept (not replayed, purged or expired).
 * Folded over the chain in order, holding a few numbers per record still waiting (a backlog
 * of a million costs tens of MB: the fold runs at open, after damage, within the store's
 * memory bound); what a missing record needs to be restored or named is read afterwards from
 * its ingest entry (`origin`). Pure: the store compares it with what it holds (store/reconcile.ts).
 */
export interface PendingRecord {
  /** The waiting record (`i-…`, `o-…-…`) or kept dead letter (`d-…`). */
  id: string;
  seq: number;
  /** The store's number for its source, when the trail let the fold learn it: where the record would be as outbound. */
  sourceNo?: number;
  /** The audit seq of the entry that made it wait. */
  since: number;
  /** The audit seq of the ingest entry its journey began with (its source, time, link and archived payload); 0: not in the trail. */
  origin: number;
  /**
   * For a record an operator replayed: the dead letter it came from. The replay's entry is
   * written before the move; a letter still there means the move never happened.
   */
  fromLetter?: string;
}

type Kind = 'inbound' | 'outbound' | 'deadLetter';

/** What the fold keeps per record: numbers only. Ids are rebuilt from them (rk.*Key). */
interface Slot {
  kind: Kind;
  since: number;
  origin: number;
  /** Source number (-1: unknown). */
  src: number;
  /** Seq of the dead letter a replayed record came from (-1: none). */
  letter: number;
}

interface Parsed {
  kind: Kind;
  seq: number;
  src: number;
}

/** A record id of the store's form, or undefined (odd ids name nothing the store could hold). */
function parseId(v: unknown): Parsed | undefined {
  if (typeof v !== 'string' || v.length > 40) return undefined;
  const p = rk.parseKey(v.replaceAll('-', '!'));
  if (p?.kind === 'inbound' || p?.kind === 'deadLetter') return { kind: p.kind, seq: p.seq, src: -1 };
  if (p?.kind === 'outbound') return { kind: 'outbound', seq: p.seq, src: p.sourceNo };
  return undefined;
}

const ID_FIELDS = ['inboundId', 'outboundId', 'deadLetterId', 'recordId'] as const;

/** The queue record an entry finishes (moves on, out of the queue or to the dead letters), if any. */
export function finishedBy(e: AuditEntry): string | undefined {
  const b = e.body;
  const id = e.kind === 'transform' || e.kind === 'reject' ? b.inboundId : e.kind === 'deliver' || e.kind === 'dead-letter' ? b.outboundId : e.kind === 'integrity' ? b.recordId : undefined;
  return typeof id === 'string' ? id : undefined;
}

export class PendingFold {
  /** Waiting records by seq (a record's seq is its own: transform keeps it, a replay takes a new one). */
  private readonly waiting = new Map<number, Slot>();
  /** Dead letters by seq, with their journey (for an operator's replay of one). */
  private readonly letters = new Map<number, Slot>();

  /** The highest record sequence number any entry names: a store must never hand it out again. */
  maxSeq = 0;

  /** `sourceNoOf`: the store's number for a source id (its source table), so an inbound record's outbound key is known. */
  constructor(private readonly sourceNoOf: (sourceId: string) => number | undefined = () => undefined) {}

  add(e: AuditEntry): void {
    const b = e.body;
    for (const f of ID_FIELDS) this.seen(b[f]);
    if (Array.isArray(b.ids)) for (const id of b.ids) this.seen(id);
    switch (e.kind) {
      case 'ingest': {
        const id = parseId(b.inboundId);
        if (id?.kind !== 'inbound') return;
        const src = typeof b.sourceId === 'string' ? this.sourceNoOf(b.sourceId) : undefined;
        this.wait(id.seq, { kind: 'inbound', since: e.seq, origin: e.seq, src: src ?? -1, letter: -1 });
        return;
      }
      case 'transform': {
        const from = this.take(parseId(b.inboundId));
        const to = parseId(b.outboundId); // '' when nothing is to be delivered (a host query answered on the line)
        if (to?.kind === 'outbound') this.wait(to.seq, { kind: 'outbound', since: e.seq, origin: from?.origin ?? 0, src: to.src, letter: -1 });
        return;
      }
      case 'reject':
        this.toLetter(this.take(parseId(b.inboundId)), b.deadLetterId, e.seq);
        return;
      case 'deliver':
        this.take(parseId(b.outboundId));
        return;
      case 'dead-letter':
        this.toLetter(this.take(parseId(b.outboundId)), b.deadLetterId, e.seq);
        return;
      case 'integrity':
        // A quarantined record becomes a dead letter too (it cannot be replayed, but it is kept).
        this.toLetter(this.take(parseId(b.recordId)), b.deadLetterId, e.seq);
        return;
      case 'audit-recovery': {
        // An earlier comparison restored lost records, as inbound under their own seq (an outbound one is mapped again).
        // (What it removed was not waiting: nothing to undo.)
        for (const v of Array.isArray(b.restored) ? b.restored : []) {
          const id = parseId(v);
          if (id?.kind !== 'inbound') continue;
          const was = this.waiting.get(id.seq);
          this.wait(id.seq, { kind: 'inbound', since: e.seq, origin: was?.origin ?? 0, src: was?.src ?? -1, letter: -1 });
        }
        return;
      }
      case 'dlq-access':
      case 'retention-purge': {
        const ids = Array.isArray(b.ids) ? b.ids : [];
        if (e.kind === 'dlq-access' && b.action === 'dlq-replay' && ids.length === 2) {
          const letter = parseId(ids[0]);
          const record = parseId(ids[1]);
          if (letter?.kind !== 'deadLetter' || (record?.kind !== 'inbound' && record?.kind !== 'outbound')) return;
          const journey = this.letters.get(letter.seq);
          this.letters.delete(letter.seq);
          const src = record.kind === 'outbound' ? record.src : (journey?.src ?? -1);
          this.wait(record.seq, { kind: record.kind, since: e.seq, origin: journey?.origin ?? 0, src, letter: letter.seq });
        } else if (e.kind === 'retention-purge' || b.action === 'dlq-purge') {
          for (const id of ids) {
            const letter = parseId(id);
            if (letter?.kind === 'deadLetter') this.letters.delete(letter.seq);
          }
        }
        return;
      }
      default:
        return;
    }
  }

  /** Whether the trail says this record (`i-`/`o-` by seq) is waiting. */
  isWaiting(seq: number, kind: 'inbound' | 'outbound'): boolean {
    return this.waiting.get(seq)?.kind === kind;
  }

  /** How many records are waiting. */
  get waitingCount(): number {
    return this.waiting.size;
  }

  /** What is still waiting, oldest first (built one at a time: never all at once). */
  *records(): Generator<PendingRecord> {
    for (const [seq, s] of this.waiting) yield recordOf(seq, s);
  }

  /** The dead letters kept, oldest first (`id` is the dead letter's). */
  *deadLetters(): Generator<PendingRecord> {
    for (const [seq, s] of this.letters) yield recordOf(seq, s);
  }

  get deadLetterCount(): number {
    return this.letters.size;
  }

  private seen(v: unknown): void {
    const id = parseId(v);
    if (id && id.seq > this.maxSeq) this.maxSeq = id.seq;
  }

  /** Entries come in seq order: deleting first keeps the maps in `since` order (oldest first). */
  private wait(seq: number, slot: Slot): void {
    this.waiting.delete(seq);
    this.waiting.set(seq, slot);
  }

  private take(id: Parsed | undefined): Slot | undefined {
    if (id === undefined || id.kind === 'deadLetter') return undefined;
    const s = this.waiting.get(id.seq);
    this.waiting.delete(id.seq);
    return s;
  }

  private toLetter(from: Slot | undefined, letterId: unknown, since: number): void {
    const letter = parseId(letterId);
    if (letter?.kind !== 'deadLetter') return;
    this.letters.delete(letter.seq);
    this.letters.set(letter.seq, { kind: 'deadLetter', since, origin: from?.origin ?? 0, src: from?.src ?? -1, letter: -1 });
  }
}

function recordOf(seq: number, s: Slot): PendingRecord {
  const key = s.kind === 'inbound' ? rk.inboundKey(seq) : s.kind === 'outbound' ? rk.outboundKey(s.src, seq) : rk.deadLetterKey(seq);
  return {
    id: rk.idOfKey(key),
    seq,
    since: s.since,
    origin: s.origin,
    ...(s.src >= 0 && { sourceNo: s.src }),
    ...(s.letter >= 0 && { fromLetter: rk.idOfKey(rk.deadLetterKey(s.letter)) }),
  };
}
