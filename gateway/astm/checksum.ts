/**
 * E1381 frame checksum: the sum of the raw bytes from the frame number through
 * ETX/ETB inclusive, mod 256 (STX, the checksum itself and CR LF are excluded).
 * Raw bytes are summed, never decoded text (Q5: latin-1 bytes count as they are).
 */
export function frameChecksum(bytes: Uint8Array, start: number, end: number): number {
  let sum = 0;
  for (let i = start; i < end; i++) sum += bytes[i] ?? 0;
  return sum & 0xff;
}

const HEX = '0123456789ABCDEF';

/** Two upper-case hex digits, most significant first, as the sender must write them. */
export function formatChecksum(n: number): string {
  const v = n & 0xff;
  return HEX.charAt(v >> 4) + HEX.charAt(v & 0x0f);
}

/** Value of one hex digit byte (either case, Q5), or -1 if the byte is not a hex digit. */
export function hexDigitValue(b: number): number {
  if (b >= 0x30 && b <= 0x39) return b - 0x30;
  if (b >= 0x41 && b <= 0x46) return b - 0x41 + 10;
  if (b >= 0x61 && b <= 0x66) return b - 0x61 + 10;
  return -1;
}
