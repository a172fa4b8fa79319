import { readdirSync, statfsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { LabedgeError } from '../core/errors.js';
import type { StoreAlarm } from './queue-types.js';

/**
 * Capacity and backpressure. commitInbound asks `admit` first: when a limit is reached the
 * message is refused with LABEDGE_ERR_STORE_FULL (the instrument gets a NAK and keeps the
 * data), one alarm is raised, and admission resumes by itself when space returns. Nothing
 * already stored is ever dropped to make room. Only new messages are refused: moving,
 * delivering and deleting records goes on, using the headroom the free-disk floor keeps.
 */
export interface StoreLimits {
  /** On-disk size of the database directory. */
  maxBytes: number;
  /** Records waiting (inbound + outbound); dead letters are bounded by retention. */
  maxRecords: number;
  /** Free space the file system must keep. */
  minFreeDiskBytes: number;
}

export const DEFAULT_LIMITS: StoreLimits = {
  maxBytes: 1024 * 1024 * 1024,
  maxRecords: 1_000_000,
  minFreeDiskBytes: 256 * 1024 * 1024,
};

/** Admission resumes only below this share of a limit, so a box at the edge does not flap. */
const RESUME_RATIO = 0.98;
const REFRESH_MS = 1000;
const REFRESH_WHEN_FULL_MS = 200;
/**
 * While full on bytes, a reclaiming compaction: at once when the spell starts; then, after
 * deletes, no sooner than RECLAIM_MIN_MS once a tenth of the waiting records have gone, and
 * otherwise every RECLAIM_MAX_MS (each one rewrites what is left, so not after every delete).
 */
const RECLAIM_MIN_MS = 5_000;
const RECLAIM_MAX_MS = 60_000;

export type FullReason = 'bytes' | 'records' | 'disk';

/** Free space of the file system holding `dir` (a fake only where a real full disk cannot be made). */
export type StatFs = (dir: string) => { bavail: number; bsize: number };

const realStatfs: StatFs = (dir) => {
  const s = statfsSync(dir);
  return { bavail: s.bavail, bsize: s.bsize };
};

export function isNoSpace(e: unknown): boolean {
  for (let cur: unknown = e, depth = 0; cur && depth < 6; depth++) {
    if ((cur as { code?: unknown }).code === 'ENOSPC') return true;
    if (cur instanceof Error && /No space left on device|ENOSPC/.test(cur.message)) return true;
    cur = (cur as { cause?: unknown }).cause;
  }
  return false;
}

/** The database directory is flat (LevelDB's files), so this is one readdir and a stat per file. */
function dirBytes(dir: string): number {
  let total = 0;
  for (const name of readdirSync(dir)) {
    try {
      const s = statSync(join(dir, name));
      if (s.isFile()) total += s.size;
    } catch {
      // deleted by a compaction meanwhile
    }
  }
  return total;
}

/**
 * Measurements are synchronous and cached (at most one directory listing and one statfs per
 * second; every 200 ms while full), so `admit` and `poll` answer at once: the commit path
 * never awaits a measurement, and the link layer can ask at every ENQ.
 */
export class CapacityGuard {
  private bytes = 0;
  private free = Number.POSITIVE_INFINITY;
  private sinceRefresh = 0;
  private refreshedAt = Number.NEGATIVE_INFINITY;
  private full: FullReason | undefined;
  /** A write failed with ENOSPC: full until a measurement shows the floor regained. */
  private noSpace = false;

  constructor(
    private readonly dir: string,
    readonly limits: StoreLimits,
    private readonly deps: {
      now: () => number;
      alarm: (a: StoreAlarm) => void;
      waiting: () => number;
      statfs?: StatFs;
      /**
       * Compacts the store so deleted records leave the files. LevelDB deletes are tombstones:
       * without this, a store full on bytes stays full after its backlog drained.
       */
      reclaim?: () => Promise<void>;
    },
  ) {}

  private deletesSinceReclaim = 0;
  private waitingAtReclaim = 0;
  private reclaimedAt = Number.NEGATIVE_INFINITY;
  private reclaiming = false;

  /** Throws LABEDGE_ERR_STORE_FULL when a new record must be refused. */
  admit(): void {
    const reason = this.poll();
    if (reason) throw fullError(reason);
  }

  /** Whether new records are refused now (re-measuring when the last measurement is stale). */
  poll(): FullReason | undefined {
    const age = this.deps.now() - this.refreshedAt;
    if (age >= (this.full ? REFRESH_WHEN_FULL_MS : REFRESH_MS)) this.refresh();
    const reason = this.evaluate(this.deps.waiting());
    if (reason !== this.full) this.transition(reason);
    if (reason === 'bytes') this.maybeReclaim();
    return reason;
  }

  /** Records deleted by a written batch: space a compaction can give back. */
  noteDeleted(count: number): void {
    this.deletesSinceReclaim += count;
  }

  /** Bytes just written, counted until the next measurement of the directory. */
  noteWritten(bytes: number): void {
    this.sinceRefresh += bytes;
  }

  noteWriteFailure(e: unknown): void {
    if (!isNoSpace(e)) return;
    this.noSpace = true;
    this.refreshedAt = Number.NEGATIVE_INFINITY;
    if (this.full !== 'disk') this.transition('disk');
  }

  get state(): { full: FullReason | undefined; bytes: number; freeDiskBytes: number } {
    return { full: this.full, bytes: this.bytes + this.sinceRefresh, freeDiskBytes: this.free };
  }

  /** In the background, never on the commit path; the next poll after it re-measures. */
  private maybeReclaim(): void {
    const reclaim = this.deps.reclaim;
    if (!reclaim || this.reclaiming) return;
    const since = this.deps.now() - this.reclaimedAt;
    // The first time in a spell whatever the count (tombstones from before count too); then only after deletes.
    const first = this.reclaimedAt === Number.NEGATIVE_INFINITY;
    const many = this.deletesSinceReclaim > 0 && this.deletesSinceReclaim >= this.waitingAtReclaim / 10 && since >= RECLAIM_MIN_MS;
    const some = this.deletesSinceReclaim > 0 && since >= RECLAIM_MAX_MS;
    if (!first && !many && !some) return;
    this.reclaiming = true;
    this.deletesSinceReclaim = 0;
    this.waitingAtReclaim = this.deps.waiting();
    this.reclaimedAt = this.deps.now();
    reclaim()
      .catch(() => undefined) // a failed compaction only leaves the space unclaimed; the next try comes
      .finally(() => {
        this.reclaiming = false;
        this.refreshedAt = Number.NEGATIVE_INFINITY;
      });
  }

  private evaluate(waiting: number): FullReason | undefined {
    const { maxBytes, maxRecords, minFreeDiskBytes } = this.limits;
    const resuming = this.full !== undefined;
    const room = (used: number, limit: number): boolean => (resuming ? used < limit * RESUME_RATIO : used < limit);
    const bytes = this.bytes + this.sinceRefresh;
    const free = this.free - this.sinceRefresh;
    const floorOk = resuming ? free > minFreeDiskBytes / RESUME_RATIO : free > minFreeDiskBytes;
    if (this.noSpace || !floorOk) return 'disk';
    if (!room(bytes, maxBytes)) return 'bytes';
    if (!room(waiting, maxRecords)) return 'records';
    return undefined;
  }

  private transition(reason: FullReason | undefined): void {
    const was = this.full;
    this.full = reason;
    if (reason) {
      if (was) return; // one alarm per full spell, whatever the reason becomes
      this.deps.alarm({ code: 'LABEDGE_ERR_STORE_FULL', severity: 'error', message: `${describe(reason, this.limits)}: new messages are refused (instruments keep them) until space returns` });
    } else if (was) {
      this.reclaimedAt = Number.NEGATIVE_INFINITY; // the next spell starts with a reclaim
      this.deps.alarm({ code: 'LABEDGE_ERR_STORE_FULL', severity: 'info', cleared: true, message: 'the store has room again: accepting new messages' });
    }
  }

  private refresh(): void {
    try {
      const fs = (this.deps.statfs ?? realStatfs)(this.dir);
      this.bytes = dirBytes(this.dir);
      this.free = fs.bavail * fs.bsize;
      this.sinceRefresh = 0;
      if (this.noSpace && this.free > this.limits.minFreeDiskBytes) this.noSpace = false;
    } catch {
      // measuring failed (the directory is being repaired?): keep the last figures
    }
    this.refreshedAt = this.deps.now();
  }
}

function describe(reason: FullReason, limits: StoreLimits): string {
  if (reason === 'bytes') return `the store reached its size limit (${limits.maxBytes} bytes)`;
  if (reason === 'records') return `the store reached its record limit (${limits.maxRecords} waiting)`;
  return `free disk space fell below the floor (${limits.minFreeDiskBytes} bytes) or a write found the disk full`;
}

function fullError(reason: FullReason): LabedgeError {
  return new LabedgeError('LABEDGE_ERR_STORE_FULL', `the store is full (${reason}): message refused, the instrument keeps it`);
}
