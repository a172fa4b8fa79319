/**
 * Recovers E1394 message text from a byte capture for `labedge convert`. A capture with
 * E1381 framing is replayed through an E1381Receiver in capture mode; anything else is
 * taken to be raw records.
 */
import { FakeClock } from '../core/clock.js';
import { ETB, ETX, EOT, STX } from './control-bytes.js';
import { frameChecksum, hexDigitValue } from './checksum.js';
import { E1381Receiver } from './e1381-receiver.js';

export interface DeframedCapture {
  /** Message texts (records CR-separated), each once even if frames were retransmitted. */
  messages: Buffer[];
  framed: boolean;
  /** How many of `messages` ended without a terminator record (capture cut short, or EOT early). */
  incomplete: number;
}

/** Longest frame the detector looks for; matches the receiver's LIS01-A2 default. */
const MAX_FRAME_BYTES = 64000;

/** True if the bytes hold at least one STX FN text ETX|ETB C1 C2 frame with a correct checksum. */
export function hasE1381Framing(bytes: Uint8Array): boolean {
  for (let stx = bytes.indexOf(STX); stx >= 0; stx = bytes.indexOf(STX, stx + 1)) {
    const fn = bytes[stx + 1];
    if (fn === undefined || fn < 0x30 || fn > 0x37) continue;
    const limit = Math.min(bytes.length, stx + MAX_FRAME_BYTES);
    for (let i = stx + 2; i < limit; i++) {
      const b = bytes[i];
      if (b === STX) break;
      if (b !== ETX && b !== ETB) continue;
      const c1 = hexDigitValue(bytes[i + 1] ?? -1);
      const c2 = hexDigitValue(bytes[i + 2] ?? -1);
      if (c1 >= 0 && c2 >= 0 && ((c1 << 4) | c2) === frameChecksum(bytes, stx + 1, i + 1)) return true;
      break;
    }
  }
  return false;
}

export function deframeCapture(bytes: Buffer): DeframedCapture {
  if (!hasE1381Framing(bytes)) return { messages: [bytes], framed: false, incomplete: 0 };
  const messages: Buffer[] = [];
  let incomplete = 0;
  const receiver = new E1381Receiver({
    clock: new FakeClock(),
    captureMode: true,
    maxMessageBytes: Math.max(bytes.length, 1),
    // Replies are not needed; host bytes in the capture (ACK, NAK) are skipped as junk.
    write: () => undefined,
    onMessage(message, settle) {
      messages.push(message.text);
      if (!message.complete) incomplete++;
      settle(true);
    },
  });
  receiver.consume(bytes);
  // A capture may stop without EOT: end the session so trailing ACKed records are kept.
  receiver.consume(Uint8Array.of(EOT));
  receiver.destroy();
  return { messages, framed: true, incomplete };
}
