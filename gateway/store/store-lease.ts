import { hostname } from 'node:os';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Who writes the store. LevelDB's own LOCK (an flock, released by the kernel when the
 * holder dies) is what actually keeps a second writer out; this lease file says who holds
 * it, so the refusal can name the holder (pid, host, since when, last renewed) instead of
 * a bare "locked" crash loop. A lease left by a process that died is stale by definition
 * once the LOCK is ours again, and is taken over.
 */
export interface LeaseInfo {
  pid: number;
  host: string;
  /** ISO time the holder opened the store. */
  since: string;
  /** ISO time of the holder's last renewal (every RENEW_MS while it runs). */
  renewed: string;
  /**
   * The holder's queue counts at the last renewal (counts only, never content): what
   * `labedge queue stats` shows while the daemon holds the store.
   */
  status?: LeaseStatus;
}

export interface LeaseStatus {
  inbound: number;
  outbound: number;
  deadLetter: number;
  /** Why new messages are refused, if they are (capacity.ts FullReason). */
  full?: string;
}

export const LEASE_FILE = 'lease.json';
const RENEW_MS = 10_000;

function isLease(v: unknown): v is LeaseInfo {
  const l = v as Partial<LeaseInfo> | null;
  return typeof l === 'object' && l !== null && typeof l.pid === 'number' && typeof l.host === 'string' && typeof l.since === 'string' && typeof l.renewed === 'string';
}

export async function readLease(dataDir: string): Promise<LeaseInfo | undefined> {
  try {
    const parsed: unknown = JSON.parse(await readFile(join(dataDir, LEASE_FILE), 'utf8'));
    return isLease(parsed) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/** Renewed within three renewal periods: its holder is alive (a stale lease's counts are not the store's). */
export function leaseIsFresh(lease: LeaseInfo, now = Date.now()): boolean {
  const age = now - Date.parse(lease.renewed);
  return age >= -RENEW_MS && age <= 3 * RENEW_MS;
}

/**
 * Whether the lease names a process on this host, not this one, that renewed it lately and
 * still runs: its holder is alive, whatever the lock files say (they can be deleted under it).
 */
export function leaseHolderRunning(lease: LeaseInfo | undefined, now = Date.now()): boolean {
  if (!lease || lease.host !== hostname() || lease.pid === process.pid || !leaseIsFresh(lease, now)) return false;
  try {
    process.kill(lease.pid, 0); // signal 0: only asks whether the process exists
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function describeLease(lease: LeaseInfo | undefined, now = Date.now()): string {
  if (!lease) return 'another process (no lease file names it)';
  const ago = Math.max(0, Math.round((now - Date.parse(lease.renewed)) / 1000));
  const stale = leaseIsFresh(lease, now) ? '' : '; the lease is stale, so the process holding the store may be another';
  return `pid ${lease.pid} on host ${lease.host} (since ${lease.since}, renewed ${ago} s ago${stale})`;
}

/** Our lease, written once the LevelDB lock is ours; renewed until released. */
export class StoreLease {
  private timer: NodeJS.Timeout | undefined;
  private readonly info: LeaseInfo;
  private status: (() => LeaseStatus) | undefined;
  private writing: Promise<void> = Promise.resolve();

  private constructor(
    private readonly dataDir: string,
    now: number,
  ) {
    const at = new Date(now).toISOString();
    this.info = { pid: process.pid, host: hostname(), since: at, renewed: at };
  }

  /** Call only while holding the LevelDB lock. Returns the previous holder's lease if it was not ours. */
  static async take(dataDir: string): Promise<{ lease: StoreLease; previous?: LeaseInfo }> {
    const before = await readLease(dataDir);
    const lease = new StoreLease(dataDir, Date.now());
    await lease.write();
    lease.timer = setInterval(() => {
      lease.info.renewed = new Date().toISOString();
      lease.refresh();
    }, RENEW_MS);
    lease.timer.unref();
    const stale = before && !(before.pid === process.pid && before.host === lease.info.host);
    return stale ? { lease, previous: before } : { lease };
  }

  /** Publishes the holder's counts with every renewal, starting now. */
  reportStatus(status: () => LeaseStatus): void {
    this.status = status;
    this.refresh();
  }

  private refresh(): void {
    if (this.status) this.info.status = this.status();
    // One write at a time, so release() can wait for the last and no write lands after it.
    this.writing = this.writing.then(() => this.write()).catch(() => undefined); // a missed renewal only ages the lease; the LOCK still holds
  }

  async release(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    this.status = undefined;
    await this.writing;
    const current = await readLease(this.dataDir);
    if (current?.pid === this.info.pid && current.host === this.info.host) await rm(join(this.dataDir, LEASE_FILE), { force: true });
  }

  private async write(): Promise<void> {
    const file = join(this.dataDir, LEASE_FILE);
    const tmp = `${file}.${process.pid}.tmp`;
    await writeFile(tmp, `${JSON.stringify(this.info)}\n`, { mode: 0o600 });
    await rename(tmp, file);
  }
}
