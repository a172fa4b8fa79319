import type { AuditLog } from '../audit/audit-log.js';
import { finishedBy, PendingFold, type PendingRecord } from '../audit/pending.js';
import type { WriteOp } from './group-commit.js';
import type { JsonObject } from '../audit/audit-types.js';
import * as codec from './record-codec.js';
import * as rk from './record-keys.js';
import { isCorruption } from './store-db.js';
import type { StoreInternals } from './store-internals.js';

/**
 * After damage (a table failing its checksum, a repair, a write-ahead log LevelDB cut short,
 * fewer records than the commit witness saw), the store compares itself with the audit trail:
 * every record the trail says is still waiting must be here. One that is not is restored, as
 * an inbound record, from the raw bytes the payload archive kept, so it is mapped and delivered
 * again (upstream writes are conditional: a second delivery duplicates nothing); one whose
 * bytes are gone too is named in the alarm, so the lab can have the instrument send it again.
 * Runs only after damage: it reads the whole chain.
 */
export interface ReconcileResult {
  /** Records the trail says are waiting, and dead letters it says are kept. */
  waiting: number;
  restored: Named;
  /** Waiting (or kept dead letters), missing, and not restored: `id (source, received time)`. */
  lost: Named;
  /**
   * Missing, but the trail has a gap after the entry that made them wait: the entry that
   * finished them may be what is gone. Named, never restored (that could bring back a
   * delivered or dead-lettered message).
   */
  unsure: Named;
  /**
   * Queue records the store holds although the trail says they were finished (delivered,
   * dead-lettered, mapped, rejected or quarantined, in the batch that removed them): the damage
   * took the table holding their removal. Removed again: an original delivered a second time
   * would overwrite a later correction upstream.
   */
  removed: Named;
  /**
   * When the trail reopened shorter than its witness saw (its last entries lost with a table):
   * the waiting records present that those entries may have finished (per source the oldest,
   * as many as entries were lost; delivery goes in order), to be held as dead letters instead
   * of delivered again (QueueStore.reconcile).
   */
  held: string[];
  /** The trail itself could not be read to the end (damage there too): the comparison is partial. */
  partial: boolean;
}

/** The dead-letter reason of a record held after the trail lost entries that may have finished it. */
export const HELD_AFTER_DAMAGE = 'held-after-damage';

/** How many, and the first few by name (for the alarm); every one is named in the audit trail's audit-recovery entries. */
export interface Named {
  count: number;
  first: string[];
}

type Deps = Pick<StoreInternals, 'db' | 'sealer' | 'state' | 'submit' | 'auditOp'> & {
  audit: Pick<AuditLog, 'entries' | 'getEntry' | 'readPayload' | 'readHeadMark'>;
  /** The head the audit witness saw, when the trail reopened short of it. */
  auditWitnessed?: number;
};

const LIST_MAX = 20;
/** Records compared per read, and names or restored records per audit-recovery entry: memory stays bounded whatever the backlog. */
const BATCH = 1000;

const summary = (r: ReconcileResult): string =>
  `reconciled the queue with the audit trail after damage: ${r.restored.count} restored, ${r.lost.count} lost, ${r.unsure.count} possibly lost, ${r.removed.count} finished records that came back removed, ${r.held.length} held${r.partial ? ', the trail itself is damaged (partial)' : ''}`;

/**
 * The waiting records present that `lost` lost trail entries may have finished: per source the
 * oldest outbound ones, and the oldest inbound ones, `lost` of each (each entry finishes at most
 * one record, and a source's records are delivered, and inbound ones mapped, oldest first).
 */
async function mayBeFinished(d: Deps, fold: PendingFold, lost: number): Promise<string[]> {
  const held: string[] = [];
  const perSource = new Map<number, number>();
  let inbound = 0;
  for (const prefix of [rk.PREFIX.inbound, rk.PREFIX.outbound]) {
    for await (const key of d.db.keys(rk.prefixRange(prefix))) {
      const p = rk.parseKey(key);
      if (p?.kind === 'inbound' && inbound < lost && fold.isWaiting(p.seq, 'inbound')) {
        inbound += 1;
        held.push(rk.idOfKey(key));
      } else if (p?.kind === 'outbound' && (perSource.get(p.sourceNo) ?? 0) < lost && fold.isWaiting(p.seq, 'outbound')) {
        perSource.set(p.sourceNo, (perSource.get(p.sourceNo) ?? 0) + 1);
        held.push(rk.idOfKey(key));
      }
    }
  }
  return held;
}

