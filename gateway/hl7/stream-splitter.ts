/**
 * HL7 over a serial line without MLLP: the byte stream is split into messages by what unframed
 * senders actually do. A message starts at `MSH` at the start of a line and ends at the first of:
 * an end block byte (0x1C), a blank line (CR CR, LF LF, CRLF CRLF), the next `MSH` at the start of a
 * line, or `idleMs` of silence (most senders stop and wait for the ACK). Bytes outside a message are
 * junk (counted); stray start blocks (0x0B) are ignored. Same events and size-cap policy as the MLLP
 * framer, so a session can use either. Sans-I/O: bytes in, events out, time from the injected Clock.
 */
import type { Clock, TimerHandle } from '../core/clock.js';
import { GrowableBuffer } from '../astm/growable-buffer.js';
import type { MllpEvent, MllpFramerHandlers } from './mllp-framer.js';

export interface StreamSplitterOptions {
  /** Largest message, in bytes (default 16 MiB); beyond it the message is discarded to its end. */
  readonly maxFrameBytes?: number;
  /** Silence that ends a message, in ms (default 1,000). */
  readonly idleMs?: number;
  /** How much of an oversize message is kept for reading its MSH (default 8 KiB). */
  readonly headBytes?: number;
}

const CR = 0x0d;
const LF = 0x0a;
const SB = 0x0b;
const EB = 0x1c;
const M = 0x4d;
const S = 0x53;
const H = 0x48;

export class Hl7StreamSplitter {
  private readonly idleMs: number;
  private readonly headBytes: number;
  private readonly buf: GrowableBuffer;
  private inMessage = false;
  private atLineStart = true;
  private matched = 0; // how many of 'MSH' matched at a line start
  private lastTerm = 0;
  private discarded = 0;
  private head: Buffer = Buffer.alloc(0);
  private junk = 0;
  private lastByteAt = 0;
  private timer: TimerHandle | undefined;

  constructor(
    private readonly clock: Clock,
    private readonly handlers: MllpFramerHandlers,
    options: StreamSplitterOptions = {},
  ) {
    const max = options.maxFrameBytes ?? 16 * 1024 * 1024;
    this.idleMs = options.idleMs ?? 1000;
    this.headBytes = options.headBytes ?? 8192;
    if (!(max > 0) || !(this.idleMs > 0)) throw new RangeError('Hl7StreamSplitter: maxFrameBytes and idleMs must be > 0');
    this.buf = new GrowableBuffer(max);
  }

  get frameOpen(): boolean {
    return this.inMessage;
  }

  consume(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.lastByteAt = this.clock.now();
    for (const b of chunk) this.step(b);
    if (this.inMessage && this.timer === undefined) this.timer = this.clock.setTimer(this.idleMs, () => this.onTimer());
  }

  close(): void {
    if (this.inMessage) this.end();
    this.clock.clearTimer(this.timer);
    this.timer = undefined;
  }

  private step(b: number): void {
    if (b === SB) return;
    if (!this.inMessage) {
      this.idleStep(b);
      return;
    }
    if (b === EB) {
      this.end();
      this.atLineStart = true;
      return;
    }
    if (b === CR || b === LF) {
      const crlf = b === LF && this.lastTerm === CR;
      if (this.atLineStart && !crlf) {
        this.end(); // a blank line ends the message
        return;
      }
      this.push(b);
      this.atLineStart = true;
      this.lastTerm = b;
      this.matched = 0;
      return;
    }
    this.lastTerm = 0;
    if (this.atLineStart || this.matched > 0) {
      const want = [M, S, H][this.matched];
      if (b === want && this.matched < 2) {
        this.matched++;
        this.push(b);
        this.atLineStart = false;
        return;
      }
      if (b === H && this.matched === 2) {
        // The next message starts here: the current one ends before its 'MS'.
        this.buf.truncate(this.buf.length - 2);
        this.end();
        this.open();
        return;
      }
      this.matched = 0;
    }
    this.atLineStart = false;
    this.push(b);
  }

  private idleStep(b: number): void {
    if (b === CR || b === LF || b === EB) {
      this.junk += this.matched + 1;
      this.matched = 0;
      this.atLineStart = true;
      return;
    }
    const want = [M, S, H][this.matched];
    if (this.atLineStart && b === want) {
      this.matched++;
      if (this.matched === 3) this.open();
      return;
    }
    this.junk += this.matched + 1;
    this.matched = 0;
    this.atLineStart = false;
  }

  private open(): void {
    if (this.junk > 0) {
      this.handlers.emit({ type: 'junk', bytes: this.junk });
      this.junk = 0;
    }
    this.inMessage = true;
    this.buf.clear();
    this.discarded = 0;
    this.buf.append(Buffer.from('MSH', 'latin1'));
    this.matched = 0;
    this.atLineStart = false;
    this.lastTerm = 0;
  }

  private push(b: number): void {
    if (this.discarded > 0) {
      this.discarded++;
      return;
    }
    if (!this.buf.push(b)) {
      this.head = Buffer.from(this.buf.view().subarray(0, this.headBytes));
      this.discarded = this.buf.length + 1;
      this.buf.clear();
    }
  }

  private end(): void {
    this.inMessage = false;
    this.matched = 0;
    this.atLineStart = true;
    this.clock.clearTimer(this.timer);
    this.timer = undefined;
    let event: MllpEvent;
    if (this.discarded > 0) {
      event = { type: 'oversize', bytes: this.discarded, head: this.head };
      this.head = Buffer.alloc(0);
    } else {
      event = { type: 'frame', payload: this.buf.copy(), bareEnd: false };
    }
    this.buf.clear();
    this.discarded = 0;
    this.handlers.emit(event);
  }

  private onTimer(): void {
    this.timer = undefined;
    if (!this.inMessage) return;
    const idle = this.clock.now() - this.lastByteAt;
    if (idle < this.idleMs) {
      this.timer = this.clock.setTimer(this.idleMs - idle, () => this.onTimer());
      return;
    }
    this.end();
  }
}
