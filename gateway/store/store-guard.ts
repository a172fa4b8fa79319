import { access, chmod, constants, lstat, readdir, rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { Level } from 'level';
import { LabedgeError } from '../core/errors.js';
import { fsFailure, levelCodes } from './store-db.js';
import { leaseHolderRunning, readLease } from './store-lease.js';

/**
 * The store's process lock: taken before anything touches the data directory, held while the
 * store is open, released after it closes. LevelDB's own LOCK guards the database only once it
 * is open; before that, an open checks tables, links logs aside, may check the store in a
 * child and may move the whole directory to repair it. Two processes doing that at once (an
 * operator's commands beside the daemon) split a running store in two. Node has no file lock
 * of its own; an empty LevelDB beside the store gives one: LevelDB locks its LOCK file with
 * fcntl, which the kernel releases when the process dies, so the guard is never stale (a
 * reboot, a reused pid, a deleted store LOCK change nothing). It holds no data: when its files
 * are damaged (a power cut during the write every open makes), they are made anew, keeping
 * the LOCK file, whose lock is the point.
 */
export const GUARD_DIR = '.guard';

export class StoreGuard {
  private constructor(private readonly db: Level<string, string>) {}

  /**
   * Takes the guard, waiting up to `waitMs` for its holder to let go (a hand-over); otherwise
   * LABEDGE_ERR_STORE_LOCKED naming the holder. `onWait` is told once when waiting starts.
   */
  static async take(dataDir: string, opts: { waitMs: number; holder: () => Promise<string>; onWait?: (holder: string) => void }): Promise<StoreGuard> {
    const dir = join(dataDir, GUARD_DIR);
    await access(dataDir, constants.W_OK).catch((e: unknown) => {
      throw new LabedgeError('LABEDGE_ERR_STORE_COMMIT', `the store cannot be opened, not even to read it (LevelDB writes at every open): ${fsFailure(e, dataDir) ?? 'not writable'}`, { cause: e });
    });
    const deadline = Date.now() + opts.waitMs;
    for (let said = false, mended = false; ; said = true) {
      const db = new Level<string, string>(dir, { createIfMissing: true });
      try {
        // A live holder's fresh lease counts as held whatever the lock files say: a guard (or its LOCK)
        // deleted under a running process would be made anew unheld.
        if (leaseHolderRunning(await readLease(dataDir))) throw Object.assign(new Error('a running process holds the lease'), { code: 'LEVEL_LOCKED' });
        await db.open();
        await chmod(dir, 0o700).catch(() => undefined);
        return new StoreGuard(db);
      } catch (e) {
        const codes = levelCodes(e);
        if (!codes.includes('LEVEL_LOCKED')) {
          // Its lock was ours for that moment (LevelDB locks before it reads anything): nobody holds it.
          if (!mended) {
            mended = true;
            await mend(dir);
            continue;
          }
          throw new LabedgeError('LABEDGE_ERR_STORE_COMMIT', `the store's guard at ${dir} could not be taken (${codes.at(-1) ?? 'error'}); it holds no data: remove it and start again`, { cause: e });
        }
        const holder = await opts.holder();
        if (Date.now() >= deadline) {
          throw new LabedgeError('LABEDGE_ERR_STORE_LOCKED', `the store at ${dataDir} is locked by ${holder}; is another labedge running on this data dir?`, { cause: e });
        }
        if (!said) opts.onWait?.(holder);
        await sleep(Math.min(250, Math.max(10, deadline - Date.now())));
      }
    }
  }

  async release(): Promise<void> {
    await this.db.close().catch(() => undefined);
  }
}

/** Removes the guard's damaged files but its LOCK (or sets aside whatever stands in its place). */
async function mend(dir: string): Promise<void> {
  const stats = await lstat(dir).catch(() => undefined);
  if (stats && !stats.isDirectory()) {
    await rm(dir, { force: true }); // a file or a link where the guard belongs: it never held a lock
    return;
  }
  for (const name of await readdir(dir).catch(() => [] as string[])) if (name !== 'LOCK') await rm(join(dir, name), { recursive: true, force: true });
}
