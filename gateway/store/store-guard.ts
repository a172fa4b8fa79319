import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { Level } from 'level';
import { LabedgeError } from '../core/errors.js';
import { levelCodes } from './store-db.js';

/**
 * The store's process lock: taken before anything touches the data directory, held while the
 * store is open, released after it closes. LevelDB's own LOCK guards the database only once it
 * is open; before that, an open checks tables, links logs aside, may check the store in a
 * child and may move the whole directory to repair it. Two processes doing that at once (an
 * operator's commands beside the daemon) split a running store in two. Node has no file lock
 * of its own; an empty LevelDB beside the store gives one: LevelDB locks its LOCK file with
 * fcntl, which the kernel releases when the process dies, so the guard is never stale (a
 * reboot, a reused pid, a deleted store LOCK change nothing).
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
    const deadline = Date.now() + opts.waitMs;
    for (let said = false; ; said = true) {
      const db = new Level<string, string>(dir);
      try {
        await db.open();
        return new StoreGuard(db);
      } catch (e) {
        if (!levelCodes(e).includes('LEVEL_LOCKED')) {
          throw new LabedgeError('LABEDGE_ERR_STORE_COMMIT', `the store's lock at ${dir} could not be taken (${levelCodes(e).at(-1) ?? 'error'})`, { cause: e });
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
