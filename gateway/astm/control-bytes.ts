/**
 * ASCII control bytes used by the ASTM E1381 / CLSI LIS01-A2 low-level link.
 */
export const SOH = 0x01;
export const STX = 0x02;
export const ETX = 0x03;
export const EOT = 0x04;
export const ENQ = 0x05;
export const ACK = 0x06;
export const LF = 0x0a;
export const VT = 0x0b;
export const CR = 0x0d;
export const DLE = 0x10;
export const DC1 = 0x11;
export const DC2 = 0x12;
export const DC3 = 0x13;
export const DC4 = 0x14;
export const NAK = 0x15;
export const SYN = 0x16;
export const ETB = 0x17;
export const FS = 0x1c;
export const GS = 0x1d;
export const RS = 0x1e;

/** Bytes that must not appear in frame text (LIS01-A2 §6.6.2). CR is allowed: it separates records. */
export const RESTRICTED_TEXT_BYTES: readonly number[] = [
  SOH, STX, ETX, EOT, ENQ, ACK, DLE, NAK, SYN, ETB, LF, DC1, DC2, DC3, DC4,
];

const restricted = new Uint8Array(256);
for (const b of RESTRICTED_TEXT_BYTES) restricted[b] = 1;

export function isRestrictedTextByte(b: number): boolean {
  return restricted[b & 0xff] === 1;
}

/** Frame overhead: STX, FN, ETX/ETB, C1, C2, CR, LF. */
export const FRAME_OVERHEAD_BYTES = 7;
