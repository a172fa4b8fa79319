/**
 * MLLP de-framing as a sans-I/O byte state machine, one instance per connection:
 * `<SB 0x0B> payload <EB 0x1C><CR 0x0D>`. Bytes in through `consume(chunk)`, events out through
 * `emit`; time only through the injected Clock. Text is never decoded here.
 *
 * - Bytes before a start block are skipped and counted (`junk`, reported when the next frame starts).
 * - Frames may be split across reads at any byte, and one read may hold several frames.
 * - A start block inside an open frame abandons the partial frame (`abandoned`) and starts a new one.
 * - EB followed by anything but CR still ends the frame (`frame` with `bareEnd`); EB as the last byte
 *   of a read waits `bareEndGraceMs` for the CR, then delivers.
 * - Size cap (`maxFrameBytes`, default 16 MiB): the payload beyond the cap is discarded until the
 *   frame's end block, then `oversize` is emitted with the first `headBytes` of the frame, so the
 *   caller can still read MSH-10 and reject the message (AR/CR) instead of staying silent.
 * - Open-frame timeout (`openFrameTimeoutMs`, default 30 s of silence inside an open frame): the
 *   partial frame is dropped (`timeout`); it is never delivered, so it is never acknowledged.
 * - MLLP release 2 commit blocks (`<SB><ACK><EB><CR>`, `<SB><NAK><EB><CR>`) arrive as `commit` events.
 */
import type { Clock, TimerHandle } from '../core/clock.js';

export const MLLP_SB = 0x0b;
export const MLLP_EB = 0x1c;
export const MLLP_CR = 0x0d;
const ACK = 0x06;
const NAK = 0x15;

export type MllpEvent =
  | { readonly type: 'frame'; readonly payload: Buffer; readonly bareEnd: boolean }
  | { readonly type: 'commit'; readonly ok: boolean }
  | { readonly type: 'junk'; readonly bytes: number }
  | { readonly type: 'oversize'; readonly bytes: number; readonly head: Buffer }
  | { readonly type: 'abandoned'; readonly bytes: number }
  | { readonly type: 'timeout'; readonly bytes: number };

export interface MllpFramerOptions {
  /** Largest payload accepted, in bytes (default 16 MiB). */
  readonly maxFrameBytes?: number;
  /** Silence inside an open frame after which it is dropped, in ms (default 30,000). */
  readonly openFrameTimeoutMs?: number;
  /** How long an end block without its CR waits before the frame is delivered anyway (default 500 ms). */
  readonly bareEndGraceMs?: number;
  /** How much of an oversize frame is kept for reading its MSH (default 8 KiB). */
  readonly headBytes?: number;
}

export interface MllpFramerHandlers {
  emit(event: MllpEvent): void;
}

const State = { Idle: 0, InFrame: 1, AfterEnd: 2, Discarding: 3 } as const;
type State = (typeof State)[keyof typeof State];

export class MllpFramer {
  private readonly max: number;
  private readonly timeoutMs: number;
  private readonly graceMs: number;
  private readonly headBytes: number;
  private state: State = State.Idle;
  private parts: Buffer[] = [];
  private size = 0;
  private junk = 0;
  private head: Buffer = Buffer.alloc(0);
  private discarded = 0;
  private lastByteAt = 0;
  private timer: TimerHandle | undefined;
  /** Frames delivered, junk bytes skipped and frames dropped, for status and tests. */
  readonly counters = { frames: 0, junkBytes: 0, oversize: 0, timeouts: 0, abandoned: 0 };

  constructor(
    private readonly clock: Clock,
    private readonly handlers: MllpFramerHandlers,
    options: MllpFramerOptions = {},
  ) {
    this.max = options.maxFrameBytes ?? 16 * 1024 * 1024;
    this.timeoutMs = options.openFrameTimeoutMs ?? 30_000;
    this.graceMs = options.bareEndGraceMs ?? 500;
    this.headBytes = options.headBytes ?? 8192;
    if (!(this.max > 0) || !(this.timeoutMs > 0) || !(this.graceMs >= 0) || !(this.headBytes > 0)) {
      throw new RangeError('MllpFramer: maxFrameBytes, openFrameTimeoutMs and headBytes must be > 0, bareEndGraceMs >= 0');
    }
  }

  /** True while a frame is open (bytes received after a start block, no end yet). */
  get frameOpen(): boolean {
    return this.state !== State.Idle;
  }

