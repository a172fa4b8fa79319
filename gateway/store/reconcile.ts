import type { AuditLog } from '../audit/audit-log.js';
import { PendingFold, type PendingRecord } from '../audit/pending.js';
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
  restored: string[];
  /** Waiting (or kept dead letters), missing, and not restored: `id (source, received time)`. */
  lost: string[];
  /**
   * Missing, but the trail has a gap after the entry that made them wait: the entry that
   * finished them may be what is gone. Named, never restored (that could bring back a
   * delivered or dead-lettered message).
   */
  unsure: string[];
  /** The trail itself could not be read to the end (damage there too): the comparison is partial. */
  partial: boolean;
}

type Deps = Pick<StoreInternals, 'db' | 'sealer' | 'state' | 'submit' | 'auditOp'> & { audit: Pick<AuditLog, 'entries' | 'readPayload' | 'readHeadMark'> };

const LIST_MAX = 20;
const BATCH = 1000;

const summary = (r: ReconcileResult): string =>
  `reconciled the queue with the audit trail after damage: ${r.restored.length} restored, ${r.lost.length} lost, ${r.unsure.length} possibly lost${r.partial ? ', the trail itself is damaged (partial)' : ''}`;

/** The sequence number a restored inbound record takes: the waiting record's own. */
function seqOf(id: string): number | undefined {
  const parsed = rk.parseKey(id.replaceAll('-', '!'));
  return parsed?.kind === 'inbound' || parsed?.kind === 'outbound' ? parsed.seq : undefined;
}

/** Keys whose presence means the record is here (or further along than the trail knows, or a replay never moved it). */
function keysFor(p: PendingRecord, seq: number, sourceNos: Map<string, number>): string[] {
  const keys = [rk.inboundKey(seq)];
  const sourceNo = p.sourceId === undefined ? undefined : sourceNos.get(p.sourceId);
  if (sourceNo !== undefined) keys.push(rk.outboundKey(sourceNo, seq));
  const own = rk.keyOfId(p.id, 'outbound');
  if (own !== undefined && !keys.includes(own)) keys.push(own);
  const letter = p.fromLetter === undefined ? undefined : rk.keyOfId(p.fromLetter, 'deadLetter');
  if (letter !== undefined) keys.push(letter);
  return keys;
}

function metaOf(link: JsonObject | undefined): codec.Meta | undefined {
  if (!link) return undefined;
  const meta: codec.Meta = {};
  for (const [k, v] of Object.entries(link)) if (typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v))) meta[k] = v;
  return Object.keys(meta).length > 0 ? meta : undefined;
}

const MAX_DATE_MS = 8.64e15;
const describe = (p: PendingRecord): string =>
  `${p.id} (${p.sourceId ?? 'unknown source'}${p.receivedAt !== undefined && Math.abs(p.receivedAt) <= MAX_DATE_MS ? `, received ${new Date(p.receivedAt).toISOString()}` : ''})`;

