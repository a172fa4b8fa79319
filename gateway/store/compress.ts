import zlib from 'node:zlib';

/**
 * Compression of the large values the store writes (archived raw messages, queued bundles),
 * before they are sealed. Instrument text and FHIR JSON shrink four- to eightfold at Brotli's
 * fastest setting, for about 2 µs a kilobyte; every byte not written shortens the fsync an
 * instrument's ACK waits for, and a store of a given size holds that much more backlog through
 * an outage. Compression before encryption is what database engines' at-rest encryption does;
 * a sealed value's length is all it shows, and a record's length shows anyway.
 */

/** Below this, compression gains too little to be worth trying. */
const COMPRESS_FROM = 512;
const BROTLI_FASTEST = { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 1 } };

/** The `z` marker of a compressed body, as it appears in a value's JSON header. */
export type Packing = 'br' | undefined;

/**
 * Whether the bytes look like text, judged on a sample: bytes that are already dense
 * (encrypted, compressed, images) would cost a compression attempt for nothing. Text has few
 * NULs or bytes over 0x7F (a UTF-8 accent here and there); dense data has them in half its bytes.
 */
function looksLikeText(bytes: Buffer): boolean {
  let odd = 0;
  const end = Math.min(bytes.length, 256);
  for (let i = 0; i < end; i++) if (bytes[i] === 0 || (bytes[i] ?? 0) > 0x7f) odd++;
  return odd * 8 <= end;
}

/** The body to store, compressed when that makes it smaller. */
export function compressBody(bytes: Buffer): { body: Buffer; z: Packing } {
  if (bytes.length < COMPRESS_FROM || !looksLikeText(bytes)) return { body: bytes, z: undefined };
  const packed = zlib.brotliCompressSync(bytes, BROTLI_FASTEST);
  return packed.length < bytes.length ? { body: packed, z: 'br' } : { body: bytes, z: undefined };
}

/** The original bytes; throws on a marker it does not know or a body that does not decompress (callers treat both as damage). */
export function decompressBody(body: Buffer, z: unknown): Buffer {
  if (z === undefined) return body;
  if (z !== 'br') throw new Error('unknown compression');
  return zlib.brotliDecompressSync(body);
}
