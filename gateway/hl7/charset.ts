/**
 * MSH-18 (HL7 table 0211) → a byte decoder. Text is decoded only after de-framing, once per message.
 * Senders spell the values loosely (`UNICODE`, `UNICODE UTF-8`, `UTF8`, `ISO-8859-1`), so the names
 * are normalised before lookup. An empty or unknown MSH-18 decodes as `auto`: UTF-8 when the bytes
 * are valid UTF-8 (pure ASCII is both), else ISO-8859-1, which never fails.
 */
import { isUtf8 } from 'node:buffer';

/** What the parser decodes with: 'utf-8', 'latin1' (true ISO-8859-1) or a WHATWG label (iso-8859-2, gb18030, …). */
export type Hl7TextEncoding = string;

export interface CharsetChoice {
  /** The decoder actually used. */
  readonly encoding: Hl7TextEncoding;
  /** Set when the declared value was not understood (the caller turns it into a warning). */
  readonly unknown: boolean;
}

const TABLE_0211: Readonly<Record<string, Hl7TextEncoding>> = {
  ASCII: 'ascii',
  ISOIR6: 'ascii',
  USASCII: 'ascii',
  '88591': 'latin1',
  ISO88591: 'latin1',
  ISOIR100: 'latin1',
  LATIN1: 'latin1',
  '88592': 'iso-8859-2',
  '88593': 'iso-8859-3',
  '88594': 'iso-8859-4',
  '88595': 'iso-8859-5',
  '88596': 'iso-8859-6',
  '88597': 'iso-8859-7',
  '88598': 'iso-8859-8',
  '88599': 'windows-1254',
  '885915': 'iso-8859-15',
  ISOIR101: 'iso-8859-2',
  ISOIR144: 'iso-8859-5',
  ISOIR127: 'iso-8859-6',
  ISOIR126: 'iso-8859-7',
  ISOIR138: 'iso-8859-8',
  ISOIR148: 'windows-1254',
  UNICODE: 'utf-8',
  UNICODEUTF8: 'utf-8',
  UTF8: 'utf-8',
  ISOIR192: 'utf-8',
  GB180302000: 'gb18030',
  GB18030: 'gb18030',
  KSX1001: 'euc-kr',
  BIG5: 'big5',
  JISX0208: 'shift_jis',
  ISOIR87: 'shift_jis',
  WINDOWS1252: 'windows-1252',
  CP1252: 'windows-1252',
};

/** Normalises a declared MSH-18 value: upper case, no spaces, slashes, dashes or underscores. */
function normalise(declared: string): string {
  let out = '';
  for (let i = 0; i < declared.length; i++) {
    const c = declared.charCodeAt(i);
    if (c === 0x20 || c === 0x2f || c === 0x2d || c === 0x5f || c === 0x2e) continue;
    out += c >= 0x61 && c <= 0x7a ? String.fromCharCode(c - 32) : declared[i];
  }
  return out;
}

/**
 * Picks the decoder: an explicit override wins, then MSH-18, then `auto`.
 * Multi-byte encodings whose bytes may collide with delimiters (UTF-16/32) are not supported on
 * MLLP; they are reported as unknown and decoded with `auto`.
 */
export function chooseCharset(declared: string, override?: string): CharsetChoice {
  const source = override !== undefined && override !== '' ? override : declared;
  if (source === '' || normalise(source) === 'AUTO') return { encoding: 'auto', unknown: false };
  const hit = TABLE_0211[normalise(source)];
  if (hit !== undefined) return { encoding: hit, unknown: false };
  return { encoding: 'auto', unknown: true };
}

const decoders = new Map<string, TextDecoder>();

function decoderFor(label: string): TextDecoder | undefined {
  let d = decoders.get(label);
  if (d === undefined) {
    try {
      d = new TextDecoder(label);
    } catch {
      return undefined;
    }
    decoders.set(label, d);
  }
  return d;
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export interface DecodedText {
  readonly text: string;
  /** The decoder used after `auto` resolution. */
  readonly encoding: Hl7TextEncoding;
  /** True when invalid bytes were replaced by U+FFFD. */
  readonly replaced: boolean;
}

/** Decodes message bytes. `ascii` is decoded leniently as `auto` (devices that say ASCII often send Latin-1 or UTF-8). */
export function decodeBytes(bytes: Uint8Array, encoding: Hl7TextEncoding): DecodedText {
  const buf = asBuffer(bytes);
  if (encoding === 'latin1') return { text: buf.toString('latin1'), encoding, replaced: false };
  if (encoding === 'auto' || encoding === 'ascii') {
    if (isUtf8(buf)) return { text: buf.toString('utf8'), encoding: 'utf-8', replaced: false };
    return { text: buf.toString('latin1'), encoding: 'latin1', replaced: false };
  }
  if (encoding === 'utf-8') {
    const text = buf.toString('utf8');
    return { text, encoding, replaced: text.includes('\uFFFD') && !isUtf8(buf) };
  }
  const d = decoderFor(encoding);
  if (d === undefined) return { text: buf.toString('latin1'), encoding: 'latin1', replaced: false };
  return { text: d.decode(buf), encoding, replaced: false };
}
