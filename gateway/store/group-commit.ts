import { LabedgeError } from '../core/errors.js';

export type WriteOp = { type: 'put'; key: string; value: Buffer } | { type: 'del'; key: string };

/** Writes one batch durably (LevelDB `batch(ops, { sync: true })`). */
export type SyncedBatchWriter = (ops: WriteOp[]) => Promise<void>;

interface Pending {
  ops: WriteOp[];
  resolve: () => void;
  reject: (e: unknown) => void;
}

export interface GroupCommitStats {
  /** Synced batches written (one fsync each). */
  batches: number;
  /** Submissions carried by those batches. */
  submissions: number;
}

/**
 * Group commit: submissions arriving within `windowMs` of the first one (or while a batch
 * is being synced) share one synced batch, so many instruments cost one fsync. Each
 * submission's promise settles only after its batch is on disk; if the batch fails, every
 * submission in it rejects with LABEDGE_ERR_STORE_COMMIT. Batches are written one at a
 * time, in submission order, so later writes never overtake earlier ones.
 *
 * `extraOps` is called at flush time and its ops ride along in every batch (the sequence
 * high-water mark), after the submissions' own ops.
 */
export class GroupCommitter {
  private pending: Pending[] = [];
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  private inFlight: Promise<void> | undefined;
  private closed = false;
  private readonly counters: GroupCommitStats = { batches: 0, submissions: 0 };

  constructor(
    private readonly write: SyncedBatchWriter,
    private readonly windowMs: number,
    private readonly extraOps: () => WriteOp[] = () => [],
  ) {}

  submit(ops: WriteOp[]): Promise<void> {
    if (this.closed) return Promise.reject(new LabedgeError('LABEDGE_ERR_STORE_COMMIT', 'the store is closed'));
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ ops, resolve, reject });
      this.schedule();
    });
  }

  stats(): GroupCommitStats {
    return { ...this.counters };
  }

  /** Refuses new submissions and waits for everything already submitted to settle. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.immediate) {
      clearImmediate(this.immediate);
      this.immediate = undefined;
    }
    while (this.inFlight || this.pending.length > 0) {
      if (!this.inFlight) this.flush();
      await this.inFlight;
    }
  }

  private schedule(): void {
    if (this.inFlight || this.timer || this.immediate) return; // the running flush picks these up when it ends
    if (this.windowMs <= 0) {
      // No window: what was submitted in this turn of the event loop goes now; whatever
      // arrives while that batch syncs goes in the next one (the fsync is the window).
      this.immediate = setImmediate(() => {
        this.immediate = undefined;
        this.flush();
      });
      return;
    }
    // A ref'd timer: a pending durable write must keep the process alive.
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, this.windowMs);
  }

  private flush(): void {
    const group = this.pending;
    this.pending = [];
    if (group.length === 0) return;
    const settle = async (): Promise<void> => {
      let failure: unknown;
      try {
        await this.write(group.flatMap((p) => p.ops).concat(this.extraOps()));
      } catch (e) {
        failure = new LabedgeError('LABEDGE_ERR_STORE_COMMIT', `a synced batch of ${group.length} writes failed`, { cause: e });
      }
      // Whatever queued up during the sync has waited long enough: it goes to disk now, before
      // this group's callers run on, so their work overlaps its sync instead of preceding it.
      this.inFlight = undefined;
      if (this.pending.length > 0) this.flush();
      if (failure !== undefined) {
        for (const p of group) p.reject(failure);
        return;
      }
      this.counters.batches += 1;
      this.counters.submissions += group.length;
      for (const p of group) p.resolve();
    };
    this.inFlight = settle();
  }
}
