/**
 * E1394 / LIS02-A2 records: one record per CR-terminated line (LF and CRLF accepted too), fields
 * addressed with ASTM numbering (field 1 is the record type letter, so `P.3` is `record.field(3)`).
 * Delimiters come from each H record and apply until the next H. Lenient by design: the parser never
 * throws, never limits record size, and reports problems as warnings that name positions only.
 */
import { DEFAULT_DELIMITERS, parseHeaderDelimiters, type Delimiters } from './delimiters.js';
import { decodeEscapes } from './escape.js';

export const RECORD_TYPES = ['H', 'P', 'O', 'R', 'C', 'Q', 'M', 'S', 'L'] as const;
export type RecordType = (typeof RECORD_TYPES)[number];

const KNOWN = new Set<string>(RECORD_TYPES);

export interface RecordWarning {
  /** 1-based record number within the parsed text. */
  readonly record: number;
  /** ASTM position such as `H.2`, when the problem is in one field. */
  readonly position?: string;
  /** PHI-free description. */
  readonly message: string;
}

export function formatRecordWarning(w: RecordWarning): string {
  return `record ${w.record}${w.position === undefined ? '' : ` ${w.position}`}: ${w.message}`;
}

export class AstmRecord {
  /** The record type letter, or 'unknown' (the raw first field may hold anything, even PHI). */
  readonly type: RecordType | 'unknown';
  readonly #fields: string[];

  constructor(
    /** 1-based record number within the parsed text; stable for a given input. */
    readonly index: number,
    /** The record line exactly as received (without its terminator). */
    readonly text: string,
    readonly delimiters: Delimiters,
  ) {
    this.#fields = delimiters.field === '' ? [text] : text.split(delimiters.field);
    const first = this.#fields[0] ?? '';
    this.type = KNOWN.has(first) ? (first as RecordType) : 'unknown';
  }

  /** Number of fields present, counting the type field. */
  get fieldCount(): number {
    return this.#fields.length;
  }

  /** `P.6` for known records, `record 7` for unknown ones (their type text is not trusted). */
  position(n?: number): string {
    if (this.type === 'unknown') return `record ${this.index}`;
    return n === undefined ? this.type : `${this.type}.${n}`;
  }

  /** Field n (1-based) exactly as received, escapes intact; '' when absent. */
  rawField(n: number): string {
    return this.#fields[n - 1] ?? '';
  }

  /** Field n with escapes decoded (delimiters inside it are not split). H.2 is returned raw. */
  field(n: number): string {
    const raw = this.rawField(n);
    return this.#isDelimiterDefinition(n) ? raw : decodeEscapes(raw, this.delimiters);
  }

  /** Field n split into repeats, each escape-decoded. An empty field gives `['']`. */
  repeats(n: number): string[] {
    return this.#rawRepeats(n).map((r) => decodeEscapes(r, this.delimiters));
  }

  /** Components (1-based c) of repeat r (1-based) of field n, escape-decoded. */
  components(n: number, r = 1): string[] {
    const rep = this.#rawRepeats(n)[r - 1];
    if (rep === undefined) return [];
    return splitOn(rep, this.#isDelimiterDefinition(n) ? '' : this.delimiters.component).map((c) => decodeEscapes(c, this.delimiters));
  }

  /** Component c of repeat r of field n, escape-decoded; '' when absent. */
  component(n: number, c: number, r = 1): string {
    return this.components(n, r)[c - 1] ?? '';
  }

  /** Field n as repeats × components, escape-decoded. */
  structure(n: number): string[][] {
    return this.#rawRepeats(n).map((rep) =>
      splitOn(rep, this.#isDelimiterDefinition(n) ? '' : this.delimiters.component).map((c) => decodeEscapes(c, this.delimiters)),
    );
  }

  /** True when field n holds anything besides delimiters and spaces. */
  hasContent(n: number): boolean {
    const raw = this.rawField(n);
    for (const ch of raw) {
      if (ch !== ' ' && ch !== this.delimiters.repeat && ch !== this.delimiters.component) return true;
    }
    return false;
  }

  #rawRepeats(n: number): string[] {
    const raw = this.rawField(n);
    return splitOn(raw, this.#isDelimiterDefinition(n) ? '' : this.delimiters.repeat);
  }

  #isDelimiterDefinition(n: number): boolean {
    return n === 2 && this.type === 'H';
  }
}

function splitOn(text: string, delimiter: string): string[] {
  return delimiter === '' ? [text] : text.split(delimiter);
}

export interface ParsedRecords {
  /** Delimiters of the first H record (defaults when there is none). */
  readonly delimiters: Delimiters;
  readonly records: AstmRecord[];
  readonly warnings: RecordWarning[];
}

const LINE_BREAK = /\r\n|\r|\n/;

/** Splits text into records; never throws. Blank lines are skipped and not numbered. */
export function parseRecords(text: string): ParsedRecords {
  const records: AstmRecord[] = [];
  const warnings: RecordWarning[] = [];
  let current: Delimiters = DEFAULT_DELIMITERS;
  let first: Delimiters | undefined;
  let seenHeader = false;
  const body = text.startsWith('\uFEFF') ? text.slice(1) : text;
  for (const line of body.split(LINE_BREAK)) {
    if (line.trim() === '') continue;
    const index = records.length + 1;
    if (isHeaderLine(line)) {
      // A header whose delimiter definition is unusable still counts: parseHeaderDelimiters falls
      // back to defaults and says so.
      const header = parseHeaderDelimiters(line);
      current = header.delimiters;
      first ??= current;
      seenHeader = true;
      for (const problem of header.problems) warnings.push({ record: index, position: 'H.2', message: problem });
    } else if (!seenHeader) {
      if (records.length === 0) warnings.push({ record: index, message: 'records before any H record; default delimiters assumed' });
    }
    const record = new AstmRecord(index, line, current);
    if (record.type === 'unknown') warnings.push({ record: index, message: 'unknown record type; kept unmapped' });
    records.push(record);
  }
  return { delimiters: first ?? DEFAULT_DELIMITERS, records, warnings };
}

/** `H` alone or `H` + a non-alphanumeric character (a word such as `HELLO` is not a header). */
function isHeaderLine(line: string): boolean {
  return line.startsWith('H') && (line.length === 1 || !/[A-Za-z0-9]/.test(line.charAt(1)));
}
