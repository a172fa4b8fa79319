/**
 * Test drivers for the E1381 link: build frames by hand and run a receiver with a
 * FakeClock while recording what it writes, delivers and reports.
 */
import { FakeClock } from '../../gateway/core/clock.js';
import { frameChecksum, formatChecksum } from '../../gateway/astm/checksum.js';
import { E1381Receiver, type E1381ReceiverOptions, type ReceivedMessage, type SettleFn } from '../../gateway/astm/e1381-receiver.js';
import type { LinkEvent } from '../../gateway/astm/link-events.js';
import { escapeWire } from './astm-fixtures.js';

export interface FrameSpec {
  /** 'ETX' (default) or 'ETB'. */
  end?: 'ETX' | 'ETB';
  /** Override the checksum characters (e.g. a wrong or lower-case one). */
  checksum?: string;
  /** Bytes after the checksum (default CR LF). */
  trailer?: string;
}

/** One frame: STX FN text ETX|ETB C1 C2 CR LF. Strings are latin-1. */
export function frame(fn: number, text: string | Buffer, spec: FrameSpec = {}): Buffer {
  const body = Buffer.concat([
    Buffer.of(0x30 + fn),
    typeof text === 'string' ? Buffer.from(text, 'latin1') : text,
    Buffer.of(spec.end === 'ETB' ? 0x17 : 0x03),
  ]);
  const checksum = spec.checksum ?? formatChecksum(frameChecksum(body, 0, body.length));
  return Buffer.concat([Buffer.of(0x02), body, Buffer.from(checksum + (spec.trailer ?? '\r\n'), 'latin1')]);
}

export const ENQ_BYTE = Buffer.of(0x05);
export const EOT_BYTE = Buffer.of(0x04);

export interface DeliveredMessage extends ReceivedMessage {
  settle: SettleFn;
}

export interface ReceiverRig {
  receiver: E1381Receiver;
  clock: FakeClock;
  /** Every byte the receiver wrote, in order. */
  written: number[];
  messages: DeliveredMessage[];
  events: LinkEvent[];
  /** What the receiver wrote, escaped, then cleared: `<ACK><NAK>`. */
  takeReplies(): string;
  eventKinds(): string[];
}

export type RigOptions = Partial<Omit<E1381ReceiverOptions, 'clock' | 'write' | 'onMessage' | 'onEvent'>> & {
  /** Settle every complete message with this result at once (default: leave it pending). */
  autoSettle?: boolean;
};

export function receiverRig(options: RigOptions = {}): ReceiverRig {
  const { autoSettle, ...rest } = options;
  const clock = new FakeClock();
  const written: number[] = [];
  const messages: DeliveredMessage[] = [];
  const events: LinkEvent[] = [];
  let taken = 0;
  const receiver = new E1381Receiver({
    ...rest,
    clock,
    write: (bytes) => written.push(...bytes),
    onMessage: (message, settle) => {
      messages.push({ ...message, settle });
      if (autoSettle !== undefined && message.complete) settle(autoSettle);
    },
    onEvent: (event) => events.push(event),
  });
  return {
    receiver,
    clock,
    written,
    messages,
    events,
    takeReplies() {
      const out = escapeWire(Buffer.from(written.slice(taken)));
      taken = written.length;
      return out;
    },
    eventKinds: () => events.map((e) => e.kind),
  };
}

/** Feeds the receiver one byte per consume() call. */
export function feedBytewise(receiver: E1381Receiver, bytes: Uint8Array): void {
  for (let i = 0; i < bytes.length; i++) receiver.consume(bytes.subarray(i, i + 1));
}

/** Splits bytes at the boundaries of the given chunk lengths (the rest goes in one last chunk). */
export function splitLike(bytes: Buffer, lengths: readonly number[]): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  for (const n of lengths) {
    if (at >= bytes.length) break;
    out.push(bytes.subarray(at, at + n));
    at += n;
  }
  if (at < bytes.length) out.push(bytes.subarray(at));
  return out;
}
