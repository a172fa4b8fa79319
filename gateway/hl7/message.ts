/**
 * One HL7 v2 message: its raw bytes, delimiters, charset and segments. Built by parseHl7
 * (parser.ts); the text is decoded once, after de-framing, with the MSH-18 character set.
 */
import { chooseCharset, decodeBytes } from './charset.js';
import { DEFAULT_DELIMITERS, readDelimiters, type Hl7Delimiters } from './delimiters.js';
import { Hl7Segment, type SegmentContext } from './segment.js';

export { Hl7Segment } from './segment.js';
export type { Hl7Delimiters } from './delimiters.js';

export interface MessageBuildOptions {
  /** Character set override (an MSH-18 spelling, `auto`, `utf-8` or `latin1`). */
  readonly charset?: string;
  /** Segments end with LF (no CR anywhere in the input). */
  readonly lineFeedTerminated: boolean;
}

const CR = 0x0d;
const LF = 0x0a;

/** MSH-1, MSH-2 and MSH-18 read from the header bytes as ASCII, before the charset is known. */
function readHeader(raw: Buffer, lf: boolean): { field: string; msh2: string; msh18: string } {
  const end = raw.indexOf(lf ? LF : CR);
  const head = raw.toString('latin1', 0, end < 0 ? raw.length : end);
  const field = head.length > 3 ? head.charAt(3) : '|';
  const parts = head.split(field);
  const msh18 = parts[17] ?? '';
  return { field, msh2: parts[1] ?? '', msh18 };
}

export class Hl7Message {
  readonly delimiters: Hl7Delimiters;
  readonly segments: Hl7Segment[];
  readonly warnings: string[];
  /** The bytes of this message (from `MSH` to the last segment's terminator). */
  readonly raw: Buffer;
  /** The decoder used: 'utf-8', 'latin1', or a WHATWG label such as 'iso-8859-2'. */
  readonly charset: string;
  /** MSH-18 as sent (first repetition, first component). */
  readonly declaredCharset: string;
  /** Its segments were split at LF: the input had no CR (the fallback of §3 #1). */
  readonly lineFeedTerminated: boolean;

  constructor(raw: Buffer, options: MessageBuildOptions) {
    this.raw = raw;
    this.lineFeedTerminated = options.lineFeedTerminated && raw.includes(LF);
    const warnings: string[] = [];
    this.warnings = warnings;
    const seen = new Set<string>();
    const warn = (w: string): void => {
      if (seen.has(w) || seen.size >= 100) return;
      seen.add(w);
      warnings.push(w);
    };
    const head = readHeader(raw, options.lineFeedTerminated);
    let field = head.field;
    if (/^[A-Za-z0-9\s]?$/.test(field)) {
      warn('MSH-1: field separator missing or invalid; using |');
      field = '|';
    }
    const delims = readDelimiters(field, head.msh2);
    for (const w of delims.warnings) warn(w);
    this.delimiters = delims.delimiters;
    const d = this.delimiters;
    this.declaredCharset = head.msh18.split(d.repetition || DEFAULT_DELIMITERS.repetition)[0]?.split(d.component || '^')[0]?.trim() ?? '';
    const choice = chooseCharset(this.declaredCharset, options.charset);
    if (choice.unknown) warn('MSH-18: character set not recognised; decoded as UTF-8 or else ISO-8859-1');
    const decoded = decodeBytes(raw, choice.encoding);
    if (decoded.replaced) warn('message: invalid bytes for the character set replaced by U+FFFD');
    this.charset = decoded.encoding;

    const ctx: SegmentContext = { delimiters: d, encoding: decoded.encoding, warn };
    const text = decoded.text;
    const term = options.lineFeedTerminated ? '\n' : '\r';
    const segments: Hl7Segment[] = [];
    let pos = 0;
    const n = text.length;
    while (pos < n) {
      let end = text.indexOf(term, pos);
      if (end < 0) end = n;
      let s = pos;
      // CRLF: the LF after a CR starts no segment. LF elsewhere in a CR message is data.
      while (s < end && text.charCodeAt(s) === LF) s++;
      if (s < end) segments.push(new Hl7Segment(ctx, text.slice(s, end), segments.length));
      pos = end + 1;
    }
    this.segments = segments;
    for (const seg of segments) {
      if (!/^[A-Z][A-Z0-9]{2}$/.test(seg.name)) warn(`segment ${seg.index + 1}: name is not three upper-case letters or digits`);
    }
  }

  segment(name: string): Hl7Segment | undefined {
    for (const s of this.segments) if (s.name === name) return s;
    return undefined;
  }

  segmentsNamed(name: string): Hl7Segment[] {
    return this.segments.filter((s) => s.name === name);
  }

  /** MSH (always the first segment of a parsed message). */
  get header(): Hl7Segment | undefined {
    const first = this.segments[0];
    return first?.name === 'MSH' ? first : undefined;
  }

  /** MSH-10. */
  get controlId(): string {
    return this.header?.value(10) ?? '';
  }

  /** MSH-9.1, e.g. 'ORU'. */
  get messageType(): string {
    return this.header?.value(9, 1) ?? '';
  }

  /** MSH-9.2, e.g. 'R01'. */
  get triggerEvent(): string {
    return this.header?.value(9, 2) ?? '';
  }

  /** MSH-9.3, e.g. 'ORU_R01' ('' when not sent). */
  get messageStructure(): string {
    return this.header?.value(9, 3) ?? '';
  }

  /** MSH-12.1, e.g. '2.5.1'. */
  get version(): string {
    return this.header?.value(12, 1) ?? '';
  }
}
