/**
 * Bytes → HL7 v2 messages. Never throws: whatever cannot be understood becomes a warning that
 * names a position, never content.
 *
 * - A UTF-8 BOM (at the start or before any segment) is dropped.
 * - Segments end with CR. Only when the input has no CR at all, LF (and so CRLF) is the terminator;
 *   LF inside a CR-terminated message is data (an NTE line break), except right after a CR.
 * - Batches (FHS/BHS … BTS/FTS) and files of several messages are split at each MSH; batch envelope
 *   segments are dropped; blank lines between messages are ignored.
 * - Stray MLLP bytes (0x0B before a segment, 0x1C after one) are ignored with a warning.
 * - Text is decoded per message with its own MSH-18 (or the override).
 */
import { Hl7Message } from './message.js';

export { Hl7Message, Hl7Segment } from './message.js';
export type { Hl7Delimiters } from './delimiters.js';

export interface ParseHl7Options {
  /** Character set override: an MSH-18 spelling (`8859/1`, `UNICODE UTF-8`), `auto`, `utf-8` or `latin1`. */
  readonly charset?: string;
}

export interface ParseHl7Result {
  readonly messages: Hl7Message[];
  readonly warnings: string[];
}

const CR = 0x0d;
const LF = 0x0a;
const VT = 0x0b;
const FS = 0x1c;

function isSegmentName(buf: Buffer, at: number, end: number, name: string): boolean {
  return (
    end - at >= 3 &&
    buf[at] === name.charCodeAt(0) &&
    buf[at + 1] === name.charCodeAt(1) &&
    buf[at + 2] === name.charCodeAt(2) &&
    (end - at === 3 || !isAlnum(buf[at + 3] ?? 0))
  );
}

function isAlnum(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}

function isBlank(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x00 || c === LF || c === CR;
}

export function parseHl7(bytes: Uint8Array, options: ParseHl7Options = {}): ParseHl7Result {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const warnings: string[] = [];
  const messages: Hl7Message[] = [];
  const lf = buf.indexOf(CR) < 0;
  if (lf && buf.indexOf(LF) >= 0) warnings.push('input: no CR segment terminator; LF used');
  const term = lf ? LF : CR;

  let msgStart = -1;
  let msgEnd = -1;
  let junkBytes = 0;
  let stray = false;
  let batchSegments = 0;
  const flush = (): void => {
    if (msgStart >= 0) {
      messages.push(safeMessage(buf.subarray(msgStart, msgEnd), lf, options.charset, warnings));
    }
    msgStart = -1;
  };

  let pos = 0;
  const n = buf.length;
  while (pos < n) {
    let end = buf.indexOf(term, pos);
    if (end < 0) end = n;
    let s = pos;
    // Leading LF (CRLF), a BOM, MLLP start bytes: not part of the segment.
    for (;;) {
      if (buf[s] === LF && s < end) s++;
      else if (buf[s] === VT && s < end) { s++; stray = true; }
      else if (buf[s] === 0xef && buf[s + 1] === 0xbb && buf[s + 2] === 0xbf && s + 3 <= end) s += 3;
      else break;
    }
    let e = end;
    while (e > s && buf[e - 1] === FS) { e--; stray = true; }
    const next = end < n ? end + 1 : n;
    let blank = true;
    for (let i = s; i < e && blank; i++) if (!isBlank(buf[i] ?? 0)) blank = false;
    if (!blank) {
      if (isSegmentName(buf, s, e, 'MSH')) {
        flush();
        msgStart = s;
        msgEnd = next;
      } else if (isSegmentName(buf, s, e, 'FHS') || isSegmentName(buf, s, e, 'BHS') ||
                 isSegmentName(buf, s, e, 'BTS') || isSegmentName(buf, s, e, 'FTS')) {
        flush();
        batchSegments++;
      } else if (msgStart >= 0) {
        msgEnd = next;
      } else {
        junkBytes += e - s;
      }
    }
    pos = next;
  }
  flush();
  if (junkBytes > 0) warnings.push(`input: ${junkBytes} bytes outside any message skipped`);
  if (stray) warnings.push('input: stray MLLP framing bytes ignored');
  if (batchSegments > 0) warnings.push(`input: batch envelope (${batchSegments} FHS/BHS/BTS/FTS segments) split into messages`);
  if (messages.length === 0) warnings.push('input: no MSH segment found');
  return { messages, warnings };
}

function safeMessage(raw: Buffer, lf: boolean, charset: string | undefined, warnings: string[]): Hl7Message {
  // The constructor is written not to throw; this guard keeps parseHl7's "never throws" promise
  // even if a decoder misbehaves, by retrying with ISO-8859-1.
  try {
    return new Hl7Message(raw, { lineFeedTerminated: lf, ...(charset !== undefined ? { charset } : {}) });
  } catch {
    warnings.push('input: message could not be decoded with its character set; ISO-8859-1 used');
    return new Hl7Message(raw, { lineFeedTerminated: lf, charset: 'latin1' });
  }
}
