/**
 * What labedge accepts as an HL7 message for intake, and how a frame becomes intake items.
 * Pure: no store, no sockets. A frame holds one message, or a batch (each message its own item);
 * a frame that is not HL7 at all becomes one rejected item with the fallback ACK header.
 */
import { createHash } from 'node:crypto';
import { ackHeaderOf, fallbackAckHeader, HL7_ERROR, type AckHeader, type Hl7ErrorDetail } from './ack.js';
import type { Hl7Message } from './message.js';
import { parseHl7 } from './parser.js';

export interface IntakeItem {
  /** The bytes to store: the message's own bytes (the whole frame when nothing parsed). */
  readonly raw: Buffer;
  readonly message: Hl7Message | undefined;
  readonly header: AckHeader;
  /** Why the message is rejected (AR/CR), or undefined when it can be stored and accepted. */
  readonly rejection: Hl7ErrorDetail | undefined;
  /** SHA-256 of raw, hex: "same bytes" for duplicate detection. */
  readonly digest: string;
}

const SEGMENT_NAME = /^[A-Z][A-Z0-9]{2}$/;

/** Why a parsed message cannot be accepted (by position, never content), or undefined. */
export function validateForIntake(m: Hl7Message): Hl7ErrorDetail | undefined {
  const msh = m.header;
  if (msh === undefined) return { condition: HL7_ERROR.segmentSequence, segment: 'MSH', sequence: 1 };
  if (m.warnings.some((w) => w.startsWith('MSH-2:') && w.includes('invalid'))) {
    return { condition: HL7_ERROR.dataType, segment: 'MSH', sequence: 1, field: 2 };
  }
  if (m.messageType === '') return { condition: HL7_ERROR.requiredFieldMissing, segment: 'MSH', sequence: 1, field: 9 };
  if (m.controlId === '') return { condition: HL7_ERROR.requiredFieldMissing, segment: 'MSH', sequence: 1, field: 10 };
  // A segment whose name is not a segment name (its text may be content): no location is given.
  if (m.segments.some((s) => !SEGMENT_NAME.test(s.name))) return { condition: HL7_ERROR.segmentSequence };
  return undefined;
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

export interface IntakeOptions {
  /** Overrides MSH-18 (instrument encoding). */
  readonly charset?: string;
  /** Strict segment terminators (profile `crOnly`): a message without CR is rejected, not read with the LF fallback. */
  readonly crOnly?: boolean;
}

/** A frame's payload → intake items, in order. */
export function intakeItems(payload: Buffer, options: IntakeOptions = {}): IntakeItem[] {
  const { charset } = options;
  const parsed = parseHl7(payload, charset !== undefined ? { charset } : {});
  if (parsed.messages.length === 0) {
    return [{ raw: payload, message: undefined, header: fallbackAckHeader(), rejection: { condition: HL7_ERROR.segmentSequence, segment: 'MSH', sequence: 1 }, digest: sha256(payload) }];
  }
  const single = parsed.messages.length === 1;
  return parsed.messages.map((message) => {
    const raw = single ? payload : message.raw;
    return {
      raw,
      message,
      header: ackHeaderOf(message) ?? fallbackAckHeader(),
      // LF-terminated segments in strict mode: the message is stored for quarantine and rejected (ERR 100 at MSH).
      rejection: options.crOnly === true && message.lineFeedTerminated
        ? { condition: HL7_ERROR.segmentSequence, segment: 'MSH', sequence: 1 }
        : validateForIntake(message),
      digest: sha256(raw),
    };
  });
}

/** The dedupe identity of a message: instrument + sender (MSH-3, MSH-4) + MSH-10, raw. */
export function dedupeText(sourceId: string, header: AckHeader): string {
  return [sourceId, header.sendingApplication, header.sendingFacility, header.controlId].join('\u0000');
}
