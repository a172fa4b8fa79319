/**
 * ASTM E1381 / CLSI LIS01-A2 sender role, sans-I/O: used by `labedge simulate` acting as
 * an instrument, and for host-query replies. Replies come in through consume(), frames go
 * out through write(), time comes from the injected clock.
 */
import type { Clock, TimerHandle } from '../core/clock.js';
import { LabedgeError } from '../core/errors.js';
import { ACK, ENQ, EOT, NAK } from './control-bytes.js';
import { DEFAULT_MAX_TEXT_PER_FRAME, encodeFrames } from './frame-encoder.js';
import type { LinkEvent } from './link-events.js';
import { checkCount, checkPositive } from './link-options.js';

export { encodeFrames } from './frame-encoder.js';

export type SendFailure =
  /** No reply to ENQ or to a frame within replyTimeoutMs (6 times for a frame). */
  | 'timeout'
  /** 6 NAKs for one frame, or 6 busy NAKs to ENQ. */
  | 'retries-exhausted'
  /** The receiver answered a frame before the last with EOT (receiver interrupt). */
  | 'interrupted'
  /** ENQ from the other side while we were establishing: it has priority, we yielded. */
  | 'contention'
  /** NAK to ENQ with busyWait off: the caller schedules the next ENQ. */
  | 'busy'
  | 'destroyed';

export type SendResult = { ok: true } | { ok: false; reason: SendFailure };

export interface E1381SenderOptions {
  clock: Clock;
  write(bytes: Uint8Array): void;
  /** Text bytes per frame (default 240: the E1381-95 247-byte frame). */
  maxTextPerFrame?: number;
  /** Wait this long for a reply to ENQ or to a frame (default 15000 ms). */
  replyTimeoutMs?: number;
  /** Failures per frame (NAK or timeout), or busy NAKs to ENQ, before giving up (default 6). */
  maxRetries?: number;
  /** Wait after a busy NAK to ENQ before the next ENQ (default 10000 ms). */
  busyDelayMs?: number;
  /**
   * true (default): a NAK to ENQ waits busyDelayMs and re-sends ENQ, up to maxRetries times.
   * false: it ends the attempt with reason 'busy', so an owner that also receives on this
   * line (E1381Link) can let the other side talk first and schedule the next ENQ itself.
   */
  busyWait?: boolean;
  onEvent?(event: LinkEvent): void;
}

export const SenderState = {
  Neutral: 'neutral',
  Establishing: 'establishing',
  BusyWait: 'busy-wait',
  Transferring: 'transferring',
  Destroyed: 'destroyed',
} as const;
export type SenderState = (typeof SenderState)[keyof typeof SenderState];

interface Job {
  readonly frames: Buffer[];
  readonly resolve: (result: SendResult) => void;
}

export class E1381Sender {
  private readonly opts: E1381SenderOptions;
  private readonly maxText: number;
  private readonly replyTimeoutMs: number;
  private readonly maxRetries: number;
  private readonly busyDelayMs: number;
  private readonly busyWait: boolean;

  private st: SenderState = SenderState.Neutral;
  private readonly queue: Job[] = [];
  private job: Job | null = null;
  private frameIndex = 0;
  private failures = 0;
  private busyNaks = 0;
  private timer: TimerHandle | undefined;

  constructor(opts: E1381SenderOptions) {
    if (typeof opts.write !== 'function') {
      throw new LabedgeError('LABEDGE_ERR_CONFIG', 'E1381Sender needs a write function');
    }
    this.opts = opts;
    this.maxText = checkCount('maxTextPerFrame', opts.maxTextPerFrame ?? DEFAULT_MAX_TEXT_PER_FRAME, 1);
    this.replyTimeoutMs = checkPositive('replyTimeoutMs', opts.replyTimeoutMs ?? 15000);
    this.maxRetries = checkCount('maxRetries', opts.maxRetries ?? 6, 1);
    this.busyDelayMs = checkPositive('busyDelayMs', opts.busyDelayMs ?? 10000);
    this.busyWait = opts.busyWait ?? true;
  }

  get state(): SenderState {
    return this.st;
  }

  /**
   * Sends one message in its own session (ENQ, frames, EOT). Calls made while a message is
   * in flight are queued. Rejects (LABEDGE_ERR_ASTM_FRAME) if a record cannot be framed.
   */
  send(records: readonly string[] | readonly Buffer[]): Promise<SendResult> {
    return new Promise((resolve, reject) => {
      try {
        this.transmit(records, resolve);
      } catch (e) {
        reject(e);
      }
    });
  }

  /**
   * send() with a callback, called synchronously from whatever event ends the attempt (a
   * reply byte, a timer, destroy()), so an owner can act on the outcome before the next byte.
   * Throws LABEDGE_ERR_ASTM_FRAME if a record cannot be framed.
   */
  transmit(records: readonly string[] | readonly Buffer[], done: (result: SendResult) => void): void {
    if (this.st === SenderState.Destroyed) return done({ ok: false, reason: 'destroyed' });
    const frames = encodeFrames(records, this.maxText);
    if (frames.length === 0) return done({ ok: true });
    this.queue.push({ frames, resolve: done });
    this.startNext();
  }

