/**
 * E1394 escape sequences, written with the message's own escape character E (`&` by default,
 * `\` on GeneXpert, `~` on Beckman): EFE field, ESE component, ERE repeat, EEE escape,
 * EXhh…E hex bytes, EZ…E local (kept verbatim: we cannot interpret it), EHE/ENE highlight on/off
 * (dropped). Anything else, including an unterminated E, is literal text: instruments put bare `&`
 * in free text far more often than they send malformed escapes.
 */
import type { Delimiters } from './delimiters.js';
import { decodeText } from './text-decode.js';

const HEX = /^X((?:[0-9A-Fa-f]{2})+)$/;

export function decodeEscapes(text: string, d: Delimiters): string {
  const e = d.escape;
  if (e === '' || !text.includes(e)) return text;
  let out = '';
  let i = 0;
  while (i < text.length) {
    const start = text.indexOf(e, i);
    if (start < 0) {
      out += text.slice(i);
      break;
    }
    out += text.slice(i, start);
    const end = text.indexOf(e, start + 1);
    if (end < 0) {
      out += text.slice(start);
      break;
    }
    const seq = text.slice(start + 1, end);
    const replacement = decodeSequence(seq, d);
    if (replacement === undefined) {
      // Not an escape: keep the escape character literally and rescan from the next character.
      out += e;
      i = start + 1;
    } else {
      out += replacement;
      i = end + 1;
    }
  }
  return out;
}

function decodeSequence(seq: string, d: Delimiters): string | undefined {
  switch (seq) {
    case 'F':
      return d.field;
    case 'S':
      return d.component;
    case 'R':
      return d.repeat;
    case 'E':
      return d.escape;
    case 'H':
    case 'N':
      return '';
  }
  const hex = HEX.exec(seq);
  if (hex?.[1] !== undefined) return decodeText(Buffer.from(hex[1], 'hex'), 'auto');
  if (seq.startsWith('Z') && seq.length > 1) return d.escape + seq + d.escape;
  return undefined;
}

/**
 * Encodes one component value so that decodeEscapes(encodeEscapes(s)) === s. Control characters
 * (CR, LF, and the bytes LIS01-A2 forbids in frame text) go as hex, so a value from upstream can
 * never end a record or break the frame it travels in.
 */
export function encodeEscapes(text: string, d: Delimiters): string {
  const e = d.escape;
  let out = '';
  for (const ch of text) {
    const code = ch.charCodeAt(0);
    if (e !== '' && ch === e) out += `${e}E${e}`;
    else if (e !== '' && ch === d.field) out += `${e}F${e}`;
    else if (e !== '' && ch === d.component) out += `${e}S${e}`;
    else if (e !== '' && ch === d.repeat) out += `${e}R${e}`;
    else if (code < 0x20 || code === 0x7f) out += e === '' ? ' ' : `${e}X${code.toString(16).toUpperCase().padStart(2, '0')}${e}`;
    else out += ch;
  }
  return out;
}
