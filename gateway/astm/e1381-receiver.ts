/**
 * ASTM E1381 / CLSI LIS01-A2 receiver role, sans-I/O: bytes in through consume(),
 * ACK/NAK out through write(), complete E1394 messages out through onMessage().
 * One instance per connection; time comes from the injected clock.
 *
 * Policies beyond the standard's text:
 * - Every frame's checksum is verified, ETB frames too (Q4); hex case is ignored (Q5).
 * - A frame with the previous frame's FN and identical text is a retransmission: ACKed,
 *   dropped. Same FN with different text is kept as a new frame (a Sysmex XN-550 does this).
 * - A frame is judged at its C2 byte; its CR LF are optional (captures drop them).
 * - STX inside a frame restarts it; EOT inside a frame is skipped as junk; a frame whose
 *   ETX/ETB was lost is dropped without a reply once its `C1 C2 CR LF` has gone by.
 * - Outside frames only ENQ (neutral) and STX/EOT (in a session) mean anything; the
 *   rest is counted as junk. ENQ inside a session is not answered once a frame has
 *   arrived (an ACK there could be taken by the sender as the answer to a frame); before the
 *   first frame it is answered again (a lost ACK, or a re-ENQ after contention).
 * - Receiver interrupt: requestInterrupt() answers the next accepted frame with EOT.
 * - acceptSession() may refuse an ENQ with NAK (busy) while the box cannot commit.
 */
import type { Clock, TimerHandle } from '../core/clock.js';
import { LabedgeError } from '../core/errors.js';
import { checkFrameLimit, checkPositive } from './link-options.js';
import { ACK, CR, ENQ, EOT, ETB, FRAME_OVERHEAD_BYTES, LF, NAK, STX } from './control-bytes.js';
import { FrameProgress, FrameReader } from './frame-reader.js';
import { ByteQueue } from './byte-queue.js';
import { GrowableBuffer } from './growable-buffer.js';
import type { FrameRejectReason, LinkEvent } from './link-events.js';
import { endsWithTerminatorRecord } from './message-end.js';

export interface ReceivedMessage {
  /** Concatenated frame texts: records separated (and normally ended) by CR. Raw bytes, not decoded. */
  text: Buffer;
  /** Frames that carried this message. */
  frames: number;
  /** False when the session ended (EOT) before a terminator record arrived. */
  complete: boolean;
}

export type SettleFn = (committed: boolean) => void;

export interface E1381ReceiverOptions {
  clock: Clock;
  /** ACK/NAK bytes to send to the instrument. */
  write(bytes: Uint8Array): void;
  /**
   * Called once per complete E1394 message. The final frame's ACK is withheld until
   * settle() is called: settle(true) → ACK; settle(false) → NAK, the frame counts as not
   * received, and the retransmitted frame delivers the whole message again.
   * For `complete: false` (EOT before the terminator) the records were already ACKed and
   * the settle result is ignored: the caller must keep them.
   */
  onMessage(message: ReceivedMessage, settle: SettleFn): void;
  /** PHI-free diagnostics. */
  onEvent?(event: LinkEvent): void;
  /** Largest frame accepted, overhead included (default 64000, LIS01-A2). Larger → NAK. */
  maxFrameBytes?: number;
  /**
   * No frame or EOT this long after a reply → discard the partial message, go neutral
   * (default 30000). A frame still arriving counts as activity.
   */
  receiverTimeoutMs?: number;
  /**
   * Largest message (default 16 MiB). A frame that would pass it is NAKed, the partial
   * message is discarded and every further frame of the session is NAKed, so the
   * instrument gives up after its retries and keeps the data; EOT returns to neutral.
   */
  maxMessageBytes?: number;
  /** Whether the accumulated text ends a message (default: last record is a terminator `L`). */
  isMessageEnd?(text: Buffer): boolean;
  /**
   * Asked at each ENQ: false answers it with NAK (busy; the instrument waits 10 s and asks
   * again, keeping its data), e.g. while the store refuses commits. Default: always accept.
   */
  acceptSession?(): boolean;
  /**
   * Replaying a one-sided capture (for `labedge convert`), not a live link: frames are
   * accepted without a preceding ENQ, ENQ inside a session starts a new session, and any
   * frame number is accepted except an identical repeat of the previous frame.
   */
  captureMode?: boolean;
}

export const ReceiverState = {
  Neutral: 'neutral',
  Receiving: 'receiving',
  Settling: 'settling',
  Destroyed: 'destroyed',
} as const;
export type ReceiverState = (typeof ReceiverState)[keyof typeof ReceiverState];

