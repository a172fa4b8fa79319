import { describeError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { QueueStore } from './queue-store.js';
import type { RetentionRule, SweepResult } from './retention.js';

export interface SweeperOptions {
  rules: readonly RetentionRule[];
  /** Between retention sweeps (default one hour). */
  intervalMs: number;
  /** Records re-sealed per re-wrap step after a key rotation (bounded batches). */
  rewrapBatch?: number;
  /** Pause between re-wrap steps, so the re-wrap never crowds out live traffic. */
  rewrapPauseMs?: number;
  /** Bound on the audit trail's payload archive, enforced at every sweep (payload-bound.ts); undefined: none. */
  payloadArchiveMaxBytes?: number;
  /** First sweep this long after start (default 30 s: let the backlog move first). */
  firstDelayMs?: number;
  logger?: Logger;
}

/**
 * The store's background housekeeping, started and stopped by the daemon: a retention sweep
 * every interval, and after a key rotation the re-wrap of old records, a bounded batch at a
 * time, until the old key can be retired. Failures are logged and retried next time; they
 * never stop the daemon.
 */
export class StoreSweeper {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = true;
  private rewrapBlocked = false;

  constructor(
    private readonly store: QueueStore,
    private readonly opts: SweeperOptions,
  ) {}

  start(): void {
    this.stopped = false;
    this.schedule(this.opts.firstDelayMs ?? 30_000);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** One retention sweep of every rule. */
  async sweepOnce(): Promise<SweepResult[]> {
    const results = await this.store.sweep(this.opts.rules);
    for (const r of results) {
      if (r.purged > 0) this.opts.logger?.info({ rule: r.rule, purged: r.purged, bytes: r.bytes }, 'retention sweep purged records');
      if (r.overBound) this.opts.logger?.warn({ rule: r.rule, bytes: r.bytes }, 'retention: over the size bound, but the rest is younger than its floor and is kept');
    }
    if (this.opts.payloadArchiveMaxBytes !== undefined) {
      const bound = await this.store.boundPayloads(this.opts.payloadArchiveMaxBytes);
      if (bound.pruned > 0) this.opts.logger?.info({ rule: 'payload archive', purged: bound.pruned, bytes: bound.bytes }, 'retention sweep purged records');
    }
    return results;
  }

  /** Re-wraps until done, blocked or stopped; returns records re-sealed. */
  async rewrapAll(): Promise<number> {
    let total = 0;
    const rotation = this.store.keyRotation;
    while (!this.stopped && rotation.pending && !this.rewrapBlocked) {
      const step = await rotation.rewrapStep(this.opts.rewrapBatch ?? 256);
      total += step.rewrapped;
      if (step.retired.length > 0) this.opts.logger?.info({ retired: step.retired, current: rotation.currentKeyId }, 'key rotation finished: old data keys retired');
      if (step.blocked) {
        this.rewrapBlocked = true;
        this.opts.logger?.error({ current: rotation.currentKeyId }, 'key re-wrap blocked: records under an old key fail authentication; the old key is kept');
      }
      if (step.done) break;
      await new Promise((r) => setTimeout(r, this.opts.rewrapPauseMs ?? 20));
    }
    return total;
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.tick().finally(() => {
        this.running = undefined;
        this.schedule(this.opts.intervalMs);
      });
    }, ms);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    try {
      await this.rewrapAll();
      if (!this.stopped) await this.sweepOnce();
    } catch (e) {
      this.opts.logger?.warn({ err: describeError(e) }, 'store housekeeping failed; retrying at the next interval');
    }
  }
}