export async function reconcileWithAudit(d: Deps): Promise<ReconcileResult> {
  const fold = new PendingFold();
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
  const partial = gapUpTo > 0;
  // Numbers the trail names are taken, whether or not their records survived.
  d.state.seq = Math.max(d.state.seq, fold.maxSeq);
  const sourceNos = new Map<string, number>();
  for (const [no, id] of d.state.sourceIds) if (id !== undefined) sourceNos.set(id, no);
  const waiting = fold.records();
  const result: ReconcileResult = { waiting: waiting.length, restored: [], lost: [], unsure: [], partial };
  const puts: Array<{ type: 'put'; key: string; value: Buffer }> = [];
  for (const p of waiting) {
    const seq = seqOf(p.id);
    if (seq === undefined) continue;
    const keys = keysFor(p, seq, sourceNos);
    // A value that cannot be read is there: it is quarantined when the queue reads it.
    const found = await d.db.getMany(keys).catch((e: unknown) => (isCorruption(e) ? keys.map(() => Buffer.alloc(0)) : Promise.reject(e)));
    if (found.some((v) => v !== undefined)) continue;
    if (p.since <= gapUpTo) {
      result.unsure.push(describe(p));
      continue;
    }
    const payload = p.payloadRef === undefined ? 'expired' : await d.audit.readPayload(p.payloadRef);
    if (typeof payload === 'string' || payload.sourceId !== p.sourceId) {
      result.lost.push(describe(p));
      continue;
    }
    // Raw bytes inline (the older record form, still read): the archived payload may sit under
    // another sequence number (a replayed record's), and expiry must not take them meanwhile.
    const key = rk.inboundKey(seq);
    const meta = metaOf(p.link);
    const body: codec.InboundBody = { sourceId: payload.sourceId, receivedAt: payload.receivedAt, raw: payload.raw, ...(meta !== undefined && { meta }) };
    puts.push({ type: 'put', key, value: d.sealer.seal(key, codec.encodeInbound(body)) });
    result.restored.push(rk.idOfKey(key));
  }
  // A dead letter waits for an operator: one the store lost is named (its raw bytes, if kept, are in the archive).
  const letters = fold.deadLetters();
  result.waiting += letters.length;
  for (let i = 0; i < letters.length; i += BATCH) {
    const chunk = letters.slice(i, i + BATCH);
    const keys = chunk.map((p) => rk.keyOfId(p.id, 'deadLetter') ?? '');
    const found = await d.db.getMany(keys).catch((e: unknown) => (isCorruption(e) ? keys.map(() => Buffer.alloc(0)) : Promise.reject(e)));
    chunk.forEach((p, k) => {
      if (keys[k] !== '' && found[k] === undefined) (p.since <= gapUpTo ? result.unsure : result.lost).push(describe(p));
    });
  }
  if (puts.length === 0 && result.lost.length === 0 && result.unsure.length === 0 && !partial) return result;
  // Each batch of restored records carries the audit entry that explains them.
  for (let i = 0; i === 0 || i < puts.length; i += BATCH) {
    const chunk = puts.slice(i, i + BATCH);
    const body: JsonObject = { issues: [summary(result)], restored: chunk.map((op) => rk.idOfKey(op.key)) };
    if (i === 0) {
      body.lost = result.lost.slice(0, BATCH);
      body.unsure = result.unsure.slice(0, BATCH);
    }
    await d.submit([...chunk, d.auditOp({ kind: 'audit-recovery', body })]);
    d.state.counts.inbound += chunk.length;
  }
  return result;
}

/** The alarm text for a reconciliation that found something (PHI-free: ids, instrument ids, times). */
export function describeReconcile(r: ReconcileResult): string {
  const parts = r.restored.length + r.lost.length + r.unsure.length > 0 ? [`the audit trail names ${r.restored.length + r.lost.length + r.unsure.length} record(s) waiting or kept that the damaged store had lost`] : [`no record the audit trail says is waiting or kept is missing`];
  if (r.restored.length > 0) parts.push(`${r.restored.length} restored from their archived raw messages and queued again (${r.restored.slice(0, LIST_MAX).join(', ')}${r.restored.length > LIST_MAX ? ', …' : ''}): upstream writes are conditional, so a second delivery duplicates nothing`);
  if (r.lost.length > 0) parts.push(`${r.lost.length} cannot be restored (raw bytes gone, or a dead letter, d-…): have the instrument send them again: ${r.lost.slice(0, LIST_MAX).join('; ')}${r.lost.length > LIST_MAX ? '; …' : ''}`);
  if (r.unsure.length > 0) parts.push(`${r.unsure.length} missing but not restored, because the audit trail has a gap after them (what finished them may be what is gone): check them upstream before having them sent again: ${r.unsure.slice(0, LIST_MAX).join('; ')}${r.unsure.length > LIST_MAX ? '; …' : ''}`);
  if (r.partial) parts.push('the audit trail itself is damaged, so this comparison is partial: records it can no longer name may be missing');
  return parts.join('; ');
}