/** Records held but not waiting, checked against the trail in a second pass; past this many, the rest are not. */
const CANDIDATES_MAX = 200_000;

/**
 * The queue records the store holds that the trail says were finished. Only positive evidence
 * counts: a record the trail does not finish (newer than its end, or behind a gap) stays.
 */
async function finishedButHere(d: Deps, fold: PendingFold, restored: ReadonlySet<string>): Promise<string[]> {
  const candidates = new Map<string, string>(); // id → key
  for (const prefix of [rk.PREFIX.inbound, rk.PREFIX.outbound]) {
    for await (const key of d.db.keys(rk.prefixRange(prefix))) {
      const p = rk.parseKey(key);
      // A waiting outbound record the damage took comes back as the inbound record of its seq: restored, not finished.
      if ((p?.kind === 'inbound' || p?.kind === 'outbound') && !fold.isWaiting(p.seq, p.kind) && !restored.has(key)) candidates.set(rk.idOfKey(key), key);
      if (candidates.size >= CANDIDATES_MAX) break;
    }
  }
  const found: string[] = [];
  if (candidates.size === 0) return found;
  for await (const e of d.audit.entries()) {
    const id = finishedBy(e);
    const key = id === undefined ? undefined : candidates.get(id);
    if (key === undefined) continue;
    found.push(key);
    candidates.delete(id ?? '');
    if (candidates.size === 0) break;
  }
  return found;
}

/** Keys whose presence means the record is here (or further along than the trail knows, or a replay never moved it). */
function keysFor(p: PendingRecord): string[] {
  if (p.id.startsWith('d-')) return [rk.deadLetterKey(p.seq)];
  const keys = [rk.inboundKey(p.seq)];
  if (p.sourceNo !== undefined) keys.push(rk.outboundKey(p.sourceNo, p.seq));
  const letter = p.fromLetter === undefined ? undefined : rk.keyOfId(p.fromLetter, 'deadLetter');
  if (letter !== undefined) keys.push(letter);
  return keys;
}

function metaOf(link: unknown): codec.Meta | undefined {
  if (typeof link !== 'object' || link === null || Array.isArray(link)) return undefined;
  const meta: codec.Meta = {};
  for (const [k, v] of Object.entries(link)) if (typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v))) meta[k] = v;
  return Object.keys(meta).length > 0 ? meta : undefined;
}

/** What a missing record's ingest entry says of it (its journey's start), read only for the missing. */
interface Origin {
  sourceId?: string;
  receivedAt?: number;
  link?: unknown;
  payloadRef?: string;
}

async function originOf(d: Deps, p: PendingRecord): Promise<Origin> {
  if (p.origin <= 0) return {};
  const opened = await d.audit.getEntry(p.origin).catch((e: unknown) => (isCorruption(e) ? undefined : Promise.reject(e)));
  if (!opened?.ok || opened.entry.kind !== 'ingest') return {};
  const b = opened.entry.body;
  return {
    ...(typeof b.sourceId === 'string' && { sourceId: b.sourceId }),
    ...(typeof b.receivedAt === 'number' && { receivedAt: b.receivedAt }),
    ...(b.link !== undefined && { link: b.link }),
    ...(typeof b.payloadRef === 'string' && b.payloadRef !== '' && { payloadRef: b.payloadRef }),
  };
}

const MAX_DATE_MS = 8.64e15;
const describe = (p: PendingRecord, o: Origin): string =>
  `${p.id} (${o.sourceId ?? 'unknown source'}${o.receivedAt !== undefined && Math.abs(o.receivedAt) <= MAX_DATE_MS ? `, received ${new Date(o.receivedAt).toISOString()}` : ''})`;

/** Yields `xs` in arrays of `n`. */
function* chunks<T>(xs: Iterable<T>, n: number): Generator<T[]> {
  let chunk: T[] = [];
  for (const x of xs) {
    chunk.push(x);
    if (chunk.length === n) {
      yield chunk;
      chunk = [];
    }
  }
  if (chunk.length > 0) yield chunk;
}

