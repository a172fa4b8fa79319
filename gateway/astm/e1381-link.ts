/**
 * Both E1381 / LIS01-A2 roles on one line, sans-I/O: the box receives what the instrument
 * sends (E1381Receiver) and sends queued messages of its own (E1381Sender: host-query replies,
 * order downloads), one session at a time. Bytes in through consume(), bytes out through
 * write(), time from the injected clock.
 *
 * Line discipline (LIS01-A2 §8.2–8.3):
 * - The line is neutral when neither role holds a session. The box only sends ENQ then.
 * - Contention: the instrument's ENQ arrives while the box waits for the answer to its own ENQ.
 *   The instrument has priority: the box gives up its attempt (no EOT), answers the
 *   instrument's ENQ and waits contentionDelayMs (20 s) before its next ENQ.
 * - Busy: ENQ answered with NAK → next ENQ after busyDelayMs (10 s); the line is neutral in
 *   between, so the instrument may start a session meanwhile. maxRetries busy NAKs in a row
 *   count as one failed attempt.
 * - A failed attempt (15 s without a reply, or maxRetries failures of one frame: the sender
 *   has sent EOT) puts the message back at the head of the queue, tried again after
 *   retryDelayMs; a receiver interrupt (EOT answering a frame) after interruptDelayMs (15 s).
 *   After maxAttempts failed attempts the message is given up and its sender told so.
 * - A message with a deadline is not started after it (a host-query reply nobody waits for).
 */
import type { Clock, TimerHandle } from '../core/clock.js';
import { LabedgeError } from '../core/errors.js';
import { ACK, ENQ, NAK } from './control-bytes.js';
import { E1381Receiver, ReceiverState, type E1381ReceiverOptions, type ReceivedMessage, type SettleFn } from './e1381-receiver.js';
import { E1381Sender, SenderState, type SendFailure, type SendResult } from './e1381-sender.js';
import { DEFAULT_MAX_TEXT_PER_FRAME, encodeFrames } from './frame-encoder.js';
import type { LinkEvent } from './link-events.js';
import { checkCount, checkPositive } from './link-options.js';

export interface LinkSendOptions {
  /** clock.now() value after which the message is no longer started (it resolves 'expired'). */
  deadline?: number;
  /** Failed attempts before the message is given up (default: the link's maxAttempts). */
  maxAttempts?: number;
}

export type LinkSendResult =
  | { ok: true; attempts: number }
  | { ok: false; reason: SendFailure | 'expired'; attempts: number };

export interface E1381LinkOptions
  extends Pick<E1381ReceiverOptions, 'maxFrameBytes' | 'receiverTimeoutMs' | 'maxMessageBytes' | 'isMessageEnd' | 'acceptSession'> {
  clock: Clock;
  /**
   * Which end of the line this is (default 'host', the box). On contention the host yields and
   * answers the instrument's ENQ; the instrument abandons its ENQ too, ignores the host's, and
   * sends ENQ again after contentionDelayMs (default 1 s for 'instrument', 20 s for 'host').
   */
  role?: 'host' | 'instrument';
  write(bytes: Uint8Array): void;
  /** A message received from the instrument; see E1381ReceiverOptions.onMessage. */
  onMessage(message: ReceivedMessage, settle: SettleFn): void;
  onEvent?(event: LinkEvent): void;
  /** Text bytes per frame sent (default 240). */
  maxTextPerFrame?: number;
  /** Sender: wait for a reply to ENQ or a frame (default 15000 ms). */
  replyTimeoutMs?: number;
  /** Sender: failures per frame, and busy NAKs per attempt (default 6). */
  maxRetries?: number;
  /** After a NAK to our ENQ (default 10000 ms). */
  busyDelayMs?: number;
  /** After we yielded to the instrument's ENQ (default 20000 ms). */
  contentionDelayMs?: number;
  /** After the instrument interrupted our session with EOT (default 15000 ms). */
  interruptDelayMs?: number;
  /** After a failed attempt (timeout or retries exhausted; default 10000 ms). */
  retryDelayMs?: number;
  /** Failed attempts per message before it is given up (default 3). */
  maxAttempts?: number;
}

export const LinkState = {
  Neutral: 'neutral',
  Receiving: 'receiving',
  Sending: 'sending',
  Destroyed: 'destroyed',
} as const;
export type LinkState = (typeof LinkState)[keyof typeof LinkState];

interface Job {
  readonly records: readonly (string | Buffer)[];
  readonly deadline: number;
  readonly maxAttempts: number;
  /** Failed attempts so far. */
  attempts: number;
  /** Busy NAKs in a row in the current attempt. */
  busy: number;
  readonly done: (result: LinkSendResult) => void;
}

