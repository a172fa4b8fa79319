/**
 * Everything ASTM on one instrument line, sans-I/O: the framing mode decides how bytes become
 * messages, and the box can send on the same line.
 *
 * - `e1381` (default): the LIS01-A2 link, both roles (E1381Link).
 * - `raw`: CR/LF-terminated records without low-level framing (RawRecordReader); the box
 *   sends records the same way. No acknowledgements exist in this mode.
 * - `auto`: decided at each message boundary from the first significant byte: ENQ → e1381,
 *   `H` → raw (research Q8: astm-http-bridge's non-compliant mode starts at `H`).
 * In every mode, STX arriving while the line is neutral (no ENQ before it) starts a
 * non-ASTM payload capture (ForeignCapture) for the profile's payload adapters.
 */
import type { Clock } from '../core/clock.js';
import { LabedgeError } from '../core/errors.js';
import { CR, ENQ, LF, NAK, STX } from './control-bytes.js';
import { E1381Link, LinkState, type E1381LinkOptions, type LinkSendOptions, type LinkSendResult } from './e1381-link.js';
import type { SettleFn } from './e1381-receiver.js';
import { ForeignCapture, type PayloadAdapter } from './foreign-payload.js';
import type { LinkEvent } from './link-events.js';
import { RawRecordReader } from './raw-record-reader.js';
import type { TextEncodingOption } from './text-decode.js';
import { encodeRecordText } from './text-encode.js';

export type FramingMode = 'e1381' | 'raw' | 'auto';

export interface LineMessage {
  /** How it arrived. */
  framing: 'e1381' | 'raw' | 'foreign';
  /** Message bytes: records (CR-separated) for e1381/raw, the payload as received for foreign. */
  text: Buffer;
  /** E1381 frames (0 for raw and foreign). */
  frames: number;
  /** Ended by its terminator record (raw/e1381) or claimed by an adapter (foreign). */
  complete: boolean;
  /** foreign only: the adapter that claimed it, or null for an unknown payload. */
  adapter?: string | null;
}

export type AstmLineLinkOptions = Omit<E1381LinkOptions, 'clock' | 'write' | 'onMessage' | 'onEvent'>;

export interface AstmLineOptions {
  clock: Clock;
  write(bytes: Uint8Array): void;
  /**
   * One message. E1381: settle(true) ACKs its last frame, settle(false) NAKs it. Raw: nothing is
   * answered. Foreign: the adapter's reply (if any) on true, NAK on false (only if it has one).
   */
  onMessage(message: LineMessage, settle: SettleFn): void;
  onEvent?(event: LinkEvent): void;
  framing?: FramingMode;
  link?: AstmLineLinkOptions;
  /** Raw mode: silence that ends a message without a terminator (default 10000 ms). */
  rawIdleMs?: number;
  /** Raw mode: what the box ends each record with when it sends (default CR). */
  rawRecordEnd?: 'CR' | 'CRLF';
  /** Payload adapters for non-ASTM payloads (default none: every such payload is unknown). */
  adapters?: readonly PayloadAdapter[];
  foreignIdleMs?: number;
  maxMessageBytes?: number;
  /**
   * The instrument's text encoding for records the box sends as strings (default latin1, the
   * ASTM default). Characters it cannot carry are folded, never refused (see text-encode.ts).
   */
  textEncoding?: TextEncodingOption;
}

const H = 0x48;

export class AstmLine {
  readonly framing: FramingMode;
  private readonly link: E1381Link;
  private readonly raw: RawRecordReader;
  private readonly foreign: ForeignCapture;
  /** auto: the mode of the message in progress (or last seen). */
  private current: 'e1381' | 'raw';
  private destroyed = false;

  constructor(private readonly opts: AstmLineOptions) {
    this.framing = opts.framing ?? 'e1381';
    if (!['e1381', 'raw', 'auto'].includes(this.framing)) throw new LabedgeError('LABEDGE_ERR_CONFIG', 'framing must be e1381, raw or auto');
    this.current = this.framing === 'raw' ? 'raw' : 'e1381';
    const emit = (e: LinkEvent) => opts.onEvent?.(e);
    this.link = new E1381Link({
      ...opts.link,
      ...(opts.maxMessageBytes !== undefined && { maxMessageBytes: opts.maxMessageBytes }),
      clock: opts.clock,
      write: (b) => opts.write(b),
      onEvent: emit,
      onMessage: (m, settle) => opts.onMessage({ framing: 'e1381', text: m.text, frames: m.frames, complete: m.complete }, settle),
    });
    this.raw = new RawRecordReader({
      clock: opts.clock,
      onEvent: emit,
      ...(opts.rawIdleMs !== undefined && { idleMs: opts.rawIdleMs }),
      ...(opts.maxMessageBytes !== undefined && { maxMessageBytes: opts.maxMessageBytes }),
      onMessage: (m) => opts.onMessage({ framing: 'raw', text: m.text, frames: 0, complete: m.complete }, () => undefined),
    });
    this.foreign = new ForeignCapture({
      clock: opts.clock,
      adapters: opts.adapters ?? [],
      ...(opts.foreignIdleMs !== undefined && { idleMs: opts.foreignIdleMs }),
      onJunk: (bytes) => emit({ kind: 'junk', bytes }),
      onPayload: ({ bytes, adapter }) => {
        emit({ kind: 'foreign-payload', bytes: bytes.length, adapter: adapter?.name ?? null });
        const reply = adapter?.reply;
        opts.onMessage({ framing: 'foreign', text: bytes, frames: 0, complete: adapter !== null, adapter: adapter?.name ?? null }, (committed) => {
          if (reply && !this.destroyed) opts.write(committed ? reply : Uint8Array.of(NAK));
        });
      },
    });
  }

