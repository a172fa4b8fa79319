/**
 * HL7 v2 escape sequences (v2.x chapter 2.7), decoded by one left-to-right scan:
 * `\F\ \S\ \T\ \R\ \E\` → the delimiter, `\P\` → the truncation character, `\Xhh…\` → bytes in the
 * message's character set, `\.br\` and `\.sp\` → newline, other formatting commands (`\.in\`, `\.ti\`,
 * `\.fi\`, `\.nf\`, `\.ce\`, `\.sk\`) and highlighting (`\H\ \N\`) dropped. Anything else, and an
 * unterminated sequence, is kept literally (never lost, never a crash).
 */
import { decodeBytes, type Hl7TextEncoding } from './charset.js';
import type { Hl7Delimiters } from './delimiters.js';

export interface EscapeIssue {
  /** 'unknown' | 'unterminated' | 'bad-hex' */
  readonly kind: 'unknown' | 'unterminated' | 'bad-hex';
}

function hexBytes(hex: string): Uint8Array | undefined {
  if (hex.length === 0 || hex.length % 2 !== 0) return undefined;
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) {
    const v = Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16);
    if (!/^[0-9A-Fa-f]{2}$/.test(hex.slice(i * 2, i * 2 + 2)) || Number.isNaN(v)) return undefined;
    out[i] = v;
  }
  return out;
}

/** Hex → text in the message charset; undefined when the hex or the bytes are not valid (kept literally then). */
function decodeHex(hex: string, encoding: Hl7TextEncoding): string | undefined {
  const bytes = hexBytes(hex);
  if (bytes === undefined) return undefined;
  const decoded = decodeBytes(bytes, encoding);
  return decoded.replaced ? undefined : decoded.text;
}

/**
 * `\Xhh\` sequences that follow each other are one byte run: a sender that escapes byte by byte
 * splits a multi-byte UTF-8 character across them. Returns the run's hex and where it ends.
 */
function hexRun(text: string, esc: string, first: string, end: number): { hex: string; end: number } {
  let hex = first;
  let at = end;
  while (text[at + 1] === esc && (text[at + 2] === 'X' || text[at + 2] === 'x')) {
    const next = text.indexOf(esc, at + 2);
    if (next < 0) break;
    const more = text.slice(at + 3, next);
    if (hexBytes(more) === undefined) break;
    hex += more;
    at = next;
  }
  return { hex, end: at };
}

/**
 * Decodes the escape sequences in one value (a component, subcomponent or whole field).
 * `onIssue` is told about unknown, unterminated and malformed sequences (by kind, never by content).
 */
export function decodeEscapes(
  text: string,
  d: Hl7Delimiters,
  encoding: Hl7TextEncoding,
  onIssue?: (issue: EscapeIssue) => void,
): string {
  const esc = d.escape;
  if (esc === '') return text;
  let start = text.indexOf(esc);
  if (start < 0) return text;
  let out = '';
  let last = 0;
  while (start >= 0) {
    let end = text.indexOf(esc, start + 1);
    if (end < 0) {
      onIssue?.({ kind: 'unterminated' });
      break;
    }
    const body = text.slice(start + 1, end);
    let replacement: string | undefined;
    switch (body) {
      case 'F': replacement = d.field; break;
      case 'S': replacement = d.component; break;
      case 'T': replacement = d.subcomponent; break;
      case 'R': replacement = d.repetition; break;
      case 'E': replacement = esc; break;
      case 'P': replacement = d.truncation ?? ''; break;
      case 'H': case 'N': replacement = ''; break;
      case '.br': case '.sp': replacement = '\n'; break;
      default:
        if (body.startsWith('X') || body.startsWith('x')) {
          const run = hexBytes(body.slice(1)) === undefined ? undefined : hexRun(text, esc, body.slice(1), end);
          const joined = run === undefined ? undefined : decodeHex(run.hex, encoding);
          if (run !== undefined && joined !== undefined) {
            replacement = joined;
            end = run.end;
          } else {
            replacement = decodeHex(body.slice(1), encoding); // the run is not valid text as a whole: this sequence alone
            if (replacement === undefined) onIssue?.({ kind: 'bad-hex' });
          }
        } else if (/^\.(sp|in|ti|sk)[+-]?\d*$/.test(body) || /^\.(fi|nf|ce)$/.test(body)) {
          replacement = body.startsWith('.sp') ? '\n' : '';
        } else if (/^[CM][0-9A-Fa-f]{4,6}$/.test(body)) {
          replacement = ''; // ISO 2022 character-set switches: the text is already decoded
        } else {
          onIssue?.({ kind: 'unknown' });
        }
    }
    if (replacement === undefined) {
      // Keep the escape character literally and rescan from the closing one: it may open a real sequence.
      out += text.slice(last, end);
      last = end;
      start = end;
      continue;
    }
    out += text.slice(last, start) + replacement;
    last = end + 1;
    start = text.indexOf(esc, last);
  }
  return out + text.slice(last);
}

/** Escapes delimiters in a value so that it survives encoding (the inverse of decodeEscapes for plain text). */
export function encodeEscapes(text: string, d: Hl7Delimiters): string {
  if (d.escape === '') return text;
  let out = '';
  for (const ch of text) {
    if (ch === d.escape) out += `${d.escape}E${d.escape}`;
    else if (ch === d.field) out += `${d.escape}F${d.escape}`;
    else if (ch === d.component) out += `${d.escape}S${d.escape}`;
    else if (ch === d.subcomponent && ch !== '') out += `${d.escape}T${d.escape}`;
    else if (ch === d.repetition) out += `${d.escape}R${d.escape}`;
    else if (d.truncation !== undefined && ch === d.truncation) out += `${d.escape}P${d.escape}`;
    else if (ch === '\r') out += `${d.escape}X0D${d.escape}`;
    else if (ch === '\n') out += `${d.escape}.br${d.escape}`;
    else out += ch;
  }
  return out;
}