  /**
   * Contention seen by the owner (the other side's ENQ arrived while we wait for the answer
   * to ours): give up this attempt without EOT, reason 'contention'. No-op in other states.
   */
  yieldToPeer(): void {
    if (this.st !== SenderState.Establishing) return;
    this.opts.onEvent?.({ kind: 'contention' });
    this.finish({ ok: false, reason: 'contention' }, false);
  }

  consume(chunk: Uint8Array): void {
    for (const b of chunk) {
      // Bytes after a reply in the same read were sent before the receiver saw what we
      // write in response, so they cannot answer it: a stale ACK must not pass as the next one.
      if (this.onByte(b)) return;
    }
  }

  destroy(): void {
    if (this.st === SenderState.Destroyed) return;
    this.clearTimer();
    this.st = SenderState.Destroyed;
    const pending = this.job ? [this.job, ...this.queue] : [...this.queue];
    this.job = null;
    this.queue.length = 0;
    for (const job of pending) job.resolve({ ok: false, reason: 'destroyed' });
  }

  /** Returns true when the byte was a reply that changed what we wait for. */
  private onByte(b: number): boolean {
    switch (this.st) {
      case SenderState.Neutral:
      case SenderState.BusyWait:
      case SenderState.Destroyed:
        return false;
      case SenderState.Establishing:
        if (b === ACK) {
          this.st = SenderState.Transferring;
          this.sendFrame();
        } else if (b === NAK) {
          this.busyNaks++;
          this.opts.onEvent?.({ kind: 'busy', attempt: this.busyNaks });
          if (!this.busyWait) this.finish({ ok: false, reason: 'busy' }, false);
          else if (this.busyNaks >= this.maxRetries) this.finish({ ok: false, reason: 'retries-exhausted' }, false);
          else {
            this.st = SenderState.BusyWait;
            this.armTimer(this.busyDelayMs, () => this.establish());
          }
        } else if (b === ENQ) {
          // Contention: the other side wants to send; it has priority, so we yield.
          this.yieldToPeer();
        } else return false;
        return true;
      case SenderState.Transferring:
        if (b === ACK) this.frameAccepted();
        else if (b === NAK) this.frameFailed('nak');
        else if (b === EOT) {
          // Receiver interrupt: the frame was accepted, and the receiver asks us to stop.
          const fn = this.currentFrameNumber();
          this.opts.onEvent?.({ kind: 'interrupted', frameNumber: fn });
          const last = this.job !== null && this.frameIndex === this.job.frames.length - 1;
          this.finish(last ? { ok: true } : { ok: false, reason: 'interrupted' }, true);
        } else return false;
        return true;
      default:
        return this.st satisfies never;
    }
  }

  private startNext(): void {
    if (this.job || this.st === SenderState.Destroyed) return;
    const job = this.queue.shift();
    if (!job) return;
    this.job = job;
    this.frameIndex = 0;
    this.failures = 0;
    this.busyNaks = 0;
    this.establish();
  }

  private establish(): void {
    this.st = SenderState.Establishing;
    this.armTimer(this.replyTimeoutMs, () => {
      this.opts.onEvent?.({ kind: 'timeout', role: 'sender' });
      this.finish({ ok: false, reason: 'timeout' }, true);
    });
    this.opts.write(Uint8Array.of(ENQ));
  }

  private sendFrame(): void {
    const frame = this.job?.frames[this.frameIndex];
    if (!frame) return;
    this.armTimer(this.replyTimeoutMs, () => this.frameFailed('timeout'));
    this.opts.write(frame);
  }

  private frameAccepted(): void {
    const job = this.job;
    if (!job) return;
    this.frameIndex++;
    this.failures = 0;
    if (this.frameIndex >= job.frames.length) this.finish({ ok: true }, true);
    else this.sendFrame();
  }

  /** NAK or no reply: resend the same bytes (same FN) until maxRetries failures. */
  private frameFailed(cause: 'nak' | 'timeout'): void {
    this.failures++;
    if (cause === 'timeout') this.opts.onEvent?.({ kind: 'timeout', role: 'sender' });
    if (this.failures >= this.maxRetries) {
      this.finish({ ok: false, reason: cause === 'timeout' ? 'timeout' : 'retries-exhausted' }, true);
      return;
    }
    this.opts.onEvent?.({ kind: 'retransmit', frameNumber: this.currentFrameNumber(), attempt: this.failures, cause });
    this.sendFrame();
  }

  private finish(result: SendResult, sendEot: boolean): void {
    this.clearTimer();
    const job = this.job;
    this.job = null;
    this.st = SenderState.Neutral;
    if (sendEot) this.opts.write(Uint8Array.of(EOT));
    job?.resolve(result);
    this.startNext();
  }

  private currentFrameNumber(): number {
    return (this.frameIndex + 1) & 7;
  }

  private armTimer(ms: number, fn: () => void): void {
    this.clearTimer();
    this.timer = this.opts.clock.setTimer(ms, () => {
      this.timer = undefined;
      fn();
    });
  }

  private clearTimer(): void {
    this.opts.clock.clearTimer(this.timer);
    this.timer = undefined;
  }
}
