import type { QueueStore, OutboundRecord } from '../store/queue-store.js';
import type { UplinkResult } from '../uplink/fhir-client.js';
import { backoffDelay } from '../uplink/backoff.js';
import { CircuitBreaker, type CircuitBreakerOptions } from '../uplink/circuit-breaker.js';
import { systemClock, type Clock, type TimerHandle } from '../core/clock.js';
import { LabedgeError, describeError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { DaemonEventSink } from './events.js';
import { OutboundReader } from './outbound-reader.js';

/** What the worker needs from the uplink (FhirUplinkClient, or a stand-in in tests). */
export interface BundleSender {
  postBundle(bundle: object): Promise<UplinkResult>;
  /** The same, given the bundle's JSON text as stored (sent as is where it can be); `bundle` parses it. */
  postBundleJson?(json: string, bundle: () => object): Promise<UplinkResult>;
}

export type DeliveryStore = Pick<QueueStore, 'outboundHeads' | 'outboundAfter' | 'stats' | 'delivered' | 'deadLetterOutbound' | 'recordAttempt'> & Partial<Pick<QueueStore, 'noteFailure'>>;

export interface DeliveryWorkerDeps {
  store: DeliveryStore;
  client: BundleSender;
  events: DaemonEventSink;
  logger: Logger;
  /** Re-arms the work loop that calls `step`. */
  wake: () => void;
  clock?: Clock;
  random?: () => number;
  /** Backoff base (default 1000) and cap (default 300000). */
  baseDelayMs?: number;
  capDelayMs?: number;
  /** Bundles in flight across all sources (default 8); each source has at most one. */
  maxInFlight?: number;
  breaker?: Partial<CircuitBreakerOptions>;
  /** Longest Retry-After honoured (default 1 h): a server asking for more is retried after this. */
  maxRetryAfterMs?: number;
  /** Records read ahead per source (default 64; fewer for large bundles), see outbound-reader.ts. */
  readAhead?: number;
}

/**
 * Delivers outbound Bundles: per source strictly in arrival order with one Bundle in flight
 * (a correction never overtakes the result it corrects: a source's next bundle is sent only
 * after the previous one's removal is on disk, so a crash can only ever re-send the newest),
 * sources in parallel with at most `maxInFlight` requests on the wire, oldest backlog first.
 *
 * Failure policy (outcomes from gateway/uplink/classify.ts):
 * - transient (network, 5xx, 408, 429): that source backs off (full jitter, base 1 s, cap
 *   5 min); a Retry-After holds every source until it has passed (it is the server talking);
 *   consecutive transient failures across sources open the circuit breaker, which then lets
 *   one probe through per cool-down;
 * - rejected (4xx blaming the data): that record is dead-lettered with a PHI-free reason
 *   (status, issue codes, entry positions) and the ones behind it move on;
 * - auth (401/403, TLS refusals): delivery pauses for everyone with backoff and an
 *   `uplink-alarm` is raised; nothing is dead-lettered; the alarm clears on the next success.
 * Time comes from the injected clock.
 */
export class DeliveryWorker {
  /** Sources with a request on the wire, and which record it is (one each). */
  private readonly inFlight = new Map<string, string>();
  /** Per source, records whose removal (delivered or dead-lettered) is being committed, with their conditional-update targets. */
  private readonly committing = new Map<string, { id: string; targets: ReadonlySet<string> }[]>();
  /** Requests on the wire (at most maxInFlight). */
  private posting = 0;
  private readonly reader: OutboundReader;
  private readonly attempts = new Map<string, number>();
  private readonly notBefore = new Map<string, number>();
  private readonly pending = new Set<Promise<void>>();
  private readonly clock: Clock;
  private readonly breaker: CircuitBreaker;
  private readonly maxInFlight: number;
  private authPausedUntil = 0;
  private authAttempts = 0;
  private authAlarm = false;
  private circuitAlarm = false;
  private throttledUntil = 0;
  private wakeTimer: TimerHandle | undefined;
  private wakeTimerAt = 0;
  private stopped = false;

  constructor(private readonly deps: DeliveryWorkerDeps) {
    this.clock = deps.clock ?? systemClock();
    // Cool-down: 5 × the backoff base to start with, doubling up to the backoff cap.
    const openMs = deps.breaker?.openMs ?? Math.max(1, (deps.baseDelayMs ?? 1000) * 5);
    const maxOpenMs = deps.breaker?.maxOpenMs ?? Math.max(openMs, deps.capDelayMs ?? 300_000);
    this.breaker = new CircuitBreaker({ ...deps.breaker, openMs, maxOpenMs }, deps.random);
    this.reader = new OutboundReader(deps.store, deps.readAhead ?? 64, () => this.deps.wake());
    this.maxInFlight = deps.maxInFlight ?? 8;
    if (!Number.isInteger(this.maxInFlight) || this.maxInFlight < 1) throw new LabedgeError('LABEDGE_ERR_CONFIG', 'uplink.maxInFlight must be a positive integer');
  }

  /** One pass: start deliveries for free sources, up to the in-flight bound. Completions wake the loop. */
  step = async (): Promise<boolean> => {
    if (this.stopped) return false;
    const now = this.clock.now();
    const gate = Math.max(this.authPausedUntil, this.throttledUntil);
    if (now < gate) {
      this.wakeAt(gate);
      return false;
    }
    if (this.posting >= this.maxInFlight) return false;
    const heads = await this.reader.heads(new Set(this.inFlight.keys()));
    for (const record of heads) {
      if (this.stopped || this.posting >= this.maxInFlight) break;
      const { sourceId } = record;
      if (!this.mayStart(record)) continue;
      const at = this.notBefore.get(sourceId) ?? 0;
      if (at > now) {
        this.wakeAt(at);
        continue;
      }
      const permit = this.breaker.acquire(now);
      if (permit === 'wait') {
        // Open: wake when the probe may go. Half-open: the probe in flight wakes us.
        if (this.breaker.current === 'open') this.wakeAt(this.breaker.retryAt());
        break;
      }
      this.reader.take(sourceId);
      this.start(record, permit === 'probe');
    }
    return false;
  };

  async stop(): Promise<void> {
    this.stopped = true;
    this.clock.clearTimer(this.wakeTimer);
    this.wakeTimer = undefined;
    await Promise.allSettled([...this.pending]);
    await this.reader.idle();
  }

  /** Sources with a delivery under way (posting, or committing its outcome). */
  get inFlightCount(): number {
    const busy = new Set(this.inFlight.keys());
    for (const [sourceId, list] of this.committing) if (list.length > 0) busy.add(sourceId);
    return busy.size;
  }

  /** Requests on the wire now (at most maxInFlight). */
  get postingCount(): number {
    return this.posting;
  }

  /** The breaker's state, for status pages and tests. */
  get circuit(): string {
    return this.breaker.current;
  }

  private start(record: OutboundRecord, probe: boolean): void {
    this.inFlight.set(record.sourceId, record.id);
    const p = this.deliver(record, probe)
      .catch((e) => {
        // The record's state is unknown (e.g. the store failed after the server took it): reread.
        this.reader.release(record.id);
        this.reader.invalidate();
        this.breaker.release(probe);
        this.deps.logger.error({ sourceId: record.sourceId, id: record.id, err: describeError(e) }, 'delivery step failed');
        this.deps.store.noteFailure?.(e);
      })
      .finally(() => {
        // Only if it is still this record's: with pipelining, the source's next may be on the wire.
        if (this.inFlight.get(record.sourceId) === record.id) this.inFlight.delete(record.sourceId);
        const left = this.committing.get(record.sourceId)?.filter((c) => c.id !== record.id) ?? [];
        if (left.length > 0) this.committing.set(record.sourceId, left);
        else this.committing.delete(record.sourceId);
        this.pending.delete(p);
        this.deps.wake();
      });
    this.pending.add(p);
  }

  private async deliver(record: OutboundRecord, probe: boolean): Promise<void> {
    // The POST slot is freed as soon as the outcome's effect on scheduling is decided, so other
    // requests may go while this outcome is committed; see mayStart for what this source may send meanwhile.
    let posting = true;
    const release = (settled = false): void => {
      if (!posting) return;
      posting = false;
      this.posting -= 1;
      if (settled) {
        const list = this.committing.get(record.sourceId) ?? [];
        list.push({ id: record.id, targets: updateTargets(record) });
        this.committing.set(record.sourceId, list);
        if (this.inFlight.get(record.sourceId) === record.id) this.inFlight.delete(record.sourceId);
      }
      this.deps.wake();
    };
    this.posting += 1;
    let result: UplinkResult;
    try {
      const { client } = this.deps;
      result = client.postBundleJson ? await client.postBundleJson(record.bundleJson, () => record.bundle as object) : await client.postBundle(record.bundle as object);
    } catch (e) {
      release();
      throw e;
    }
    const { sourceId, id } = record;
    try {
      switch (result.outcome) {
        case 'ok': {
          release(true);
          await this.deps.store.delivered(id, { sourceId, status: result.status, response: result.response });
          this.finished(record, probe);
          this.deps.events.emit('delivered', { id, sourceId, status: result.status ?? 200, resources: record.resources });
          return;
        }
        case 'rejected': {
          release(true);
          const detail = [result.errorCode, result.summary].filter((s) => s !== undefined && s !== '').join(' ');
          await this.deps.store.deadLetterOutbound(id, { reasonCode: `upstream-${result.status ?? 'rejected'}`, ...(detail && { detail: detail.slice(0, 500) }) }, { sourceId, status: result.status, response: result.response });
          this.finished(record, probe);
          this.deps.events.emit('dead-lettered', { id, sourceId, status: result.status });
          return;
        }
        case 'auth': {
          this.reader.putBack(record);
          this.breaker.release(probe);
          this.authAttempts += 1;
          const delay = this.delay(this.authAttempts - 1, result);
          this.authPausedUntil = Math.max(this.authPausedUntil, this.clock.now() + delay);
          release();
          this.deps.logger.error({ status: result.status, code: result.errorCode, retryInMs: delay }, 'upstream refused our credentials: delivery paused for all instruments');
          if (!this.authAlarm) {
            this.authAlarm = true;
            this.deps.events.emit('uplink-alarm', { kind: 'auth', active: true, status: result.status, code: result.errorCode, retryInMs: delay });
          }
          this.deps.events.emit('delivery-failed', { id, sourceId, outcome: result.outcome, status: result.status, retryInMs: delay });
          this.wakeAt(this.authPausedUntil);
          await this.deps.store.recordAttempt(id).catch(() => undefined);
          return;
        }
        case 'transient': {
          this.reader.putBack(record);
          const attempt = (this.attempts.get(sourceId) ?? 0) + 1;
          this.attempts.set(sourceId, attempt);
          const now = this.clock.now();
          const delay = this.delay(attempt - 1, result);
          this.notBefore.set(sourceId, now + delay);
          if (result.retryAfterMs !== undefined) this.throttledUntil = Math.max(this.throttledUntil, now + this.retryAfter(result.retryAfterMs));
          const opened = this.breaker.failure(now, probe);
          release();
          if (opened) {
            const retryInMs = Math.max(0, this.breaker.retryAt() - now);
            this.deps.logger.warn({ status: result.status, code: result.errorCode, retryInMs }, 'upstream unreachable: circuit open, one probe per cool-down');
            if (!this.circuitAlarm) {
              this.circuitAlarm = true;
              this.deps.events.emit('uplink-alarm', { kind: 'circuit-open', active: true, status: result.status, code: result.errorCode, retryInMs });
            }
            this.wakeAt(this.breaker.retryAt());
          }
          this.deps.events.emit('delivery-failed', { id, sourceId, outcome: result.outcome, status: result.status, retryInMs: delay });
          this.wakeAt(now + delay);
          await this.deps.store.recordAttempt(id).catch(() => undefined);
          return;
        }
        default:
          result.outcome satisfies never;
      }
    } finally {
      release();
    }
  }

  /**
   * A source sends one request at a time, in arrival order. Its next record may go while the
   * previous one's removal is still being committed only if the two share no conditional-update
   * target (`PUT Observation?identifier=…`): were the box to crash before that commit is on
   * disk, the previous record would be sent again after the next one, which is harmless for
   * conditional creates but would let an original overwrite its correction on a shared target.
   * So a correction always waits until the removal of what it corrects is durable.
   */
  private mayStart(record: OutboundRecord): boolean {
    if (this.inFlight.has(record.sourceId)) return false;
    const pending = this.committing.get(record.sourceId);
    if (pending === undefined || pending.length === 0) return true;
    const mine = updateTargets(record);
    if (mine.has('*')) return false;
    return pending.every((p) => !p.targets.has('*') && ![...mine].some((t) => p.targets.has(t)));
  }

  /** The server answered this record for good (delivered or rejected). */
  private finished(record: OutboundRecord, probe: boolean): void {
    this.reader.finished(record.id);
    this.attempts.delete(record.sourceId);
    this.notBefore.delete(record.sourceId);
    if (this.breaker.success(probe) && this.circuitAlarm) {
      this.circuitAlarm = false;
      this.deps.logger.info('upstream reachable again: circuit closed');
      this.deps.events.emit('uplink-alarm', { kind: 'circuit-open', active: false });
    }
    this.authAttempts = 0;
    if (this.authAlarm) {
      this.authAlarm = false;
      this.deps.logger.info('upstream accepted our credentials again: delivery resumed');
      this.deps.events.emit('uplink-alarm', { kind: 'auth', active: false });
    }
  }

  private delay(attempt: number, result: UplinkResult): number {
    const jittered = backoffDelay(attempt, { baseMs: this.deps.baseDelayMs ?? 1000, capMs: this.deps.capDelayMs ?? 300_000 }, this.deps.random);
    return Math.max(jittered, result.retryAfterMs === undefined ? 0 : this.retryAfter(result.retryAfterMs));
  }

  private retryAfter(ms: number): number {
    return Math.min(ms, this.deps.maxRetryAfterMs ?? 3_600_000);
  }

  /** Keeps the earliest pending wake-up: one timer serves every backed-off source. */
  private wakeAt(at: number): void {
    if (this.stopped) return;
    if (this.wakeTimer && this.wakeTimerAt <= at) return;
    this.clock.clearTimer(this.wakeTimer);
    this.wakeTimerAt = at;
    this.wakeTimer = this.clock.setTimer(Math.max(0, at - this.clock.now()), () => {
      this.wakeTimer = undefined;
      this.deps.wake();
    });
  }
}

const targetsCache = new WeakMap<OutboundRecord, ReadonlySet<string>>();

/** What a replay of this record's bundle could change, as a set (see gateway/fhir/bundle-summary.ts). */
export function updateTargets(record: OutboundRecord): ReadonlySet<string> {
  let targets = targetsCache.get(record);
  if (!targets) {
    targets = new Set(record.updateTargets);
    targetsCache.set(record, targets);
  }
  return targets;
}
