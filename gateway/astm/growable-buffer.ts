/**
 * A byte buffer that grows by doubling up to a hard limit, so protocol state never
 * holds more memory than its configured bounds.
 */
const INITIAL_CAPACITY = 256;
/** Above this capacity, clear() gives the memory back instead of keeping it for reuse. */
const RETAIN_CAPACITY = 64 * 1024;

export class GrowableBuffer {
  private buf: Buffer;
  private len = 0;

  constructor(readonly limit: number) {
    this.buf = Buffer.allocUnsafe(Math.min(INITIAL_CAPACITY, Math.max(limit, 1)));
  }

  get length(): number {
    return this.len;
  }

  /** Appends one byte; returns false (and appends nothing) at the limit. */
  push(b: number): boolean {
    if (this.len >= this.limit) return false;
    if (this.len === this.buf.length) this.grow(this.len + 1);
    this.buf[this.len++] = b;
    return true;
  }

  /** Appends all of `src`; returns false (and appends nothing) if that would pass the limit. */
  append(src: Uint8Array): boolean {
    if (this.len + src.length > this.limit) return false;
    if (this.len + src.length > this.buf.length) this.grow(this.len + src.length);
    this.buf.set(src, this.len);
    this.len += src.length;
    return true;
  }

  /** The current contents, without copying; valid until the next mutation. */
  view(): Buffer {
    return this.buf.subarray(0, this.len);
  }

  /** A copy of the current contents. */
  copy(): Buffer {
    return Buffer.from(this.view());
  }

  equals(other: GrowableBuffer): boolean {
    return this.len === other.len && this.view().equals(other.view());
  }

  truncate(length: number): void {
    if (length < this.len) this.len = Math.max(0, length);
  }

  clear(): void {
    this.len = 0;
    if (this.buf.length > RETAIN_CAPACITY) this.buf = Buffer.allocUnsafe(INITIAL_CAPACITY);
  }

  private grow(needed: number): void {
    let cap = Math.max(this.buf.length, 1);
    while (cap < needed) cap *= 2;
    const next = Buffer.allocUnsafe(Math.min(cap, this.limit));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }
}
