/**
 * Text → bytes for records the box sends (host-query replies, order downloads). The values come
 * from upstream FHIR (patient names, codes) and may hold any Unicode character, while the
 * instrument reads ASCII, Latin-1 or UTF-8. A character the instrument's encoding cannot carry is
 * folded to its base letter (`Ł` → `L`, `ệ` → `e`) or else becomes `?`: a reply with a folded name
 * still reaches the analyzer; a reply that cannot be encoded would leave it waiting until it
 * cancels. Control characters are never emitted in text (LIS01-A2 §6.6.2 restricts them; values
 * are hex-escaped before this); CR stays, it separates records.
 *
 * `auto` sends ASCII: whichever of UTF-8 and Latin-1 the instrument actually uses, it reads ASCII
 * the same way.
 */
import type { TextEncodingOption } from './text-decode.js';

const COMBINING = /\p{M}/gu;
/** Letters that do not decompose under NFD but have an obvious base letter. */
const FOLD: Readonly<Record<string, string>> = {
  Ł: 'L', ł: 'l', Đ: 'D', đ: 'd', Ħ: 'H', ħ: 'h', Ø: 'O', ø: 'o', Œ: 'OE', œ: 'oe', Æ: 'AE', æ: 'ae', ß: 'ss', Þ: 'Th', þ: 'th', ı: 'i',
};

function fold(ch: string, max: number): string {
  const base = (FOLD[ch] ?? ch.normalize('NFD').replace(COMBINING, '')).normalize('NFC');
  let out = '';
  for (const c of base) out += (c.codePointAt(0) ?? 0x3f) <= max ? c : '?';
  return out === '' ? '?' : out;
}

function isControl(code: number): boolean {
  return (code < 0x20 && code !== 0x0d) || code === 0x7f;
}

/** One record (or several, CR-separated) as the bytes the instrument's encoding expects. */
export function encodeRecordText(text: string, encoding: TextEncodingOption): Buffer {
  const max = encoding === 'utf-8' ? 0x10ffff : encoding === 'latin1' ? 0xff : 0x7f;
  let out = '';
  for (const ch of text.normalize('NFC')) {
    const code = ch.codePointAt(0) ?? 0;
    if (isControl(code) || (code >= 0x80 && code <= 0x9f)) out += ' ';
    else if (code <= max) out += ch;
    else out += fold(ch, max);
  }
  return Buffer.from(out, encoding === 'utf-8' ? 'utf8' : 'latin1');
}