  consume(chunk: Uint8Array): void {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    let pos = 0;
    const n = buf.length;
    if (n > 0) this.lastByteAt = this.clock.now();
    while (pos < n) {
      switch (this.state) {
        case State.Idle: {
          const sb = buf.indexOf(MLLP_SB, pos);
          if (sb < 0) {
            this.junk += n - pos;
            pos = n;
            break;
          }
          this.junk += sb - pos;
          this.open();
          pos = sb + 1;
          break;
        }
        case State.InFrame:
        case State.Discarding: {
          const eb = buf.indexOf(MLLP_EB, pos);
          const sb = buf.indexOf(MLLP_SB, pos);
          if (sb >= 0 && (eb < 0 || sb < eb)) {
            this.take(buf, pos, sb);
            this.dropOpen('abandoned');
            this.open();
            pos = sb + 1;
            break;
          }
          if (eb < 0) {
            this.take(buf, pos, n);
            pos = n;
            break;
          }
          this.take(buf, pos, eb);
          pos = eb + 1;
          this.state = State.AfterEnd;
          break;
        }
        case State.AfterEnd: {
          const bare = buf[pos] !== MLLP_CR;
          if (!bare) pos++;
          this.finish(bare);
          break;
        }
        default:
          this.state satisfies never;
          pos = n;
      }
    }
    if (this.state === State.AfterEnd) this.arm(this.graceMs);
  }

  /** Drops any open frame (connection closed): it is never delivered. */
  close(): void {
    if (this.state !== State.Idle) this.dropOpen('abandoned');
    this.clock.clearTimer(this.timer);
    this.timer = undefined;
  }

  private open(): void {
    if (this.junk > 0) {
      this.counters.junkBytes += this.junk;
      this.handlers.emit({ type: 'junk', bytes: this.junk });
      this.junk = 0;
    }
    this.state = State.InFrame;
    this.parts = [];
    this.size = 0;
    this.discarded = 0;
    this.arm(this.timeoutMs);
  }

  private take(buf: Buffer, from: number, to: number): void {
    if (to <= from) return;
    if (this.state === State.Discarding) {
      this.discarded += to - from;
      return;
    }
    const len = to - from;
    if (this.size + len > this.max) {
      const all = Buffer.concat([...this.parts, buf.subarray(from, to)]);
      this.head = Buffer.from(all.subarray(0, this.headBytes));
      this.discarded = this.size + len;
      this.parts = [];
      this.size = 0;
      this.state = State.Discarding;
      return;
    }
    this.parts.push(Buffer.from(buf.subarray(from, to)));
    this.size += len;
  }

  private finish(bareEnd: boolean): void {
    this.clock.clearTimer(this.timer);
    this.timer = undefined;
    if (this.discarded > 0) {
      const bytes = this.discarded;
      this.reset();
      this.counters.oversize++;
      this.handlers.emit({ type: 'oversize', bytes, head: this.head });
      this.head = Buffer.alloc(0);
      return;
    }
    const payload = this.parts.length === 1 ? (this.parts[0] as Buffer) : Buffer.concat(this.parts, this.size);
    this.reset();
    if (payload.length === 1 && (payload[0] === ACK || payload[0] === NAK)) {
      this.handlers.emit({ type: 'commit', ok: payload[0] === ACK });
      return;
    }
    this.counters.frames++;
    this.handlers.emit({ type: 'frame', payload, bareEnd });
  }

  private dropOpen(kind: 'abandoned' | 'timeout'): void {
    const bytes = this.size + this.discarded;
    this.reset();
    this.head = Buffer.alloc(0);
    if (kind === 'abandoned') this.counters.abandoned++;
    else this.counters.timeouts++;
    this.handlers.emit({ type: kind, bytes });
  }

  private reset(): void {
    this.state = State.Idle;
    this.parts = [];
    this.size = 0;
    this.discarded = 0;
  }

  private arm(ms: number): void {
    this.clock.clearTimer(this.timer);
    this.timer = this.clock.setTimer(ms, () => this.onTimer());
  }

  private onTimer(): void {
    this.timer = undefined;
    if (this.state === State.AfterEnd) {
      this.finish(true);
      return;
    }
    if (this.state === State.Idle) return;
    const idle = this.clock.now() - this.lastByteAt;
    if (idle < this.timeoutMs) {
      this.timer = this.clock.setTimer(this.timeoutMs - idle, () => this.onTimer());
      return;
    }
    this.dropOpen('timeout');
  }
}

/** Wraps a payload in an MLLP frame. */
export function mllpFrame(payload: Uint8Array | string): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  const out = Buffer.allocUnsafe(body.length + 3);
  out[0] = MLLP_SB;
  out.set(body, 1);
  out[body.length + 1] = MLLP_EB;
  out[body.length + 2] = MLLP_CR;
  return out;
}

/** MLLP release 2 commit acknowledgement blocks. */
export const MLLP_COMMIT_ACK: Buffer = Buffer.from([MLLP_SB, ACK, MLLP_EB, MLLP_CR]);
export const MLLP_COMMIT_NAK: Buffer = Buffer.from([MLLP_SB, NAK, MLLP_EB, MLLP_CR]);
