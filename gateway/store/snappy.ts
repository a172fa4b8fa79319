/**
 * Snappy decompression (the raw block format LevelDB compresses table blocks with), for the
 * table check: only the index and meta-index blocks are ever decompressed, so simplicity
 * beats speed. Returns undefined for anything malformed: damaged input is an answer, not an
 * exception.
 */
function varint32(buf: Uint8Array, at: number): { value: number; next: number } | undefined {
  let value = 0;
  for (let shift = 0, i = at; shift <= 28 && i < buf.length; shift += 7, i++) {
    const b = buf[i] as number;
    value += (b & 0x7f) * 2 ** shift;
    if ((b & 0x80) === 0) return value <= 0xffffffff ? { value, next: i + 1 } : undefined;
  }
  return undefined;
}

function littleEndian(buf: Uint8Array, at: number, bytes: number): number {
  let v = 0;
  for (let k = 0; k < bytes; k++) v += (buf[at + k] as number) * 2 ** (8 * k);
  return v;
}

/** Decompressed bytes, or undefined when `src` is not valid Snappy (or would exceed `maxBytes`). */
export function snappyDecompress(src: Uint8Array, maxBytes = 64 * 1024 * 1024): Buffer | undefined {
  const header = varint32(src, 0);
  if (!header || header.value > maxBytes) return undefined;
  const out = Buffer.allocUnsafe(header.value);
  let o = 0;
  let i = header.next;
  while (i < src.length) {
    const tag = src[i++] as number;
    const kind = tag & 3;
    if (kind === 0) {
      let len = (tag >>> 2) + 1;
      if (len > 60) {
        const extra = len - 60;
        if (i + extra > src.length) return undefined;
        len = littleEndian(src, i, extra) + 1;
        i += extra;
      }
      if (i + len > src.length || o + len > out.length) return undefined;
      out.set(src.subarray(i, i + len), o);
      i += len;
      o += len;
      continue;
    }
    let len: number;
    let offset: number;
    if (kind === 1) {
      if (i >= src.length) return undefined;
      len = 4 + ((tag >>> 2) & 7);
      offset = ((tag >>> 5) << 8) | (src[i++] as number);
    } else {
      const bytes = kind === 2 ? 2 : 4;
      if (i + bytes > src.length) return undefined;
      len = (tag >>> 2) + 1;
      offset = littleEndian(src, i, bytes);
      i += bytes;
    }
    if (offset === 0 || offset > o || o + len > out.length) return undefined;
    // Byte by byte: a copy may overlap what it is writing (a run).
    for (let k = 0; k < len; k++, o++) out[o] = out[o - offset] as number;
  }
  return o === out.length ? out : undefined;
}
