/**
 * HL7 v2 acknowledgements, built from the inbound MSH: sender and receiver swapped, same
 * delimiters, version and processing id, MSH-9 `ACK^<trigger>^ACK`, MSA-2 = the inbound MSH-10.
 *
 * Mode (MSH-15 / MSH-16): both empty → original mode AA/AE/AR; otherwise enhanced mode, where the
 * commit (accept) acknowledgement CA/CE/CR is sent as MSH-15 asks (AL, ER, SU, NE; empty = AL). For
 * labedge the application's work *is* the durable commit, so when MSH-15 declines a commit ACK but
 * MSH-16 asks for an application ACK, AA/AE/AR is sent instead; when both ask (AL/AL, the IG's own
 * samples), the AA follows the CA right after the commit. A rejected message (AR/CR) is
 * always answered, whatever its header asks: its header may be what is broken.
 *
 * Outcomes: accepted = durably committed (AA/CA); error = could not commit, send again later
 * (AE/CE); rejected = cannot be processed as sent (AR/CR). AE/AR carry an ERR segment (table 0357).
 */
import { DEFAULT_DELIMITERS, encodingCharacters, type Hl7Delimiters } from './delimiters.js';
import type { Hl7Message } from './message.js';

export type AckCode = 'AA' | 'AE' | 'AR' | 'CA' | 'CE' | 'CR';
export type IntakeOutcome = 'accepted' | 'error' | 'rejected';

/** HL7 table 0357 (message error condition codes) used by labedge. */
export const HL7_ERROR = {
  segmentSequence: { code: '100', text: 'Segment sequence error' },
  requiredFieldMissing: { code: '101', text: 'Required field missing' },
  dataType: { code: '102', text: 'Data type error' },
  tableValueNotFound: { code: '103', text: 'Table value not found' },
  unsupportedMessageType: { code: '200', text: 'Unsupported message type' },
  unsupportedEventCode: { code: '201', text: 'Unsupported event code' },
  unsupportedProcessingId: { code: '202', text: 'Unsupported processing id' },
  unsupportedVersionId: { code: '203', text: 'Unsupported version id' },
  applicationInternalError: { code: '207', text: 'Application internal error' },
} as const;

export interface Hl7ErrorDetail {
  readonly condition: { readonly code: string; readonly text: string };
  /** ERR location: segment id, its 1-based sequence among segments of that name, field. */
  readonly segment?: string;
  readonly sequence?: number;
  readonly field?: number;
  readonly severity?: 'E' | 'W' | 'I' | 'F';
}

/** What an ACK needs from the inbound MSH: raw (still escaped) field texts. */
export interface AckHeader {
  readonly delimiters: Hl7Delimiters;
  readonly sendingApplication: string;
  readonly sendingFacility: string;
  readonly receivingApplication: string;
  readonly receivingFacility: string;
  readonly controlId: string;
  readonly processingId: string;
  readonly version: string;
  readonly trigger: string;
  readonly acceptAckType: string;
  readonly applicationAckType: string;
  readonly characterSet: string;
  /** The decoder the inbound message used: the ACK is encoded the same way. */
  readonly encoding: string;
}

export function ackHeaderOf(message: Hl7Message): AckHeader | undefined {
  const msh = message.header;
  if (msh === undefined) return undefined;
  const d = message.delimiters;
  const part = (raw: string, sep: string, n: number): string => (sep === '' ? (n === 0 ? raw : '') : (raw.split(sep)[n] ?? ''));
  const first = (raw: string): string => part(raw, d.repetition, 0);
  const comp1 = (raw: string): string => part(raw, d.component, 0);
  return {
    delimiters: d,
    sendingApplication: msh.raw(3),
    sendingFacility: msh.raw(4),
    receivingApplication: msh.raw(5),
    receivingFacility: msh.raw(6),
    controlId: msh.raw(10),
    processingId: msh.raw(11),
    version: msh.raw(12),
    trigger: part(first(msh.raw(9)), d.component, 1),
    acceptAckType: comp1(first(msh.raw(15))).trim().toUpperCase(),
    applicationAckType: comp1(first(msh.raw(16))).trim().toUpperCase(),
    characterSet: msh.raw(18),
    encoding: message.charset,
  };
}

/** The header used when nothing of the inbound MSH is readable: the ACK still goes out, MSA-2 empty. */
export function fallbackAckHeader(): AckHeader {
  return {
    delimiters: { ...DEFAULT_DELIMITERS },
    sendingApplication: '',
    sendingFacility: '',
    receivingApplication: '',
    receivingFacility: '',
    controlId: '',
    processingId: 'P',
    version: '2.5.1',
    trigger: '',
    acceptAckType: '',
    applicationAckType: '',
    characterSet: '',
    encoding: 'utf-8',
  };
}

function wants(type: string, outcome: IntakeOutcome): boolean {
  switch (type) {
    case 'AL': return true;
    case 'NE': return false;
    case 'ER': return outcome !== 'accepted';
    case 'SU': return outcome === 'accepted';
    case '': return false;
    default: return true; // an unknown request: answering is safer than silence
  }
}

