/**
 * One-at-a-time access per record key. A state change (read, check, write, wait for the
 * sync) holds its key's lock, so two changes to one record never interleave, while
 * changes to different records run together and share group-commit batches.
 */
export class KeyLocks {
  private readonly tails = new Map<string, Promise<void>>();

  async with<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => {
      release = r;
    });
    const tail = previous.then(() => mine);
    this.tails.set(key, tail);
    await previous;
    try {
      return await fn();
    } finally {
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}
