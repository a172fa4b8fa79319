/**
 * A whole file or captured byte stream → HL7 payloads, for conversion (the CLI, tests). Pure and
 * timeless; live connections use gateway/hl7/mllp-framer.ts instead.
 *
 * When the bytes hold MLLP frames (`0x0B` followed by a segment), each `0x0B … 0x1C` is one payload
 * and everything outside a frame (junk, line noise) is counted and skipped; a last frame without
 * its end block is kept (a truncated capture still converts). Otherwise the bytes are one payload
 * (records with CR, LF or CRLF terminators, a BOM, several messages: the parser splits those).
 */
const SB = 0x0b;
const EB = 0x1c;

export interface CapturePayloads {
  readonly payloads: Buffer[];
  readonly framed: boolean;
  /** Bytes outside any frame. */
  readonly junkBytes: number;
}

export function capturePayloads(bytes: Uint8Array): CapturePayloads {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let start = buf.indexOf(SB);
  // Framed only when a start block is followed by a segment name (optionally after a BOM).
  while (start >= 0 && !/^(\xEF\xBB\xBF)?[A-Z][A-Z0-9]{2}/.test(buf.toString('latin1', start + 1, start + 7))) start = buf.indexOf(SB, start + 1);
  if (start < 0) return { payloads: [buf], framed: false, junkBytes: 0 };
  const payloads: Buffer[] = [];
  let junk = 0;
  let pos = 0;
  while (pos < buf.length) {
    const sb = buf.indexOf(SB, pos);
    if (sb < 0) {
      junk += countJunk(buf, pos, buf.length);
      break;
    }
    junk += countJunk(buf, pos, sb);
    let eb = buf.indexOf(EB, sb + 1);
    const next = buf.indexOf(SB, sb + 1);
    // A start block inside an open frame: the open frame ends there (a sender restarted).
    if (next >= 0 && (eb < 0 || next < eb)) eb = next;
    const end = eb < 0 ? buf.length : eb;
    payloads.push(buf.subarray(sb + 1, end));
    pos = eb < 0 ? buf.length : eb === next ? next : eb + 1;
  }
  return { payloads, framed: true, junkBytes: junk };
}

/** Junk between frames, not counting the CR (and LF) that ends a frame's trailer. */
function countJunk(buf: Buffer, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to; i++) {
    const c = buf[i];
    if (c !== 0x0d && c !== 0x0a) n++;
  }
  return n;
}

/** True when the bytes look like HL7 v2: a header segment first (after a BOM or blank lines), or one inside an MLLP frame. */
export function looksLikeHl7(bytes: Uint8Array): boolean {
  const head = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.byteLength, 4096)).toString('latin1');
  // eslint-disable-next-line no-control-regex
  const start = head.replace(/^\xEF\xBB\xBF/, '').replace(/^[\s\x00]+/, '');
  // eslint-disable-next-line no-control-regex
  return /^(MSH|FHS|BHS)[^A-Za-z0-9\s]/.test(start) || /\x0b(\xEF\xBB\xBF)?(MSH|FHS|BHS)[^A-Za-z0-9\s]/.test(head);
}