/** Which acknowledgement code (if any) a message with this header gets for an outcome. */
export function ackCodeFor(header: Pick<AckHeader, 'acceptAckType' | 'applicationAckType'>, outcome: IntakeOutcome): AckCode | undefined {
  const letter = outcome === 'accepted' ? 'A' : outcome === 'error' ? 'E' : 'R';
  const accept = header.acceptAckType;
  const app = header.applicationAckType;
  if (accept === '' && app === '') return `A${letter}` as AckCode;
  if (wants(accept === '' ? 'AL' : accept, outcome)) return `C${letter}` as AckCode;
  if (wants(app, outcome)) return `A${letter}` as AckCode;
  if (outcome === 'rejected') return 'CR';
  return undefined;
}

/**
 * Whether an application acknowledgement (AA) follows the commit acknowledgement (CA): enhanced mode
 * with MSH-16 asking for one on success (AL, SU). labedge's application work is the durable commit,
 * so both go out together after it; a sender that asked for both waits for the AA (§3 #17).
 */
export function applicationAckFollows(header: Pick<AckHeader, 'acceptAckType' | 'applicationAckType'>, outcome: IntakeOutcome): boolean {
  const app = header.applicationAckType;
  return outcome === 'accepted' && ackCodeFor(header, outcome) === 'CA' && (app === 'AL' || app === 'SU');
}

/** `YYYYMMDDHHMMSS+0000` (UTC). */
export function hl7Timestamp(ms: number): string {
  const d = new Date(ms);
  const p = (n: number, w = 2): string => String(n).padStart(w, '0');
  return `${p(d.getUTCFullYear(), 4)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}+0000`;
}

function versionAtLeast(version: string, major: number, minor: number): boolean {
  const m = /^(\d+)\.(\d+)/.exec(version);
  if (!m) return true;
  const a = Number(m[1]);
  const b = Number(m[2]);
  return a > major || (a === major && b >= minor);
}

function errSegment(h: AckHeader, e: Hl7ErrorDetail): string {
  const d = h.delimiters;
  const c = d.component || '^';
  const seg = e.segment ?? '';
  const seq = e.segment !== undefined ? String(e.sequence ?? 1) : '';
  const field = e.field !== undefined ? String(e.field) : '';
  if (versionAtLeast(h.version, 2, 5)) {
    const location = seg === '' ? '' : [seg, seq, field].join(c);
    return ['ERR', '', location, [e.condition.code, e.condition.text, 'HL70357'].join(c), e.severity ?? 'E'].join(d.field);
  }
  const s = d.subcomponent;
  const code = s === '' ? e.condition.code : [e.condition.code, e.condition.text, 'HL70357'].join(s);
  return ['ERR', [seg, seq, field, code].join(c)].join(d.field);
}

export interface BuiltAck {
  readonly code: AckCode;
  readonly text: string;
  readonly bytes: Buffer;
}

/**
 * Builds the ACK for an outcome, or undefined when the sender asked for none (enhanced mode).
 * `controlId` is the ACK's own MSH-10; `now` its MSH-7.
 */
export function buildAck(
  header: AckHeader,
  outcome: IntakeOutcome,
  options: { controlId: string; now: number; error?: Hl7ErrorDetail; application?: boolean },
): BuiltAck | undefined {
  // `application`: the AA that follows a CA (applicationAckFollows).
  const code = options.application === true ? (`A${ackCodeFor(header, outcome)?.[1] ?? 'A'}` as AckCode) : ackCodeFor(header, outcome);
  if (code === undefined) return undefined;
  const d = header.delimiters;
  const c = d.component || '^';
  const msh = [
    `MSH${d.field}${encodingCharacters(d)}`,
    header.receivingApplication,
    header.receivingFacility,
    header.sendingApplication,
    header.sendingFacility,
    hl7Timestamp(options.now),
    '',
    header.trigger === '' ? `ACK${c}${c}ACK` : `ACK${c}${header.trigger}${c}ACK`,
    options.controlId,
    header.processingId || 'P',
    header.version || '2.5.1',
  ];
  if (header.characterSet !== '') msh.push('', '', '', '', '', header.characterSet);
  const legacyText = options.error !== undefined && !versionAtLeast(header.version, 2, 4);
  const msa = ['MSA', code, header.controlId];
  if (legacyText && options.error) msa.push(options.error.condition.text);
  const segments = [msh.join(d.field), msa.join(d.field)];
  if (options.error !== undefined && code[1] !== 'A') segments.push(errSegment(header, options.error));
  const text = segments.map((s) => `${s}\r`).join('');
  const latin1 = header.encoding === 'latin1' && [...text].every((ch) => ch.charCodeAt(0) <= 0xff);
  const bytes = latin1 ? Buffer.from(text, 'latin1') : Buffer.from(text, 'utf8');
  return { code, text, bytes };
}