/**
 * Writes what the comparison finds as it goes: restored records with the audit-recovery entry
 * that explains them, and the names of the lost, at most BATCH of each per entry; the last
 * entry carries the summary.
 */
class Recovery {
  /** Restored records (puts) and finished ones that came back (deletes). */
  private puts: WriteOp[] = [];
  private named: Record<'restored' | 'lost' | 'unsure' | 'removed', string[]> = { restored: [], lost: [], unsure: [], removed: [] };

  constructor(
    private readonly d: Deps,
    readonly result: ReconcileResult,
  ) {}

  /** Keys of the records restored (never taken for finished ones that came back). */
  readonly restoredKeys = new Set<string>();

  async restore(key: string, value: Buffer): Promise<void> {
    this.restoredKeys.add(key);
    this.puts.push({ type: 'put', key, value });
    await this.name('restored', rk.idOfKey(key));
  }

  async remove(key: string): Promise<void> {
    this.puts.push({ type: 'del', key });
    await this.name('removed', rk.idOfKey(key));
  }

  async name(what: 'restored' | 'lost' | 'unsure' | 'removed', text: string): Promise<void> {
    const r = this.result[what];
    r.count += 1;
    if (r.first.length < LIST_MAX) r.first.push(text);
    this.named[what].push(text);
    if (this.named[what].length >= BATCH) await this.flush(['reconciling the queue with the audit trail after damage: continued in the next entry']);
  }

  async finish(): Promise<void> {
    const r = this.result;
    if (r.restored.count === 0 && r.lost.count === 0 && r.unsure.count === 0 && r.removed.count === 0 && r.held.length === 0 && !r.partial) return;
    await this.flush([summary(r)]);
  }

  private async flush(issues: string[]): Promise<void> {
    const { puts, named } = this;
    this.puts = [];
    this.named = { restored: [], lost: [], unsure: [], removed: [] };
    const body: JsonObject = { issues, restored: named.restored, lost: named.lost, unsure: named.unsure, ...(named.removed.length > 0 && { removed: named.removed }) };
    await this.d.submit([...puts, this.d.auditOp({ kind: 'audit-recovery', body })]);
    this.d.state.counts.inbound += named.restored.length;
    for (const id of named.removed) this.d.state.counts[id.startsWith('i-') ? 'inbound' : 'outbound'] -= 1;
  }
}

