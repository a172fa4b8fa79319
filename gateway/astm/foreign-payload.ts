/**
 * Non-ASTM payloads on an ASTM port (research Q9): bytes that start with STX while the link is
 * neutral (no ENQ came first), such as Arkray Spotchem free text between STX and ETX or
 * bioMérieux mini VIDAS RS-separated key/values ending in GS and a checksum. They are captured
 * whole (never answered with NAK, so the instrument is not stormed) and handed to the profile's
 * payload adapters; a payload no adapter claims is delivered as unknown, to be quarantined.
 *
 * A capture ends at the first of: an adapter saying it is complete, EOT or ENQ (not part of
 * it; ENQ then starts a normal session), a new STX, idleMs of silence, or maxBytes.
 * What is not kept: stray E1381 frames (a session whose ENQ we missed; the sender retries the
 * whole message) and binary noise (under 8 bytes or mostly unprintable). Both count as junk.
 */
import type { Clock, TimerHandle } from '../core/clock.js';
import { ENQ, EOT, ETX, STX } from './control-bytes.js';
import { hasE1381Framing } from './capture-deframe.js';
import { checkPositive } from './link-options.js';

export interface PayloadAdapter {
  /** Stable name, stored with the message and used again when it is converted. */
  readonly name: string;
  /** Whether a payload (STX included) has all its bytes. */
  isComplete(payload: Uint8Array): boolean;
  /** Whether a finished payload is this adapter's format. */
  matches(payload: Uint8Array): boolean;
  /** Bytes to answer a committed payload with (e.g. ACK); nothing when absent. */
  readonly reply?: Uint8Array;
  /** The payload as E1394 records (CR-separated); undefined when it cannot be read. Pure. */
  toRecords(payload: Uint8Array): { text: string; warnings: string[] } | undefined;
}

export interface ForeignPayload {
  bytes: Buffer;
  /** The adapter that claimed it, or null (unknown: quarantine it). */
  adapter: PayloadAdapter | null;
}

export interface ForeignCaptureOptions {
  clock: Clock;
  adapters: readonly PayloadAdapter[];
  onPayload(payload: ForeignPayload): void;
  onJunk(bytes: number): void;
  /** Silence that ends a payload (default 2000 ms). */
  idleMs?: number;
  /** Largest payload kept (default 65536 bytes). */
  maxBytes?: number;
}

const MIN_UNKNOWN_BYTES = 8;
const MIN_PRINTABLE_SHARE = 0.75;

export class ForeignCapture {
  private readonly idleMs: number;
  private readonly maxBytes: number;
  private chunks: Buffer[] = [];
  private size = 0;
  private timer: TimerHandle | undefined;

  constructor(private readonly opts: ForeignCaptureOptions) {
    this.idleMs = checkPositive('foreignIdleMs', opts.idleMs ?? 2000);
    this.maxBytes = checkPositive('maxForeignBytes', opts.maxBytes ?? 65536);
  }

  get active(): boolean {
    return this.size > 0;
  }

  /**
   * Takes bytes of a payload; the first byte of the first call must be STX. Returns how many
   * bytes were taken: fewer than given when the payload ended inside the chunk.
   */
  push(chunk: Uint8Array): number {
    if (!this.active && chunk[0] !== STX) return 0;
    for (let i = this.active ? 0 : 1; i < chunk.length; i++) {
      const b = chunk[i];
      if (b === EOT || b === ENQ || b === STX) {
        this.append(chunk.subarray(0, i));
        this.finish();
        return b === EOT ? i + 1 : i;
      }
    }
    this.append(chunk);
    this.checkEnd();
    return chunk.length;
  }

  /** Ends a capture in progress (the line closed). */
  flush(): void {
    if (this.active) this.finish();
  }

  destroy(): void {
    this.opts.clock.clearTimer(this.timer);
    this.timer = undefined;
    this.chunks = [];
    this.size = 0;
  }

  /** Keeps at most maxBytes; the rest of an overlong payload is dropped. */
  private append(part: Uint8Array): void {
    const room = this.maxBytes - this.size;
    if (part.length === 0 || room <= 0) return;
    this.chunks.push(Buffer.from(part.length > room ? part.subarray(0, room) : part));
    this.size += Math.min(part.length, room);
  }

  private checkEnd(): void {
    const bytes = this.bytes();
    if (this.size >= this.maxBytes || this.opts.adapters.some((a) => a.isComplete(bytes))) return this.finish();
    this.opts.clock.clearTimer(this.timer);
    this.timer = this.opts.clock.setTimer(this.idleMs, () => {
      this.timer = undefined;
      if (this.active) this.finish();
    });
  }

  private bytes(): Buffer {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0] ?? Buffer.alloc(0);
  }

  private finish(): void {
    this.opts.clock.clearTimer(this.timer);
    this.timer = undefined;
    const bytes = this.bytes();
    this.chunks = [];
    this.size = 0;
    const adapter = this.opts.adapters.find((a) => a.matches(bytes)) ?? null;
    if (adapter) return this.opts.onPayload({ bytes, adapter });
    if (hasE1381Framing(bytes) || !looksLikeText(bytes)) return this.opts.onJunk(bytes.length);
    this.opts.onPayload({ bytes, adapter: null });
  }
}

function looksLikeText(bytes: Uint8Array): boolean {
  if (bytes.length < MIN_UNKNOWN_BYTES) return false;
  let printable = 0;
  // Text plus what structures text: line breaks, tabs, STX/ETX, and the FS/GS/RS/US separators
  // that key-value devices (mini VIDAS) use; a payload made of these is a message, not noise.
  for (const b of bytes) if ((b >= 0x20 && b < 0x7f) || b >= 0xa0 || b === 0x0d || b === 0x0a || b === 0x09 || b === STX || b === ETX || (b >= 0x1c && b <= 0x1f)) printable++;
  return printable / bytes.length >= MIN_PRINTABLE_SHARE;
}
