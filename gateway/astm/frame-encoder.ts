import { LabedgeError } from '../core/errors.js';
import { CR, ETB, ETX, FRAME_OVERHEAD_BYTES, LF, STX, isRestrictedTextByte } from './control-bytes.js';
import { frameChecksum, formatChecksum } from './checksum.js';
import { checkCount } from './link-options.js';

/** E1381-95 text limit per frame (247 bytes with overhead); the safe default for any instrument. */
export const DEFAULT_MAX_TEXT_PER_FRAME = 247 - FRAME_OVERHEAD_BYTES;

/**
 * One record's bytes, CR-terminated. Strings are latin-1 (the ASTM default); pass Buffers
 * for any other encoding. A trailing CR already present is not doubled; CR inside a record
 * is allowed (it is not a restricted byte) and simply puts several records in one frame.
 */
function recordBytes(record: string | Buffer, index: number): Buffer {
  let bytes: Buffer;
  if (typeof record === 'string') {
    for (let i = 0; i < record.length; i++) {
      if (record.charCodeAt(i) > 0xff) {
        throw new LabedgeError('LABEDGE_ERR_ASTM_FRAME', `record ${index + 1} has a character outside latin-1; pass a Buffer`);
      }
    }
    bytes = Buffer.from(record, 'latin1');
  } else {
    bytes = record;
  }
  const body = bytes.length > 0 && bytes[bytes.length - 1] === CR ? bytes.subarray(0, -1) : bytes;
  for (const b of body) {
    if (isRestrictedTextByte(b)) {
      throw new LabedgeError('LABEDGE_ERR_ASTM_FRAME', `record ${index + 1} contains a control byte not allowed in frame text`);
    }
  }
  return Buffer.concat([body, Buffer.of(CR)]);
}

function frame(fn: number, text: Buffer, last: boolean): Buffer {
  const out = Buffer.allocUnsafe(text.length + FRAME_OVERHEAD_BYTES);
  out[0] = STX;
  out[1] = 0x30 + fn;
  text.copy(out, 2);
  const end = 2 + text.length;
  out[end] = last ? ETX : ETB;
  out.write(formatChecksum(frameChecksum(out, 1, end + 1)), end + 1, 'latin1');
  out[end + 3] = CR;
  out[end + 4] = LF;
  return out;
}

/**
 * Frames for one message (one session). Each record starts a new frame; a record longer
 * than maxTextPerFrame continues in ETB frames and its last frame ends with ETX.
 * Frame numbers run 1..7, 0, 1...; checksums are upper-case.
 */
export function encodeFrames(records: readonly (string | Buffer)[], maxTextPerFrame = DEFAULT_MAX_TEXT_PER_FRAME): Buffer[] {
  checkCount('maxTextPerFrame', maxTextPerFrame, 1);
  const frames: Buffer[] = [];
  let fn = 1;
  records.forEach((record, index) => {
    const text = recordBytes(record, index);
    for (let start = 0; start < text.length; start += maxTextPerFrame) {
      const end = Math.min(start + maxTextPerFrame, text.length);
      frames.push(frame(fn, text.subarray(start, end), end === text.length));
      fn = (fn + 1) & 7;
    }
  });
  return frames;
}
