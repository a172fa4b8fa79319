import { sealedKeyId } from './crypto.js';
import { addDataKey } from './keys.js';
import { dataKeyKey, PREFIX, prefixRange } from './record-keys.js';
import { isIntegrityError } from './record-sealer.js';
import type { StoreInternals } from './store-internals.js';

export interface RewrapProgress {
  /** Values re-sealed under the current key by this step. */
  rewrapped: number;
  /** Old-key values that did not open (damaged): they keep their key from being retired. */
  stuck: number;
  /** Key ids retired (their wrapped entries deleted) by this step. */
  retired: number[];
  /** No old key is left. */
  done: boolean;
  /** A full pass found only values that do not open: the old key stays until they are dealt with. */
  blocked: boolean;
}

const META_RANGE = prefixRange(PREFIX.meta);
const DATA_KEY_RANGE = prefixRange(PREFIX.dataKey);

/**
 * Data-key rotation. `rotate` adds the next key id (wrapped by the KEK, synced) and from
 * then on every new value is sealed with it; old values stay readable under their own id.
 * `rewrapStep` re-seals old values under the current key in bounded batches, each record
 * under its lock and in a synced batch, walking the whole keyspace with a cursor; when a
 * full pass finds no old value left, the old keys are retired (their `k!` entries deleted),
 * after which nothing can open data sealed under them.
 */
export class KeyRotation {
  private cursor: string | undefined;
  private oldSeenInPass = 0;
  private stuckInPass = 0;

  constructor(private readonly s: StoreInternals) {}

  get currentKeyId(): number {
    return this.s.keyring.currentId;
  }

  /** Old keys remain (a re-wrap is due). */
  get pending(): boolean {
    return this.s.keyring.ids().length > 1;
  }

  async rotate(): Promise<number> {
    this.s.assertOpen();
    const next = Math.max(...this.s.keyring.ids(), ...(await this.storedKeyIds())) + 1;
    const dek = await addDataKey(this.s.db, this.s.kek, next);
    this.s.keyring.add(next, dek);
    await this.s.keysChanged();
    this.cursor = undefined;
    this.oldSeenInPass = 0;
    this.stuckInPass = 0;
    return next;
  }

  /** Values per key id (header only, nothing opened): for operators and tests. */
  async census(): Promise<Map<number, number>> {
    const counts = new Map<number, number>();
    for await (const [key, value] of this.s.db.iterator()) {
      if (key.startsWith(PREFIX.dataKey)) continue;
      const id = sealedKeyId(value);
      if (id !== undefined) counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    return counts;
  }

  async rewrapStep(limit = 256): Promise<RewrapProgress> {
    this.s.assertOpen();
    const progress: RewrapProgress = { rewrapped: 0, stuck: 0, retired: [], done: !this.pending, blocked: false };
    if (progress.done) return progress;
    const current = this.s.keyring.currentId;
    const candidates: Array<{ key: string; value: Buffer }> = [];
    let reachedEnd = true;
    const range = this.cursor === undefined ? {} : { gt: this.cursor };
    for await (const [key, value] of this.s.db.iterator(range)) {
      this.cursor = key;
      if (key >= DATA_KEY_RANGE.gte && key < DATA_KEY_RANGE.lt) continue;
      const id = sealedKeyId(value);
      if (id === undefined || id === current || !this.s.keyring.keyFor(id)) continue;
      this.oldSeenInPass += 1;
      if (key >= META_RANGE.gte && key < META_RANGE.lt) continue; // re-sealed in the write path (below)
      candidates.push({ key, value });
      if (candidates.length >= limit) {
        reachedEnd = false;
        break;
      }
    }
    // Concurrently: the group committer folds these into few synced batches.
    const results = await Promise.all(candidates.map((c) => this.rewrapOne(c.key, c.value)));
    progress.rewrapped = results.filter((r) => r === 'rewrapped').length;
    progress.stuck = results.filter((r) => r === 'stuck').length;
    this.stuckInPass += progress.stuck;
    if (!reachedEnd) return progress;

    // End of a pass. Meta entries are re-sealed inside the next synced batch, then the pass restarts.
    const sawOld = this.oldSeenInPass;
    const stuck = this.stuckInPass;
    this.cursor = undefined;
    this.oldSeenInPass = 0;
    this.stuckInPass = 0;
    if (sawOld > 0 && sawOld === stuck) {
      progress.blocked = true;
      return progress;
    }
    if (sawOld > 0) {
      await this.s.requestMetaReseal();
      return progress;
    }
    for (const id of this.s.keyring.ids()) {
      if (id === current) continue;
      await this.s.submit([{ type: 'del', key: dataKeyKey(id) }]);
      this.s.keyring.remove(id);
      progress.retired.push(id);
    }
    await this.s.keysChanged();
    progress.done = true;
    return progress;
  }

  /** Re-seals one record under its lock, unless it changed or went away meanwhile. */
  private rewrapOne(key: string, seen: Buffer): Promise<'rewrapped' | 'changed' | 'stuck'> {
    return this.s.locks.with(key, async () => {
      const value = await this.s.db.get(key);
      if (value === undefined || !value.equals(seen)) return 'changed';
      let plain: Buffer;
      try {
        plain = this.s.sealer.open(key, value, (p) => p);
      } catch (e) {
        if (!isIntegrityError(e)) throw e;
        return 'stuck';
      }
      await this.s.submit([{ type: 'put', key, value: this.s.sealer.seal(key, plain) }]);
      return 'rewrapped';
    });
  }

  private async storedKeyIds(): Promise<number[]> {
    const ids: number[] = [];
    for await (const key of this.s.db.keys(DATA_KEY_RANGE)) ids.push(parseInt(key.slice(PREFIX.dataKey.length), 16));
    return ids.filter(Number.isFinite);
  }
}
