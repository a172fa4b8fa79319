import { CR, LF } from './control-bytes.js';

/**
 * A terminator record is short (`L|1|N`, `L||`, a bare `L`, Q17). The backward scan for
 * the start of the last record stops after this many bytes, so checking every ETX frame
 * of a long message stays linear.
 */
const MAX_TERMINATOR_SCAN = 4096;

const L = 0x4c;

function isAlphanumeric(b: number): boolean {
  return (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a);
}

/**
 * True when the last CR-separated record of `text` is an E1394 terminator record:
 * it starts with `L` followed by a non-alphanumeric byte (the field delimiter) or nothing.
 * Trailing CR/LF are ignored.
 */
export function endsWithTerminatorRecord(text: Uint8Array): boolean {
  let end = text.length;
  while (end > 0 && (text[end - 1] === CR || text[end - 1] === LF)) end--;
  if (end === 0) return false;
  const floor = Math.max(0, end - MAX_TERMINATOR_SCAN);
  let start = end;
  while (start > floor && text[start - 1] !== CR && text[start - 1] !== LF) start--;
  // Hit the scan limit inside a long record: that record is not a terminator.
  if (start === floor && floor > 0 && text[floor - 1] !== CR && text[floor - 1] !== LF) return false;
  if (text[start] !== L) return false;
  const next = text[start + 1];
  return start + 1 === end || next === undefined || !isAlphanumeric(next);
}
