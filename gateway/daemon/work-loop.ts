/**
 * Runs `step` until it reports no more work; `wake()` from anywhere re-arms it.
 * Exactly one run is active at a time, so workers need no locks of their own.
 *
 * A step that throws is reported and tried again by itself after a backoff (doubling from
 * `retryBaseMs` up to `retryMaxMs`, reset by a step that succeeds): a transient failure on the
 * last message of a burst must not leave it waiting for a wake that never comes.
 */
export interface WorkLoopOptions {
  retryBaseMs?: number;
  retryMaxMs?: number;
}

export class WorkLoop {
  private running = false;
  private again = false;
  private stopped = false;
  private idle: Promise<void> = Promise.resolve();
  private failures = 0;
  private retry: NodeJS.Timeout | undefined;

  constructor(
    private readonly step: () => Promise<boolean>,
    private readonly onError: (e: unknown) => void,
    private readonly options: WorkLoopOptions = {},
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
    clearTimeout(this.retry);
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
            this.failures = 0;
          } catch (e) {
            this.onError(e);
            this.scheduleRetry();
          }
          if (!more) break;
        }
      } while (this.again && !this.stopped);
    } finally {
      this.running = false;
    }
  }

  private scheduleRetry(): void {
    if (this.stopped || this.retry !== undefined) return;
    const { retryBaseMs = 1000, retryMaxMs = 60_000 } = this.options;
    const delay = Math.min(retryMaxMs, retryBaseMs * 2 ** Math.min(this.failures, 20));
    this.failures += 1;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      this.wake();
    }, delay);
    this.retry.unref();
  }
}