  /** neutral when no session, raw message or payload is in progress. */
  get state(): LinkState {
    if (this.destroyed) return LinkState.Destroyed;
    if (this.foreign.active || !this.raw.idle) return LinkState.Receiving;
    return this.link.state;
  }

  get bufferedBytes(): number {
    return this.link.bufferedBytes + this.raw.bufferedBytes;
  }

  /** Messages the box has queued to send (E1381). */
  get pending(): number {
    return this.link.pending;
  }

  /**
   * Sends one message as the sender role: through the E1381 link, or (raw framing, or auto
   * after raw traffic) written as plain records at once.
   */
  send(records: readonly (string | Buffer)[], options: LinkSendOptions = {}): Promise<LinkSendResult> {
    if (this.destroyed) return Promise.resolve({ ok: false, reason: 'destroyed', attempts: 0 });
    const encoding = this.opts.textEncoding ?? 'latin1';
    const encoded = records.map((r) => (typeof r === 'string' ? encodeRecordText(r, encoding) : r));
    if (this.current === 'e1381') return this.link.send(encoded, options);
    const end = this.opts.rawRecordEnd === 'CRLF' ? Buffer.of(CR, LF) : Buffer.of(CR);
    const bytes = Buffer.concat(encoded.flatMap((r) => [r.at(-1) === CR ? r.subarray(0, -1) : r, end]));
    this.opts.write(bytes);
    return Promise.resolve({ ok: true, attempts: 1 });
  }

  /** Receiver interrupt on the E1381 link (see E1381Link.interruptPeer). */
  interruptPeer(): void {
    this.link.interruptPeer();
  }

  consume(chunk: Uint8Array): void {
    let i = 0;
    while (!this.destroyed && i < chunk.length) {
      if (this.foreign.active) {
        i += this.foreign.push(chunk.subarray(i));
        continue;
      }
      if (!this.raw.idle) {
        this.raw.consume(chunk.subarray(i));
        return;
      }
      if (this.link.state !== LinkState.Neutral) {
        this.link.consume(chunk.subarray(i));
        return;
      }
      // A message boundary: the next significant byte decides where the bytes go.
      const j = this.nextSignificant(chunk, i);
      if (j > i) this.boundaryJunk(chunk.subarray(i, j));
      if (j >= chunk.length) return;
      const b = chunk[j] as number;
      if (b === STX) {
        i = j + this.foreign.push(chunk.subarray(j));
      } else if (b === ENQ && this.framing !== 'raw') {
        this.use('e1381');
        this.link.consume(chunk.subarray(j));
        return;
      } else {
        this.use('raw');
        this.raw.consume(chunk.subarray(j));
        return;
      }
    }
  }

  /** The line closed: a raw message or payload in progress is delivered as it is. */
  flush(): void {
    this.foreign.flush();
    this.raw.flush();
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.link.destroy();
    this.raw.destroy();
    this.foreign.destroy();
  }

  /** First byte at or after `from` that starts something in this framing mode. */
  private nextSignificant(chunk: Uint8Array, from: number): number {
    for (let j = from; j < chunk.length; j++) {
      const b = chunk[j];
      if (b === STX) return j;
      if (this.framing === 'e1381' && b === ENQ) return j;
      if (this.framing === 'auto' && (b === ENQ || b === H)) return j;
      if (this.framing === 'raw' && b !== undefined && b >= 0x20) return j;
    }
    return chunk.length;
  }

  /** Bytes between messages: the link counts them as junk (in e1381 it also ignores stray ACK/NAK). */
  private boundaryJunk(bytes: Uint8Array): void {
    if (this.framing === 'raw') this.raw.consume(bytes);
    else this.link.consume(bytes);
  }

  private use(mode: 'e1381' | 'raw'): void {
    if (this.current === mode) return;
    this.current = mode;
    if (this.framing === 'auto') this.opts.onEvent?.({ kind: 'framing', mode });
  }
}
