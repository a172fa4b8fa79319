/**
 * Reads one E1381 frame byte by byte, from after its STX through C2:
 * `FN text ETX|ETB C1 C2`. Keeps a running checksum and at most maxFrameBytes of frame,
 * and judges the frame when it is complete. Session rules (frame numbers, ACK/NAK) are
 * the receiver's.
 */
import { CR, ETB, ETX, EOT, FRAME_OVERHEAD_BYTES, LF, STX, isRestrictedTextByte } from './control-bytes.js';
import { hexDigitValue } from './checksum.js';
import { GrowableBuffer } from './growable-buffer.js';
import type { FrameRejectReason } from './link-events.js';

export const FrameProgress = {
  /** Byte taken; the frame goes on. */
  More: 0,
  /** STX inside the frame: it was cut short; the caller discards it and begins anew. */
  Restart: 1,
  /** EOT inside the frame: skipped as junk (it cannot be text). */
  Skipped: 2,
  /** C2 read: the frame is complete; see rejectReason(). */
  Complete: 3,
  /**
   * `C1 C2 CR LF` inside the text: this frame's ETX/ETB was lost on the line and its
   * trailer has gone by. The caller drops it without a reply; the sender times out and
   * resends. A NAK here would come much later, after noise happened to end the "frame",
   * and would be taken as the answer to some other frame.
   */
  Abandon: 4,
} as const;
export type FrameProgress = (typeof FrameProgress)[keyof typeof FrameProgress];

const Part = { FrameNumber: 0, Text: 1, Checksum1: 2, Checksum2: 3 } as const;
type Part = (typeof Part)[keyof typeof Part];

export class FrameReader {
  /** Frame text (between FN and ETX/ETB); swapped with the receiver's copy of the last frame. */
  text: GrowableBuffer;
  /** Frame number 0..7, or -1 if the byte after STX was not one. */
  fn = -1;
  /** ETX or ETB once read. */
  terminator = 0;
  private part: Part = Part.FrameNumber;
  private textLength = 0;
  private sum = 0;
  private malformed = false;
  private restricted = false;
  private c1 = -1;
  private c2 = -1;
  /** The last three text bytes, newest first: enough to spot a frame trailer in the text. */
  private r0 = -1;
  private r1 = -1;
  private r2 = -1;

  constructor(private readonly maxFrameBytes: number) {
    this.text = new GrowableBuffer(maxFrameBytes - FRAME_OVERHEAD_BYTES);
  }

  /** Bytes of this frame seen so far, STX included (for junk accounting). */
  get size(): number {
    return 1 + (this.fn >= 0 ? 1 : 0) + this.textLength;
  }

  begin(): void {
    this.part = Part.FrameNumber;
    this.text.truncate(0);
    this.fn = -1;
    this.terminator = 0;
    this.textLength = 0;
    this.sum = 0;
    this.malformed = false;
    this.restricted = false;
    this.c1 = -1;
    this.c2 = -1;
    this.r0 = this.r1 = this.r2 = -1;
  }

  push(b: number): FrameProgress {
    if (b === STX) return FrameProgress.Restart;
    if (b === EOT) return FrameProgress.Skipped;
    switch (this.part) {
      case Part.FrameNumber:
        this.part = Part.Text;
        if (b >= 0x30 && b <= 0x37) {
          this.fn = b - 0x30;
          this.sum = b;
          return FrameProgress.More;
        }
        this.malformed = true;
        return this.push(b);
      case Part.Text:
        this.sum = (this.sum + b) & 0xff;
        if (b === ETX || b === ETB) {
          this.terminator = b;
          this.part = Part.Checksum1;
          return FrameProgress.More;
        }
        if (b === LF && this.looksLikeTrailer()) return FrameProgress.Abandon;
        if (isRestrictedTextByte(b)) this.restricted = true;
        this.r2 = this.r1;
        this.r1 = this.r0;
        this.r0 = b;
        this.textLength++;
        // Past the limit text is only counted, not kept, so memory stays bounded.
        if (this.textLength + FRAME_OVERHEAD_BYTES <= this.maxFrameBytes) this.text.push(b);
        return FrameProgress.More;
      case Part.Checksum1:
        this.c1 = hexDigitValue(b);
        this.part = Part.Checksum2;
        return FrameProgress.More;
      case Part.Checksum2:
        this.c2 = hexDigitValue(b);
        return FrameProgress.Complete;
      default:
        return this.part satisfies never;
    }
  }

  /**
   * Fast path for the bulk of a frame: takes the run of plain text bytes (printable, 0x80+ and
   * CR) starting at `from`, exactly as push() would one by one, and returns how many it took
   * (0 when not inside the text or the byte at `from` needs push()).
   */
  pushTextRun(bytes: Uint8Array, from: number): number {
    if (this.part !== Part.Text) return 0;
    let i = from;
    let sum = this.sum;
    for (; i < bytes.length; i++) {
      const b = bytes[i] as number;
      if (b < 0x20 && b !== CR) break;
      sum += b;
    }
    const n = i - from;
    if (n === 0) return 0;
    this.sum = sum & 0xff;
    const room = this.maxFrameBytes - FRAME_OVERHEAD_BYTES - this.textLength;
    if (room > 0) this.text.append(bytes.subarray(from, from + Math.min(n, room)));
    this.textLength += n;
    // Keep the last three text bytes, newest first, as push() does.
    if (n >= 3) {
      this.r2 = bytes[i - 3] as number;
      this.r1 = bytes[i - 2] as number;
    } else if (n === 2) {
      this.r2 = this.r0;
      this.r1 = bytes[i - 2] as number;
    } else {
      this.r2 = this.r1;
      this.r1 = this.r0;
    }
    this.r0 = bytes[i - 1] as number;
    return n;
  }

  /** Text ends `C1 C2 CR` or `C1 C2`: what comes before a trailing LF when ETX/ETB was lost. */
  private looksLikeTrailer(): boolean {
    if (this.r0 === CR) return hexDigitValue(this.r1) >= 0 && hexDigitValue(this.r2) >= 0;
    return hexDigitValue(this.r0) >= 0 && hexDigitValue(this.r1) >= 0;
  }

  /** Why a complete frame must be NAKed, or null if it is sound (frame number not judged here). */
  rejectReason(): FrameRejectReason | null {
    if (this.textLength + FRAME_OVERHEAD_BYTES > this.maxFrameBytes) return 'too-long';
    if (this.malformed || this.c1 < 0 || this.c2 < 0) return 'malformed';
    // Either case of hex digit is accepted (Q5).
    if (((this.c1 << 4) | this.c2) !== this.sum) return 'checksum';
    if (this.restricted) return 'restricted-char';
    return null;
  }
}