export async function reconcileWithAudit(d: Deps): Promise<ReconcileResult> {
  const sourceNos = new Map<string, number>();
  for (const [no, id] of d.state.sourceIds) if (id !== undefined) sourceNos.set(id, no);
  const fold = new PendingFold((sourceId) => sourceNos.get(sourceId));
  let last = 0;
  /** The last audit seq the trail lacks (entries missing or unreadable): it cannot vouch for what they held. */
  let gapUpTo = 0;
  try {
    for await (const e of d.audit.entries()) {
      if (e.seq !== last + 1) gapUpTo = e.seq - 1;
      last = e.seq;
      fold.add(e);
    }
  } catch (e) {
    if (!isCorruption(e)) throw e;
    gapUpTo = Number.POSITIVE_INFINITY;
  }
  const mark = await d.audit.readHeadMark().catch(() => 'unreadable' as const);
  if (mark === 'unreadable' || (mark === undefined && last > 0)) gapUpTo = Number.POSITIVE_INFINITY; // the end of the trail is unknown
  else if (mark !== undefined && mark.seq > last) gapUpTo = mark.seq;
  // A trail shorter than its witness saw lost its last entries: what they finished is unknown.
  const lostTail = d.auditWitnessed !== undefined && d.auditWitnessed > last ? d.auditWitnessed - last : 0;
  if (lostTail > 0) gapUpTo = Number.POSITIVE_INFINITY;
  const partial = gapUpTo > 0;
  // Numbers the trail names are taken, whether or not their records survived.
  d.state.seq = Math.max(d.state.seq, fold.maxSeq);
  const none = (): Named => ({ count: 0, first: [] });
  const out = new Recovery(d, { waiting: fold.waitingCount + fold.deadLetterCount, restored: none(), lost: none(), unsure: none(), removed: none(), held: [], partial });
  /** The records of `chunk` with none of their keys in the store (a value that cannot be read is there: it is quarantined when the queue reads it). */
  const missing = async (chunk: PendingRecord[]): Promise<PendingRecord[]> => {
    const keys = chunk.map(keysFor);
    const flat = keys.flat();
    const found = await d.db.getMany(flat).catch((e: unknown) => (isCorruption(e) ? flat.map(() => Buffer.alloc(0)) : Promise.reject(e)));
    let at = 0;
    return chunk.filter((_, i) => {
      const n = keys[i]?.length ?? 0;
      const here = found.slice(at, at + n).some((v) => v !== undefined);
      at += n;
      return !here;
    });
  };
  for (const chunk of chunks(fold.records(), BATCH)) {
    for (const p of await missing(chunk)) {
      const origin = await originOf(d, p);
      if (p.since <= gapUpTo) {
        await out.name('unsure', describe(p, origin));
        continue;
      }
      const payload = origin.payloadRef === undefined ? 'expired' : await d.audit.readPayload(origin.payloadRef);
      if (typeof payload === 'string' || payload.sourceId !== origin.sourceId) {
        await out.name('lost', describe(p, origin));
        continue;
      }
      // Raw bytes inline (the older record form, still read): the archived payload may sit under
      // another sequence number (a replayed record's), and expiry must not take them meanwhile.
      const key = rk.inboundKey(p.seq);
      const meta = metaOf(origin.link);
      const body: codec.InboundBody = { sourceId: payload.sourceId, receivedAt: payload.receivedAt, raw: payload.raw, ...(meta !== undefined && { meta }) };
      await out.restore(key, d.sealer.seal(key, codec.encodeInbound(body)));
    }
  }
  // A dead letter waits for an operator: one the store lost is named (its raw bytes, if kept, are in the archive).
  for (const chunk of chunks(fold.deadLetters(), BATCH)) {
    for (const p of await missing(chunk)) await out.name(p.since <= gapUpTo ? 'unsure' : 'lost', describe(p, await originOf(d, p)));
  }
  for (const key of await finishedButHere(d, fold, out.restoredKeys)) await out.remove(key);
  if (lostTail > 0) out.result.held = await mayBeFinished(d, fold, lostTail);
  await out.finish();
  return out.result;
}

/** The alarm text for a reconciliation that found something (PHI-free: ids, instrument ids, times). */
export function describeReconcile(r: ReconcileResult): string {
  const list = (n: Named, sep: string): string => `${n.first.join(sep)}${n.count > n.first.length ? `${sep}… (all are named in the audit trail's audit-recovery entries)` : ''}`;
  const total = r.restored.count + r.lost.count + r.unsure.count;
  const parts = total > 0 ? [`the audit trail names ${total} record(s) waiting or kept that the damaged store had lost`] : [`no record the audit trail says is waiting or kept is missing`];
  if (r.held.length > 0) parts.push(`the audit trail lost its last entries, which may have delivered or mapped ${r.held.length} waiting record(s): they are held as dead letters (reason ${HELD_AFTER_DAMAGE}), not delivered again, so an old result cannot overwrite a later one upstream; check them upstream, then replay them (${r.held.slice(0, LIST_MAX).join(', ')}${r.held.length > LIST_MAX ? ', …' : ''})`);
  if (r.removed.count > 0) parts.push(`${r.removed.count} record(s) the audit trail says were already delivered, dead-lettered or mapped came back with the damage and were removed again, so an old result cannot overwrite a later correction upstream (${list(r.removed, ', ')})`);
  if (r.restored.count > 0) parts.push(`${r.restored.count} restored from their archived raw messages and queued again (${list(r.restored, ', ')}): upstream writes are conditional, so a second delivery duplicates nothing`);
  if (r.lost.count > 0) parts.push(`${r.lost.count} cannot be restored (raw bytes gone, or a dead letter, d-…): have the instrument send them again: ${list(r.lost, '; ')}`);
  if (r.unsure.count > 0) parts.push(`${r.unsure.count} missing but not restored, because the audit trail has a gap after them (what finished them may be what is gone): check them upstream before having them sent again: ${list(r.unsure, '; ')}`);
  if (r.partial) parts.push('the audit trail itself is damaged, so this comparison is partial: records it can no longer name may be missing');
  return parts.join('; ');
}
