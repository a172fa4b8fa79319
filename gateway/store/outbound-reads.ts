import type { OutboundRecord } from './queue-types.js';
import { READ_AHEAD_CHARS, readAheadFull } from './read-ahead.js';
import * as codec from './record-codec.js';
import * as rk from './record-keys.js';
import { isIntegrityError } from './record-sealer.js';
import type { Corrupt } from './scan-range.js';
import { notFound } from './store-errors.js';
import type { StoreInternals } from './store-internals.js';
import { nextSourceStart } from './store-state.js';

/** An outbound record as handed out: its bundle is parsed only if somebody reads it. */
export function outboundRecord(id: string, body: codec.OutboundBody): OutboundRecord {
  const { sourceId, inboundId, bundleJson, resources, updateTargets, createdAt, attempts } = body;
  let parsed: { value: unknown } | undefined;
  return {
    id,
    sourceId,
    inboundId,
    bundleJson,
    get bundle(): unknown {
      parsed ??= { value: JSON.parse(bundleJson) as unknown };
      return parsed.value;
    },
    resources,
    updateTargets,
    createdAt,
    attempts,
  };
}

/**
 * The store's reads of the outbound queue for delivery, and what they leave known: the keys read
 * and not removed since, which QueueStore.delivered() then trusts to exist without asking
 * LevelDB (a lookup that cost as much as the rest of the removal). Only the store removes
 * outbound records (delivered, dead-lettered, quarantined: each calls `forget` first), and its
 * lease keeps every other writer out.
 */
export class OutboundReads {
  private readonly read = new Set<string>();

  constructor(
    private readonly s: StoreInternals,
    private readonly quarantine: (c: Corrupt) => Promise<void>,
  ) {}

  /** Read by heads/after and neither removed nor forgotten since. */
  known(key: string): boolean {
    return this.read.has(key);
  }

  forget(key: string): void {
    this.read.delete(key);
  }

  /** The oldest `perSource` records of every source (QueueStore.outboundHeads), oldest first. */
  async heads(perSource: number): Promise<OutboundRecord[]> {
    for (;;) {
      const heads: Array<{ seq: number; record: OutboundRecord }> = [];
      const corrupt: Corrupt[] = [];
      let takenFrom = -1;
      let taken = 0;
      let chars = 0;
      const it = this.s.db.iterator(rk.prefixRange(rk.PREFIX.outbound));
      try {
        for (let entry = await it.next(); entry !== undefined; entry = await it.next()) {
          const [key, value] = entry;
          const parsed = rk.parseKey(key);
          if (parsed?.kind !== 'outbound') continue;
          try {
            const record = this.seen(key, this.s.sealer.open(key, value, codec.decodeOutbound));
            heads.push({ seq: parsed.seq, record });
            if (parsed.sourceNo !== takenFrom) [taken, chars] = [0, 0];
            taken += 1;
            chars += record.bundleJson.length;
            takenFrom = parsed.sourceNo;
            if (readAheadFull(taken, chars, perSource)) it.seek(nextSourceStart(parsed.sourceNo)); // per-source FIFO: only the head(s) matter
          } catch (e) {
            if (!isIntegrityError(e)) throw e;
            corrupt.push({ key, value, detail: e.message }); // keep going: the next record may be this source's head
          }
        }
      } finally {
        await it.close();
      }
      for (const c of corrupt) await this.quarantine(c);
      if (corrupt.length === 0) return heads.sort((a, b) => a.seq - b.seq).map((h) => h.record);
    }
  }

  /**
   * For each source given, up to `perSource` of its records that follow the given record id, in
   * order (QueueStore.outboundAfter): the delivery worker's read-ahead continues from what it
   * holds. It seeks straight past that point, so the deleted records of a source's delivered
   * past (LevelDB keeps their tombstones until compaction) are never walked again.
   */
  async after(cursors: ReadonlyMap<string, string>, perSource: number): Promise<OutboundRecord[]> {
    const records: Array<{ seq: number; record: OutboundRecord }> = [];
    const corrupt: Corrupt[] = [];
    for (const [sourceId, afterId] of cursors) {
      const after = rk.keyOfId(afterId, 'outbound');
      const parsed = after === undefined ? undefined : rk.parseKey(after);
      if (after === undefined || parsed?.kind !== 'outbound' || this.s.state.sourceNos.get(sourceId) !== parsed.sourceNo) throw notFound(afterId);
      // Read in large steps: each step is a trip through libuv's thread pool, which the
      // commits' fsyncs keep busy (16 KiB, the default, is about two bundles).
      const it = this.s.db.iterator({ gt: after, lt: nextSourceStart(parsed.sourceNo), limit: perSource, highWaterMarkBytes: READ_AHEAD_CHARS });
      let [taken, chars] = [0, 0];
      try {
        read: for (let batch = await it.nextv(perSource); batch.length > 0; batch = await it.nextv(perSource)) {
          for (const [key, value] of batch) {
            let record: OutboundRecord;
            try {
              record = this.seen(key, this.s.sealer.open(key, value, codec.decodeOutbound));
            } catch (e) {
              if (!isIntegrityError(e)) throw e;
              corrupt.push({ key, value, detail: e.message });
              break read; // the source stops here until the rescan that follows the quarantine
            }
            const at = rk.parseKey(key);
            records.push({ seq: at?.kind === 'outbound' ? at.seq : 0, record });
            taken += 1;
            chars += record.bundleJson.length;
            if (readAheadFull(taken, chars, perSource)) break read;
          }
        }
      } finally {
        await it.close();
      }
    }
    for (const c of corrupt) await this.quarantine(c);
    return records.sort((a, b) => a.seq - b.seq).map((r) => r.record); // oldest first across sources, as outboundHeads
  }

  private seen(key: string, body: codec.OutboundBody): OutboundRecord {
    this.read.add(key);
    return outboundRecord(rk.idOfKey(key), body);
  }
}