/** Byte-level parser position. */
const Step = {
  /** No session: waiting for ENQ. */
  Neutral: 0,
  /** In a session, between frames: waiting for STX or EOT. */
  Idle: 1,
  Frame: 2,
  /** After a frame's checksum: its CR LF (either may be missing in captures). */
  TrailerCr: 3,
  TrailerLf: 4,
} as const;
type Step = (typeof Step)[keyof typeof Step];

interface Settling {
  readonly token: object;
  readonly fn: number;
  readonly lengthBefore: number;
  readonly framesBefore: number;
  readonly lastFnBefore: number;
}

/** Slack over one full frame that may be buffered while a settle is pending (a retransmission plus control bytes). */
const PENDING_SLACK_BYTES = 64;

export class E1381Receiver {
  private readonly opts: E1381ReceiverOptions;
  private readonly maxFrameBytes: number;
  private readonly timeoutMs: number;
  private readonly maxPendingBytes: number;
  private readonly isMessageEnd: (text: Buffer) => boolean;

  private step: Step = Step.Neutral;
  private destroyed = false;
  private draining = false;
  private readonly inbox = new ByteQueue();
  private junk = 0;
  private timer: TimerHandle | undefined;
  /** When frame bytes last arrived: a long frame on a slow line is not a silent sender. */
  private lastFrameActivity = 0;

  private readonly frame: FrameReader;

  // Session.
  private expectedFn = 1;
  private lastFn = -1;
  private lastText: GrowableBuffer;
  private lastTerminator = 0;
  private lastTextKnown = false;
  private readonly message: GrowableBuffer;
  private messageFrames = 0;
  private rejecting = false;
  private settling: Settling | null = null;
  private interruptRequested = false;

  constructor(opts: E1381ReceiverOptions) {
    if (typeof opts.write !== 'function' || typeof opts.onMessage !== 'function') {
      throw new LabedgeError('LABEDGE_ERR_CONFIG', 'E1381Receiver needs write and onMessage functions');
    }
    this.opts = opts;
    this.maxFrameBytes = checkFrameLimit('maxFrameBytes', opts.maxFrameBytes ?? 64000);
    this.timeoutMs = checkPositive('receiverTimeoutMs', opts.receiverTimeoutMs ?? 30000);
    const maxMessageBytes = checkPositive('maxMessageBytes', opts.maxMessageBytes ?? 16 * 1024 * 1024);
    this.maxPendingBytes = this.maxFrameBytes + PENDING_SLACK_BYTES;
    this.isMessageEnd = opts.isMessageEnd ?? endsWithTerminatorRecord;
    const maxText = this.maxFrameBytes - FRAME_OVERHEAD_BYTES;
    this.frame = new FrameReader(this.maxFrameBytes);
    this.lastText = new GrowableBuffer(maxText);
    this.message = new GrowableBuffer(maxMessageBytes);
  }

  get state(): ReceiverState {
    if (this.destroyed) return ReceiverState.Destroyed;
    if (this.settling) return ReceiverState.Settling;
    return this.step === Step.Neutral ? ReceiverState.Neutral : ReceiverState.Receiving;
  }

  /** Bytes held: unprocessed input, the frame being read, the previous frame and the partial message. */
  get bufferedBytes(): number {
    return this.inbox.length + this.frame.text.length + this.lastText.length + this.message.length;
  }

  consume(chunk: Uint8Array): void {
    if (this.destroyed || chunk.length === 0) return;
    if (this.settling || this.draining || this.inbox.length > 0) return this.enqueue(chunk);
    // Fast path: nothing waits, so the chunk is stepped in place (no copy). If a message
    // becomes pending mid-chunk, the rest waits in the inbox for its settle.
    this.draining = true;
    let i = 0;
    try {
      while (i < chunk.length && !this.destroyed && !this.settling) {
        if (this.step === Step.Frame) {
          const taken = this.frame.pushTextRun(chunk, i);
          if (taken > 0) {
            i += taken;
            continue;
          }
        }
        this.stepByte(chunk[i] as number);
        i++;
      }
    } finally {
      this.draining = false;
      if (this.inFrame()) this.lastFrameActivity = this.opts.clock.now();
      this.flushJunk();
    }
    if (i < chunk.length && !this.destroyed) this.enqueue(chunk.subarray(i));
  }

  private enqueue(chunk: Uint8Array): void {
    // While a settle is pending the instrument waits for our reply: it may retransmit or
    // send EOT, nothing more, so anything past one frame and some slack is dropped.
    const room = this.settling ? this.maxPendingBytes - this.inbox.length : Infinity;
    this.junk += this.inbox.push(chunk, room);
    this.drain();
  }