export class E1381Link {
  private readonly opts: E1381LinkOptions;
  private readonly receiver: E1381Receiver;
  private readonly sender: E1381Sender;
  private readonly maxText: number;
  private readonly maxRetries: number;
  private readonly busyDelayMs: number;
  private readonly contentionDelayMs: number;
  private readonly interruptDelayMs: number;
  private readonly retryDelayMs: number;
  private readonly maxAttempts: number;
  private readonly role: 'host' | 'instrument';

  private readonly queue: Job[] = [];
  private active: Job | null = null;
  private notBefore = 0;
  private wake: TimerHandle | undefined;
  private wakeAt = Infinity;
  /** Depth of consume()/settle() calls: the receiver may still hold input, so no ENQ yet. */
  private depth = 0;
  private destroyed = false;

  constructor(opts: E1381LinkOptions) {
    if (typeof opts.write !== 'function' || typeof opts.onMessage !== 'function') {
      throw new LabedgeError('LABEDGE_ERR_CONFIG', 'E1381Link needs write and onMessage functions');
    }
    this.opts = opts;
    this.maxText = checkCount('maxTextPerFrame', opts.maxTextPerFrame ?? DEFAULT_MAX_TEXT_PER_FRAME, 1);
    this.maxRetries = checkCount('maxRetries', opts.maxRetries ?? 6, 1);
    this.busyDelayMs = checkPositive('busyDelayMs', opts.busyDelayMs ?? 10_000);
    this.role = opts.role ?? 'host';
    if (this.role !== 'host' && this.role !== 'instrument') throw new LabedgeError('LABEDGE_ERR_CONFIG', 'role must be host or instrument');
    this.contentionDelayMs = checkPositive('contentionDelayMs', opts.contentionDelayMs ?? (this.role === 'host' ? 20_000 : 1_000));
    this.interruptDelayMs = checkPositive('interruptDelayMs', opts.interruptDelayMs ?? 15_000);
    this.retryDelayMs = checkPositive('retryDelayMs', opts.retryDelayMs ?? 10_000);
    this.maxAttempts = checkCount('maxAttempts', opts.maxAttempts ?? 3, 1);
    const onEvent = (event: LinkEvent): void => {
      opts.onEvent?.(event);
      // A receiver timeout ends a session from a timer: the line may be ours now.
      if (event.kind === 'session-end' && this.depth === 0) this.pump();
    };
    this.receiver = new E1381Receiver({
      clock: opts.clock,
      write: (bytes) => opts.write(bytes),
      onEvent,
      onMessage: (message, settle) => opts.onMessage(message, (committed) => this.settleWith(settle, committed)),
      ...(opts.maxFrameBytes !== undefined && { maxFrameBytes: opts.maxFrameBytes }),
      ...(opts.receiverTimeoutMs !== undefined && { receiverTimeoutMs: opts.receiverTimeoutMs }),
      ...(opts.maxMessageBytes !== undefined && { maxMessageBytes: opts.maxMessageBytes }),
      ...(opts.isMessageEnd !== undefined && { isMessageEnd: opts.isMessageEnd }),
      ...(opts.acceptSession !== undefined && { acceptSession: opts.acceptSession }),
    });
    this.sender = new E1381Sender({
      clock: opts.clock,
      write: (bytes) => opts.write(bytes),
      onEvent,
      maxTextPerFrame: this.maxText,
      maxRetries: this.maxRetries,
      busyWait: false,
      ...(opts.replyTimeoutMs !== undefined && { replyTimeoutMs: opts.replyTimeoutMs }),
    });
  }

  get state(): LinkState {
    if (this.destroyed) return LinkState.Destroyed;
    if (this.sender.state !== SenderState.Neutral) return LinkState.Sending;
    if (this.receiver.state !== ReceiverState.Neutral) return LinkState.Receiving;
    return LinkState.Neutral;
  }

  /** Messages waiting to be sent, the one in flight included. */
  get pending(): number {
    return this.queue.length + (this.active ? 1 : 0);
  }

  /** Bytes held by the receiver (bounded by its limits). */
  get bufferedBytes(): number {
    return this.receiver.bufferedBytes;
  }

  /**
   * Queues one message (records, each CR-terminated on the wire) to send as the sender role.
   * Rejects at once (LABEDGE_ERR_ASTM_FRAME) if a record cannot be framed.
   */
  send(records: readonly (string | Buffer)[], options: LinkSendOptions = {}): Promise<LinkSendResult> {
    return new Promise((resolve, reject) => {
      try {
        this.enqueue(records, options, resolve);
      } catch (e) {
        reject(e);
      }
    });
  }

  /** send() with a callback, called synchronously when the message is sent or given up. */
  enqueue(records: readonly (string | Buffer)[], options: LinkSendOptions, done: (result: LinkSendResult) => void): void {
    if (this.destroyed) return done({ ok: false, reason: 'destroyed', attempts: 0 });
    encodeFrames(records as readonly string[] | readonly Buffer[], this.maxText); // validates; throws on bad text
    const maxAttempts = checkCount('maxAttempts', options.maxAttempts ?? this.maxAttempts, 1);
    this.queue.push({ records, deadline: options.deadline ?? Infinity, maxAttempts, attempts: 0, busy: 0, done });
    if (this.depth === 0) this.pump();
  }

