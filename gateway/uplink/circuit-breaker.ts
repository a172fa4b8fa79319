/**
 * A circuit breaker for the upstream server, shared by every source: after `failureThreshold`
 * consecutive transient failures (network errors, 5xx, 408, 429) it opens and no delivery
 * starts until a cool-down has passed; then it lets exactly one probe through (half-open). A
 * probe that reaches the server closes it; a failed probe re-opens it with a doubled cool-down
 * (capped), so a dead server sees one request per cool-down instead of one per source per backoff.
 *
 * Pure: time comes in as arguments, randomness is injected.
 */
import { LabedgeError } from '../core/errors.js';

export interface CircuitBreakerOptions {
  /** Consecutive transient failures (across sources) that open the circuit (default 5). */
  failureThreshold: number;
  /** First cool-down; each re-open doubles it (default 5000). */
  openMs: number;
  /** Longest cool-down (default 300000, the retry cap). */
  maxOpenMs: number;
}

export const DEFAULT_BREAKER: Readonly<CircuitBreakerOptions> = Object.freeze({ failureThreshold: 5, openMs: 5000, maxOpenMs: 300_000 });

export type BreakerState = 'closed' | 'open' | 'half-open';
/** `go`: deliver normally; `probe`: deliver, this one is the half-open probe; `wait`: start nothing before `retryAt()`. */
export type BreakerPermit = 'go' | 'probe' | 'wait';

export class CircuitBreaker {
  private state: BreakerState = 'closed';
  private failures = 0;
  private opens = 0;
  private openUntil = 0;
  private probing = false;
  private readonly opts: CircuitBreakerOptions;

  constructor(opts: Partial<CircuitBreakerOptions> = {}, private readonly random: () => number = Math.random) {
    this.opts = { ...DEFAULT_BREAKER, ...opts };
    const { failureThreshold, openMs, maxOpenMs } = this.opts;
    if (!Number.isInteger(failureThreshold) || failureThreshold < 1) throw new LabedgeError('LABEDGE_ERR_CONFIG', 'circuit breaker failureThreshold must be a positive integer');
    if (!(openMs > 0) || !(maxOpenMs >= openMs)) throw new LabedgeError('LABEDGE_ERR_CONFIG', 'circuit breaker openMs must be positive and maxOpenMs at least openMs');
  }

  get current(): BreakerState {
    return this.state;
  }

  /** When an open circuit lets its probe through (epoch ms). */
  retryAt(): number {
    return this.openUntil;
  }

  /** Asks to start one delivery at `now`; a `probe` permit must be followed by exactly one report. */
  acquire(now: number): BreakerPermit {
    if (this.state === 'closed') return 'go';
    if (this.state === 'open') {
      if (now < this.openUntil) return 'wait';
      this.state = 'half-open';
    }
    if (this.probing) return 'wait';
    this.probing = true;
    return 'probe';
  }

  /** The server answered (any delivered or rejected bundle). Returns true when this closed the circuit. */
  success(probe: boolean): boolean {
    if (probe) this.probing = false;
    this.failures = 0;
    if (this.state === 'closed') return false;
    this.state = 'closed';
    this.opens = 0;
    this.probing = false;
    return true;
  }

  /** A transient failure at `now`. Returns true when this opened (or re-opened) the circuit. */
  failure(now: number, probe: boolean): boolean {
    if (probe) this.probing = false;
    if (this.state === 'open') return false; // a straggler started before the circuit opened
    this.failures += 1;
    if (this.state === 'half-open' ? !probe : this.failures < this.opts.failureThreshold) return false;
    this.opens += 1;
    const ceiling = Math.min(this.opts.maxOpenMs, this.opts.openMs * 2 ** Math.min(this.opens - 1, 30));
    // Equal jitter: at least half the cool-down, so a fleet does not probe in lockstep.
    const r = Math.min(Math.max(this.random(), 0), 1);
    this.openUntil = now + Math.floor(ceiling / 2 + (r * ceiling) / 2);
    this.state = 'open';
    return true;
  }

  /** A delivery ended without telling anything about the server's health (e.g. refused credentials). */
  release(probe: boolean): void {
    if (probe) this.probing = false;
  }
}