  /**
   * Receiver interrupt (LIS01-A2 §8.3.5): the next frame we accept is answered with EOT
   * instead of ACK, asking the sender to stop so that we can send. The frame still counts as
   * received; the sender may end the session (EOT) or ignore the request and go on.
   * No-op outside a session.
   */
  requestInterrupt(): void {
    if (this.destroyed || this.step === Step.Neutral) return;
    this.interruptRequested = true;
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.opts.clock.clearTimer(this.timer);
    this.timer = undefined;
    this.settling = null;
    this.inbox.clear();
    this.frame.text.clear();
    this.lastText.clear();
    this.message.clear();
  }

  private drain(): void {
    if (this.draining) return;
    this.draining = true;
    try {
      while (!this.destroyed && this.settling === null) {
        const b = this.inbox.shift();
        if (b < 0) break;
        this.stepByte(b);
      }
    } finally {
      this.draining = false;
      if (this.inFrame()) this.lastFrameActivity = this.opts.clock.now();
      this.flushJunk();
    }
  }

  private stepByte(b: number): void {
    switch (this.step) {
      case Step.Neutral:
        if (b === ENQ) {
          if (this.opts.acceptSession?.() === false) {
            this.emit({ kind: 'busy-refused' });
            this.opts.write(Uint8Array.of(NAK));
            return;
          }
          this.startSession(false);
          this.reply(ACK);
        } else if (b === STX && this.opts.captureMode) {
          this.startSession(true);
          this.beginFrame();
        } else {
          this.junk++;
        }
        return;
      case Step.Idle:
        if (b === STX) this.beginFrame();
        else if (b === EOT) this.endSession();
        else if (b === ENQ && this.opts.captureMode) {
          this.endSession();
          this.startSession(false);
        } else if (b === ENQ && this.messageFrames === 0 && this.lastFn < 0) {
          // ENQ again before any frame: our ACK was lost, or the sender re-establishes after
          // contention (LIS01-A2: the instrument re-sends ENQ after 1 s). Nothing can be
          // mistaken for a frame's answer yet, so answer it again.
          this.reply(ACK);
        } else this.junk++;
        return;
      case Step.Frame:
        switch (this.frame.push(b)) {
          case FrameProgress.More:
            return;
          case FrameProgress.Restart:
            return this.restartFrame();
          case FrameProgress.Skipped:
            this.junk++;
            return;
          case FrameProgress.Complete:
            this.step = Step.TrailerCr;
            return this.evaluateFrame();
          case FrameProgress.Abandon:
            this.emit({ kind: 'frame-abandoned', frameNumber: this.frame.fn >= 0 ? this.frame.fn : null });
            this.junk += this.frame.size + 1;
            this.step = Step.Idle;
            return;
        }
        return;
      case Step.TrailerCr:
      case Step.TrailerLf:
        // CR LF after the checksum belong to the frame; some captures omit one or both.
        if (b === CR && this.step === Step.TrailerCr) {
          this.step = Step.TrailerLf;
          return;
        }
        this.step = Step.Idle;
        if (b !== LF) this.stepByte(b);
        return;
      default:
        this.step satisfies never;
    }
  }

  private startSession(implicit: boolean): void {
    this.step = Step.Idle;
    this.expectedFn = 1;
    this.lastFn = -1;
    this.lastTextKnown = false;
    this.rejecting = false;
    this.interruptRequested = false;
    this.message.clear();
    this.messageFrames = 0;
    this.emit({ kind: 'session-start', implicit });
  }

  private endSession(): void {
    this.opts.clock.clearTimer(this.timer);
    this.timer = undefined;
    const partial = this.message.length > 0 && !this.rejecting;
    const text = partial ? this.message.copy() : null;
    const frames = this.messageFrames;
    this.resetSession();
    if (text) {
      this.emit({ kind: 'aborted', frames });
      // Those records were ACKed frame by frame; the caller must keep them.
      this.opts.onMessage({ text, frames, complete: false }, () => undefined);
    }
    this.emit({ kind: 'session-end' });
  }

  private resetSession(): void {
    this.step = Step.Neutral;
    this.message.clear();
    this.messageFrames = 0;
    this.lastText.clear();
    this.frame.text.clear();
    this.lastFn = -1;
    this.lastTextKnown = false;
    this.rejecting = false;
    this.interruptRequested = false;
  }

  private inFrame(): boolean {
    return this.step === Step.Frame;
  }

