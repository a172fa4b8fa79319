/**
 * Raw ("non-compliant") ASTM framing, sans-I/O: E1394 records terminated by CR, LF or CRLF with
 * no low-level framing at all (no ENQ, STX, checksums or ACKs), as some instruments and
 * serial-to-TCP setups send them (research Q8). A message starts at the first record and ends
 * at a terminator record (`L…`), or when the line stays idle for idleMs (then it is delivered
 * marked incomplete), or when an H record starts the next message.
 *
 * Control bytes other than CR, LF and TAB cannot be record text: they are skipped as junk.
 * Memory is bounded by maxMessageBytes: past it the records so far are delivered (incomplete)
 * and a single record longer than the limit is dropped, with an event, never kept whole.
 */
import type { Clock, TimerHandle } from '../core/clock.js';
import { checkPositive } from './link-options.js';
import { CR, LF } from './control-bytes.js';
import { GrowableBuffer } from './growable-buffer.js';
import type { LinkEvent } from './link-events.js';
import { endsWithTerminatorRecord } from './message-end.js';

export interface RawMessage {
  /** Records, each terminated by CR (whatever the line used). Raw bytes, not decoded. */
  text: Buffer;
  records: number;
  /** False when it ended by idle time, size, or a new H, not by a terminator record. */
  complete: boolean;
}

export interface RawRecordReaderOptions {
  clock: Clock;
  onMessage(message: RawMessage): void;
  onEvent?(event: LinkEvent): void;
  /** Quiet time that ends a message without a terminator (default 10000 ms). */
  idleMs?: number;
  /** Largest message (default 16 MiB). */
  maxMessageBytes?: number;
}

const TAB = 0x09;
const H = 0x48;

export class RawRecordReader {
  private readonly idleMs: number;
  private readonly message: GrowableBuffer;
  private readonly line: GrowableBuffer;
  private records = 0;
  private lineTooLong = false;
  private junk = 0;
  private timer: TimerHandle | undefined;
  private destroyed = false;

  constructor(private readonly opts: RawRecordReaderOptions) {
    this.idleMs = checkPositive('idleMs', opts.idleMs ?? 10_000);
    const max = checkPositive('maxMessageBytes', opts.maxMessageBytes ?? 16 * 1024 * 1024);
    this.message = new GrowableBuffer(max);
    this.line = new GrowableBuffer(max);
  }

  /** True between messages: nothing buffered, so the next byte may start anything. */
  get idle(): boolean {
    return this.records === 0 && this.line.length === 0 && !this.lineTooLong;
  }

  get bufferedBytes(): number {
    return this.message.length + this.line.length;
  }

  consume(chunk: Uint8Array): void {
    if (this.destroyed) return;
    for (const b of chunk) {
      if (b === CR || b === LF) this.endLine();
      else if (b < 0x20 && b !== TAB) this.junk++;
      else if (!this.lineTooLong && !this.line.push(b)) {
        this.lineTooLong = true;
        this.line.clear();
      }
    }
    this.flushJunk();
    if (!this.idle) this.arm();
  }

  /** Ends the current message now (e.g. the line closed). */
  flush(): void {
    if (this.destroyed) return;
    this.endLine();
    this.deliver(false);
  }

  destroy(): void {
    this.destroyed = true;
    this.opts.clock.clearTimer(this.timer);
    this.timer = undefined;
    this.message.clear();
    this.line.clear();
  }

  private endLine(): void {
    if (this.lineTooLong) {
      this.lineTooLong = false;
      this.opts.onEvent?.({ kind: 'message-too-long', limit: this.line.limit });
      return;
    }
    const line = this.line.view();
    if (line.length === 0 || isBlank(line)) {
      this.line.clear();
      return;
    }
    // A new header while a message is open: the previous one never got its terminator.
    if (line[0] === H && this.records > 0 && (line.length === 1 || !isAlphanumeric(line[1] as number))) this.deliver(false);
    if (this.message.length + line.length + 1 > this.message.limit) {
      this.opts.onEvent?.({ kind: 'message-too-long', limit: this.message.limit });
      this.deliver(false);
    }
    this.message.append(line);
    this.message.push(CR);
    this.records++;
    const terminator = endsWithTerminatorRecord(line);
    this.line.clear();
    if (terminator) this.deliver(true);
  }

  private deliver(complete: boolean): void {
    this.opts.clock.clearTimer(this.timer);
    this.timer = undefined;
    if (this.records === 0) return;
    const message = { text: this.message.copy(), records: this.records, complete };
    this.message.clear();
    this.records = 0;
    this.opts.onMessage(message);
  }

  private arm(): void {
    this.opts.clock.clearTimer(this.timer);
    this.timer = this.opts.clock.setTimer(this.idleMs, () => {
      this.timer = undefined;
      if (this.destroyed) return;
      this.opts.onEvent?.({ kind: 'timeout', role: 'receiver' });
      this.flush();
    });
  }

  private flushJunk(): void {
    if (this.junk === 0) return;
    this.opts.onEvent?.({ kind: 'junk', bytes: this.junk });
    this.junk = 0;
  }
}

function isBlank(bytes: Uint8Array): boolean {
  for (const b of bytes) if (b !== 0x20 && b !== TAB) return false;
  return true;
}

function isAlphanumeric(b: number): boolean {
  return (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a);
}
