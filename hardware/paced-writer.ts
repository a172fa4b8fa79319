/**
 * Writes bytes no faster than a serial line of the given baud rate would carry them
 * (10 bits per byte for 8N1), so a simulated instrument on a pty behaves like the
 * real cable: a pty pair itself ignores the baud rate.
 */
export class PacedWriter {
  private queue: Buffer[] = [];
  private busy = false;
  private closed = false;
  private drainWaiters: (() => void)[] = [];

  constructor(
    private readonly sink: (bytes: Buffer) => void,
    private readonly baudRate: number,
    private readonly bitsPerByte = 10,
    /** Bytes per tick: small enough to keep timing honest, large enough to keep timers few. */
    private readonly chunkBytes = 16,
  ) {}

  write(bytes: Uint8Array): void {
    if (this.closed) return;
    this.queue.push(Buffer.from(bytes));
    if (!this.busy) void this.pump();
  }

  /** Resolves when everything written so far has gone out. */
  drained(): Promise<void> {
    if (!this.busy && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  close(): void {
    this.closed = true;
    this.queue = [];
  }

  private async pump(): Promise<void> {
    this.busy = true;
    const start = Date.now();
    let sent = 0;
    while (this.queue.length > 0 && !this.closed) {
      const head = this.queue[0]!;
      const chunk = head.subarray(0, this.chunkBytes);
      if (chunk.length === head.length) this.queue.shift();
      else this.queue[0] = head.subarray(chunk.length);
      this.sink(chunk);
      sent += chunk.length;
      // Sleep until the line would have carried every byte sent in this burst.
      const due = start + (sent * this.bitsPerByte * 1000) / this.baudRate;
      const wait = due - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
    this.busy = false;
    for (const w of this.drainWaiters.splice(0)) w();
  }
}
