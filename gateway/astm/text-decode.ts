/**
 * Bytes → text for E1394 records, done only after framing (a multi-byte character may span frames).
 * Instruments send ASCII, Latin-1 or UTF-8 and rarely say which. `auto` picks UTF-8 when the bytes
 * are valid UTF-8 (pure ASCII is both) and Latin-1 otherwise, because a Latin-1 name such as
 * `Müller` (0xFC) is never valid UTF-8 while a UTF-8 `ü` (0xC3 0xBC) is legal but unlikely Latin-1 text.
 */
export type TextEncodingOption = 'auto' | 'utf-8' | 'latin1';

const utf8Strict = new TextDecoder('utf-8', { fatal: true });
const utf8Lenient = new TextDecoder('utf-8');

export function decodeText(bytes: Uint8Array, encoding: TextEncodingOption = 'auto'): string {
  switch (encoding) {
    case 'latin1':
      return decodeLatin1(bytes);
    case 'utf-8':
      return utf8Lenient.decode(bytes);
    case 'auto':
      try {
        return utf8Strict.decode(bytes);
      } catch {
        return decodeLatin1(bytes);
      }
    default:
      encoding satisfies never;
      return decodeLatin1(bytes);
  }
}

/** True ISO-8859-1 (byte = code point); WHATWG's 'latin1' label is windows-1252, which remaps 0x80–0x9F. */
function decodeLatin1(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
}
