/**
 * Runs `step` until it reports no more work; `wake()` from anywhere re-arms it.
 * Exactly one run is active at a time, so workers need no locks of their own.
 */
export class WorkLoop {
  private running = false;
  private again = false;
  private stopped = false;
  private idle: Promise<void> = Promise.resolve();

  constructor(
    private readonly step: () => Promise<boolean>,
    private readonly onError: (e: unknown) => void,
  ) {}

  wake(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    this.idle = this.run();
  }

  /** Stops re-arming and waits for the current run to finish. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.idle;
  }

  private async run(): Promise<void> {
    try {
      do {
        this.again = false;
        while (!this.stopped) {
          let more = false;
          try {
            more = await this.step();
          } catch (e) {
            this.onError(e);
          }
          if (!more) break;
        }
      } while (this.again && !this.stopped);
    } finally {
      this.running = false;
    }
  }
}
