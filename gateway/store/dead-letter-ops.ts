import { LabedgeError } from '../core/errors.js';
import type { WriteOp } from './group-commit.js';
import type { Operator } from '../audit/operator-auth.js';
import type { DeadLetter } from './queue-types.js';
import * as codec from './record-codec.js';
import * as rk from './record-keys.js';
import { isIntegrityError } from './record-sealer.js';
import type { StoreInternals } from './store-internals.js';

/** reasonCode of records quarantined because their stored value failed authentication. */
export const INTEGRITY_REASON = 'integrity';
/** sourceId of a quarantined record whose source cannot be read. */
export const UNKNOWN_SOURCE_ID = '(unknown)';

const PURGE_CHUNK = 500;

export type ReplayTarget = 'inbound' | 'outbound';

function notFound(id: string): LabedgeError {
  return new LabedgeError('LABEDGE_ERR_STORE_NOT_FOUND', `no dead letter ${id}`);
}

/** Opens a dead letter; one that fails authentication comes back as an integrity entry, ciphertext kept. */
export function readDeadLetter(s: StoreInternals, key: string, value: Buffer): DeadLetter {
  try {
    return { id: rk.idOfKey(key), ...s.sealer.open(key, value, codec.decodeDeadLetter) };
  } catch (e) {
    if (!isIntegrityError(e)) throw e;
    return { id: rk.idOfKey(key), sourceId: UNKNOWN_SOURCE_ID, stage: 'transform', reasonCode: INTEGRITY_REASON, detail: e.message, raw: value, at: 0 };
  }
}

/**
 * The operator's dead-letter actions. Each needs an authenticated operator, and each is
 * reported to `onOperatorAccess` (the audit trail) before it takes effect: if that report
 * fails, nothing is shown or changed.
 */
export class DeadLetterOps {
  constructor(private readonly s: StoreInternals) {}

  /** The full dead letter, content included (raw message or bundle). */
  async show(id: string, operator: Operator): Promise<DeadLetter> {
    this.s.assertOpen();
    const key = rk.keyOfId(id, 'deadLetter');
    const value = key === undefined ? undefined : await this.s.db.get(key);
    if (key === undefined || value === undefined) throw notFound(id);
    const letter = readDeadLetter(this.s, key, value);
    await this.s.operatorAccess({ operator: operator.name, action: 'dlq-show', ids: [id], at: this.s.now() });
    return letter;
  }

  /**
   * Puts a dead letter back in the pipeline as a new record, at the back of its queue:
   * to inbound (mapped again; needs the raw message) or to outbound (the stored bundle is
   * sent again). Default: inbound when the raw message is kept, else outbound.
   */
  async replay(id: string, operator: Operator, to?: ReplayTarget): Promise<string> {
    this.s.assertOpen();
    const key = rk.keyOfId(id, 'deadLetter');
    if (key === undefined) throw notFound(id);
    return this.s.locks.with(key, async () => {
      const value = await this.s.db.get(key);
      if (value === undefined) throw notFound(id);
      const letter = readDeadLetter(this.s, key, value);
      if (letter.reasonCode === INTEGRITY_REASON) {
        throw new LabedgeError('LABEDGE_ERR_STORE_INTEGRITY', `dead letter ${id} holds a record that failed authentication; it cannot be replayed`);
      }
      const target = to ?? (letter.raw ? 'inbound' : 'outbound');
      const ops: WriteOp[] = [{ type: 'del', key }];
      let newKey: string;
      let sourceNo: number | undefined;
      if (target === 'inbound') {
        if (!letter.raw) throw new LabedgeError('LABEDGE_ERR_USAGE', `dead letter ${id} keeps no raw message; replay it to outbound`);
        newKey = rk.inboundKey(this.s.nextSeq());
        const body = { sourceId: letter.sourceId, raw: letter.raw, receivedAt: this.s.now(), meta: { replayOf: id } };
        ops.push({ type: 'put', key: newKey, value: this.s.sealer.seal(newKey, codec.encodeInbound(body)) });
      } else {
        if (letter.bundle === undefined) throw new LabedgeError('LABEDGE_ERR_USAGE', `dead letter ${id} keeps no bundle; replay it to inbound`);
        const source = this.s.sourceFor(letter.sourceId);
        sourceNo = source.sourceNo;
        newKey = rk.outboundKey(sourceNo, this.s.nextSeq());
        const body = codec.outboundBody({ sourceId: letter.sourceId, inboundId: letter.originId ?? id, bundle: letter.bundle, createdAt: this.s.now(), attempts: 0 });
        ops.push(...source.ops, { type: 'put', key: newKey, value: this.s.sealer.seal(newKey, codec.encodeOutbound(body)) });
      }
      const newId = rk.idOfKey(newKey);
      await this.s.operatorAccess({ operator: operator.name, action: 'dlq-replay', ids: [id, newId], at: this.s.now() });
      await this.s.submit(ops);
      if (sourceNo !== undefined) this.s.markSourcePersisted(sourceNo);
      this.s.state.counts.deadLetter -= 1;
      this.s.state.counts[target] += 1;
      return newId;
    });
  }

  /** Deletes dead letters older than `olderThanMs` (all when undefined). Returns how many. */
  async purge(operator: Operator, olderThanMs?: number): Promise<number> {
    this.s.assertOpen();
    const cutoff = olderThanMs === undefined ? Number.POSITIVE_INFINITY : this.s.now() - olderThanMs;
    let purged = 0;
    let chunk: string[] = [];
    const flush = async (): Promise<void> => {
      if (chunk.length === 0) return;
      const keys = chunk;
      chunk = [];
      await this.s.operatorAccess({ operator: operator.name, action: 'dlq-purge', ids: keys.map(rk.idOfKey), at: this.s.now() });
      purged += await deleteDeadLetters(this.s, keys);
    };
    // The iterator reads a snapshot, so deleting behind it is safe.
    for await (const [key, value] of this.s.db.iterator(rk.prefixRange(rk.PREFIX.deadLetter))) {
      if (readDeadLetter(this.s, key, value).at < cutoff) chunk.push(key);
      if (chunk.length >= PURGE_CHUNK) await flush();
    }
    await flush();
    return purged;
  }
}

/**
 * Deletes dead letters, each under its lock (a concurrent replay wins cleanly); returns how many
 * existed. `expiredBy` names the retention rule when the sweeper deletes: each deletion then
 * carries its own `retention-purge` audit entry in the same batch, so the chain explains it.
 */
export async function deleteDeadLetters(s: StoreInternals, keys: string[], expiredBy?: string): Promise<number> {
  const done = await Promise.all(
    keys.map((key) =>
      s.locks.with(key, async () => {
        if ((await s.db.get(key)) === undefined) return 0;
        const audit = expiredBy === undefined ? [] : [s.auditOp({ kind: 'retention-purge', body: { rule: expiredBy, ids: [rk.idOfKey(key)], count: 1 } })];
        await s.submit([{ type: 'del', key }, ...audit]);
        s.state.counts.deadLetter -= 1;
        return 1;
      }),
    ),
  );
  return done.reduce<number>((a, b) => a + b, 0);
}