  consume(chunk: Uint8Array): void {
    if (this.destroyed || chunk.length === 0) return;
    this.depth++;
    try {
      let rest = chunk;
      if (this.sender.state === SenderState.Establishing) {
        // The instrument's ENQ before any answer to ours is contention: it wins.
        const enq = firstOf(rest, ENQ, ACK, NAK);
        if (enq >= 0 && rest[enq] === ENQ) {
          this.sender.yieldToPeer();
          // The host answers the instrument's ENQ; the instrument drops the host's and re-sends its own.
          rest = this.role === 'host' ? rest.subarray(enq) : rest.subarray(enq + 1);
        }
      }
      if (this.sender.state !== SenderState.Neutral) this.sender.consume(rest);
      else this.receiver.consume(rest);
    } finally {
      this.depth--;
    }
    this.pump();
  }

  /** Receiver interrupt: answer the instrument's next accepted frame with EOT (see E1381Receiver). */
  interruptPeer(): void {
    this.receiver.requestInterrupt();
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.opts.clock.clearTimer(this.wake);
    this.wake = undefined;
    this.receiver.destroy();
    this.sender.destroy(); // resolves the active job through its callback
    for (const job of this.queue.splice(0)) job.done({ ok: false, reason: 'destroyed', attempts: job.attempts });
  }

  private settleWith(settle: SettleFn, committed: boolean): void {
    this.depth++;
    try {
      settle(committed);
    } finally {
      this.depth--;
    }
    this.pump();
  }

  /** Starts the next message when the line is neutral and no delay is running. */
  private pump(): void {
    if (this.queue.length === 0 || this.destroyed || this.active || this.depth > 0) return;
    if (this.sender.state !== SenderState.Neutral || this.receiver.state !== ReceiverState.Neutral) return;
    const now = this.opts.clock.now();
    while (this.queue.length > 0 && (this.queue[0] as Job).deadline <= now) {
      const job = this.queue.shift() as Job;
      this.opts.onEvent?.({ kind: 'send-expired' });
      job.done({ ok: false, reason: 'expired', attempts: job.attempts });
    }
    const job = this.queue[0];
    if (!job) return;
    if (now < this.notBefore) return this.armWake(this.notBefore);
    this.queue.shift();
    this.active = job;
    this.sender.transmit(job.records as readonly string[] | readonly Buffer[], (result) => this.onSent(job, result));
  }

  private onSent(job: Job, result: SendResult): void {
    if (this.active === job) this.active = null;
    if (result.ok) {
      this.opts.onEvent?.({ kind: 'sent', attempt: job.attempts + 1 });
      job.done({ ok: true, attempts: job.attempts + 1 });
      return this.afterSend();
    }
    const reason = result.reason;
    const now = this.opts.clock.now();
    let counted = true;
    switch (reason) {
      case 'destroyed':
        return job.done({ ok: false, reason, attempts: job.attempts });
      case 'contention':
        counted = false;
        this.notBefore = now + this.contentionDelayMs;
        break;
      case 'busy':
        job.busy++;
        counted = job.busy >= this.maxRetries;
        if (counted) job.busy = 0;
        this.notBefore = now + this.busyDelayMs;
        break;
      case 'interrupted':
        this.notBefore = now + this.interruptDelayMs;
        break;
      case 'timeout':
      case 'retries-exhausted':
        this.notBefore = now + this.retryDelayMs;
        break;
      default:
        reason satisfies never;
    }
    if (counted) job.attempts++;
    const requeued = job.attempts < job.maxAttempts;
    if (counted || !requeued) this.opts.onEvent?.({ kind: 'send-failed', reason, attempt: job.attempts, requeued });
    if (requeued) this.queue.unshift(job);
    else job.done({ ok: false, reason, attempts: job.attempts });
    this.afterSend();
  }

  private afterSend(): void {
    // Called from the sender's callback, possibly inside consume(): pump() waits for depth 0.
    if (this.depth === 0) this.pump();
  }

  private armWake(at: number): void {
    if (this.wake !== undefined && this.wakeAt <= at) return;
    this.opts.clock.clearTimer(this.wake);
    this.wakeAt = at;
    this.wake = this.opts.clock.setTimer(Math.max(0, at - this.opts.clock.now()), () => {
      this.wake = undefined;
      this.wakeAt = Infinity;
      this.pump();
    });
  }
}

/** Index of the first byte equal to any of a, b, c; -1 if none. */
function firstOf(bytes: Uint8Array, a: number, b: number, c: number): number {
  for (let i = 0; i < bytes.length; i++) {
    const x = bytes[i];
    if (x === a || x === b || x === c) return i;
  }
  return -1;
}