  private onTimeout(): void {
    this.timer = undefined;
    if (this.destroyed || this.settling || this.step === Step.Neutral) return;
    const quiet = this.opts.clock.now() - this.lastFrameActivity;
    if (this.inFrame() && quiet < this.timeoutMs) {
      this.timer = this.opts.clock.setTimer(this.timeoutMs - quiet, () => this.onTimeout());
      return;
    }
    this.emit({ kind: 'timeout', role: 'receiver' });
    this.resetSession();
    this.emit({ kind: 'session-end' });
  }

  private beginFrame(): void {
    this.step = Step.Frame;
    this.frame.begin();
    this.lastFrameActivity = this.opts.clock.now();
  }

  /** STX inside a frame: the frame was cut short (the sender timed out and started over). */
  private restartFrame(): void {
    this.junk += this.frame.size;
    this.beginFrame();
  }

  private evaluateFrame(): void {
    const fn = this.frame.fn;
    const number = fn >= 0 ? fn : null;
    const problem = this.frame.rejectReason() ?? (this.rejecting ? 'message-too-long' : null);
    if (problem) return this.reject(problem, number);

    if (fn === this.lastFn) {
      const identical =
        !this.lastTextKnown || (this.lastTerminator === this.frame.terminator && this.lastText.equals(this.frame.text));
      if (identical) {
        this.emit({ kind: 'duplicate-frame', frameNumber: fn });
        return this.reply(ACK);
      }
      // Not a retransmission (its text differs): keep it rather than drop acknowledged data.
      this.emit({ kind: 'frame-number-reused', frameNumber: fn });
    } else if (fn !== this.expectedFn && !this.opts.captureMode) {
      return this.reject('frame-number', number);
    }
    this.accept(fn);
  }

  private accept(fn: number): void {
    const lengthBefore = this.message.length;
    if (!this.message.append(this.frame.text.view())) {
      this.emit({ kind: 'message-too-long', limit: this.message.limit });
      this.message.clear();
      this.messageFrames = 0;
      this.rejecting = true;
      return this.reject('message-too-long', fn);
    }
    const framesBefore = this.messageFrames;
    const lastFnBefore = this.lastFn;
    this.messageFrames++;
    this.lastFn = fn;
    this.lastTerminator = this.frame.terminator;
    this.lastTextKnown = true;
    [this.lastText, this.frame.text] = [this.frame.text, this.lastText];
    this.expectedFn = (fn + 1) & 7;

    if (this.lastTerminator === ETB || !this.isMessageEnd(this.message.view())) return this.acknowledge(fn);

    const token = {};
    this.settling = { token, fn, lengthBefore, framesBefore, lastFnBefore };
    this.opts.clock.clearTimer(this.timer);
    this.timer = undefined;
    const message = { text: this.message.copy(), frames: this.messageFrames, complete: true };
    this.opts.onMessage(message, (committed) => this.settle(token, committed));
  }

  private settle(token: object, committed: boolean): void {
    const s = this.settling;
    if (this.destroyed || s === null || s.token !== token) return;
    this.settling = null;
    if (committed) {
      this.message.clear();
      this.messageFrames = 0;
      this.acknowledge(s.fn);
    } else {
      // As if the final frame never arrived: the instrument resends it with the same FN.
      this.message.truncate(s.lengthBefore);
      this.messageFrames = s.framesBefore;
      this.lastFn = s.lastFnBefore;
      this.lastTextKnown = false;
      this.lastText.clear();
      this.expectedFn = s.fn;
      this.reply(NAK);
    }
    this.drain();
  }

  /** ACK for an accepted frame, or EOT when an interrupt was requested. */
  private acknowledge(fn: number): void {
    if (!this.interruptRequested) return this.reply(ACK);
    this.interruptRequested = false;
    this.emit({ kind: 'interrupt-sent', frameNumber: fn });
    this.reply(EOT);
  }

  private reject(reason: FrameRejectReason, frameNumber: number | null): void {
    this.emit({ kind: 'frame-rejected', reason, frameNumber });
    this.reply(NAK);
  }

  private reply(byte: number): void {
    this.opts.clock.clearTimer(this.timer);
    this.timer = this.opts.clock.setTimer(this.timeoutMs, () => this.onTimeout());
    this.opts.write(Uint8Array.of(byte));
  }

  private flushJunk(): void {
    if (this.junk === 0) return;
    const bytes = this.junk;
    this.junk = 0;
    this.opts.onEvent?.({ kind: 'junk', bytes });
  }

  private emit(event: LinkEvent): void {
    if (!this.opts.onEvent) return;
    this.flushJunk();
    this.opts.onEvent(event);
  }
}
