/**
 * Input bytes not yet processed, kept as copied chunks (callers may reuse their buffers).
 * The receiver fills it while a settle is pending and drains it afterwards.
 */
export class ByteQueue {
  private readonly chunks: Uint8Array[] = [];
  private offset = 0;
  private total = 0;

  /** Bytes queued and not yet taken. */
  get length(): number {
    return this.total - this.offset;
  }

  /** Queues a copy of at most `room` bytes of `bytes`; returns how many were dropped. */
  push(bytes: Uint8Array, room = Infinity): number {
    const kept = bytes.length > room ? bytes.subarray(0, Math.max(0, room)) : bytes;
    if (kept.length > 0) {
      this.chunks.push(new Uint8Array(kept));
      this.total += kept.length;
    }
    return bytes.length - kept.length;
  }

  /** The next byte, or -1 when empty. */
  shift(): number {
    for (;;) {
      const chunk = this.chunks[0];
      if (!chunk) return -1;
      if (this.offset < chunk.length) return chunk[this.offset++] as number;
      this.chunks.shift();
      this.total -= chunk.length;
      this.offset = 0;
    }
  }

  clear(): void {
    this.chunks.length = 0;
    this.offset = 0;
    this.total = 0;
  }
}
