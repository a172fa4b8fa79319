import type { QueueStore, OutboundRecord } from '../store/queue-store.js';
import type { FhirUplinkClient, UplinkResult } from '../uplink/fhir-client.js';
import { backoffDelay } from '../uplink/backoff.js';
import { describeError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { DaemonEventSink } from './events.js';

/**
 * Delivers outbound Bundles: per source strictly in arrival order with one Bundle in
 * flight, sources in parallel. Transient failures back off per source; an auth failure
 * pauses everyone (the data is fine, the credentials are not); a rejection by the server
 * dead-letters that one record so the ones behind it move on.
 */
export class DeliveryWorker {
  private readonly inFlight = new Set<string>();
  private readonly attempts = new Map<string, number>();
  private readonly notBefore = new Map<string, number>();
  private pausedUntil = 0;
  private wakeTimer: NodeJS.Timeout | undefined;
  private wakeTimerAt = 0;
  private stopped = false;
  private readonly pending = new Set<Promise<void>>();

  constructor(
    private readonly deps: {
      store: QueueStore;
      client: FhirUplinkClient;
      events: DaemonEventSink;
      logger: Logger;
      wake: () => void;
      baseDelayMs?: number;
      capDelayMs?: number;
    },
  ) {}

  /** One pass: start a delivery for every source that is free. Completions wake the loop. */
  step = async (): Promise<boolean> => {
    if (this.stopped) return false;
    const now = Date.now();
    if (now < this.pausedUntil) {
      this.wakeAt(this.pausedUntil);
      return false;
    }
    const heads = await this.deps.store.outboundHeads();
    for (const record of heads) {
      if (this.inFlight.has(record.sourceId)) continue;
      const at = this.notBefore.get(record.sourceId) ?? 0;
      if (at > now) {
        this.wakeAt(at);
        continue;
      }
      this.inFlight.add(record.sourceId);
      const p = this.deliver(record)
        .catch((e) => this.deps.logger.error({ sourceId: record.sourceId, id: record.id, err: describeError(e) }, 'delivery step failed'))
        .finally(() => {
          this.inFlight.delete(record.sourceId);
          this.pending.delete(p);
          this.deps.wake();
        });
      this.pending.add(p);
    }
    return false;
  };

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.wakeTimer);
    await Promise.allSettled([...this.pending]);
  }

  get inFlightCount(): number {
    return this.inFlight.size;
  }

  private async deliver(record: OutboundRecord): Promise<void> {
    const result: UplinkResult = await this.deps.client.postBundle(record.bundle as object);
    const { sourceId, id } = record;
    const resources = (record.bundle as { entry?: unknown[] }).entry?.length ?? 0;
    switch (result.outcome) {
      case 'ok':
        await this.deps.store.delivered(id);
        this.attempts.delete(sourceId);
        this.notBefore.delete(sourceId);
        this.deps.events.emit('delivered', { id, sourceId, status: result.status ?? 200, resources });
        return;
      case 'rejected':
        await this.deps.store.deadLetterOutbound(id, { reasonCode: `upstream-${result.status ?? 'rejected'}` });
        this.attempts.delete(sourceId);
        this.deps.events.emit('dead-lettered', { id, sourceId, status: result.status });
        return;
      case 'auth':
      case 'transient': {
        const attempt = (this.attempts.get(sourceId) ?? 0) + 1;
        this.attempts.set(sourceId, attempt);
        await this.deps.store.recordAttempt(id).catch(() => undefined);
        const jittered = backoffDelay(attempt - 1, { baseMs: this.deps.baseDelayMs ?? 1000, capMs: this.deps.capDelayMs ?? 300_000 });
        const delay = Math.max(jittered, result.retryAfterMs ?? 0);
        if (result.outcome === 'auth') {
          this.pausedUntil = Date.now() + delay;
          this.deps.logger.error({ status: result.status, code: result.errorCode, retryInMs: delay }, 'upstream refused our credentials: delivery paused for all instruments');
        } else {
          this.notBefore.set(sourceId, Date.now() + delay);
        }
        this.deps.events.emit('delivery-failed', { id, sourceId, outcome: result.outcome, status: result.status, retryInMs: delay });
        this.wakeAt(Date.now() + delay);
        return;
      }
      default:
        result.outcome satisfies never;
    }
  }

  /** Keeps the earliest pending wake-up: one timer serves every backed-off source. */
  private wakeAt(at: number): void {
    if (this.stopped) return;
    if (this.wakeTimer && this.wakeTimerAt <= at) return;
    clearTimeout(this.wakeTimer);
    this.wakeTimerAt = at;
    this.wakeTimer = setTimeout(() => {
      this.wakeTimer = undefined;
      this.deps.wake();
    }, Math.max(0, at - Date.now()));
    this.wakeTimer.unref();
  }
}
