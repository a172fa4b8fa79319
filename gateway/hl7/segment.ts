/**
 * One HL7 v2 segment. Fields are split on first access and never before (most readers touch a
 * handful of segments), components and subcomponents are found by scanning the field text, and
 * escapes are decoded only in the value that is read.
 */
import type { Hl7Delimiters } from './delimiters.js';
import { decodeEscapes, type EscapeIssue } from './escape.js';

/** Shared by every segment of one message. */
export interface SegmentContext {
  readonly delimiters: Hl7Delimiters;
  readonly encoding: string;
  /** Adds a message warning once (positions only, never content). */
  warn(text: string): void;
}

/** The n-th (0-based) part of `s` split on `sep`; '' when absent. */
function nthPart(s: string, sep: string, n: number): string {
  if (sep === '') return n === 0 ? s : '';
  let from = 0;
  for (let i = 0; i < n; i++) {
    const at = s.indexOf(sep, from);
    if (at < 0) return '';
    from = at + sep.length;
  }
  const end = s.indexOf(sep, from);
  return end < 0 ? (from === 0 ? s : s.slice(from)) : s.slice(from, end);
}

const HEADER_SEGMENTS = new Set(['MSH', 'FHS', 'BHS']);

export class Hl7Segment {
  readonly name: string;
  readonly index: number;
  /** The segment's text as decoded from the message bytes (escapes not decoded). */
  readonly text: string;
  private readonly ctx: SegmentContext;
  private readonly header: boolean;
  private fields: string[] | undefined;

  constructor(ctx: SegmentContext, text: string, index: number) {
    this.ctx = ctx;
    this.text = text;
    this.index = index;
    const sep = text.indexOf(ctx.delimiters.field);
    this.name = sep < 0 ? text : text.slice(0, sep);
    this.header = HEADER_SEGMENTS.has(this.name);
  }

  private split(): string[] {
    let f = this.fields;
    if (f === undefined) {
      f = this.text.split(this.ctx.delimiters.field);
      this.fields = f;
    }
    return f;
  }

  /** The field's raw text (escapes not decoded), all repetitions; '' when absent. */
  raw(field: number): string {
    if (this.header) {
      if (field === 1) return this.ctx.delimiters.field;
      return this.split()[field - 1] ?? '';
    }
    if (field < 1) return '';
    return this.split()[field] ?? '';
  }

  /** The highest field number present (MSH-1 counts). */
  get fieldCount(): number {
    const n = this.split().length;
    return this.header ? n : n - 1;
  }

  has(field: number): boolean {
    return this.raw(field) !== '';
  }

  repetitionCount(field: number): number {
    const raw = this.raw(field);
    if (raw === '') return 0;
    if (this.isVerbatim(field)) return 1;
    const sep = this.ctx.delimiters.repetition;
    if (sep === '') return 1;
    let n = 1;
    for (let at = raw.indexOf(sep); at >= 0; at = raw.indexOf(sep, at + 1)) n++;
    return n;
  }

  /**
   * One value with escapes decoded; '' when absent. HL7 numbering: MSH-1 is the field separator,
   * MSH-2 the encoding characters (returned verbatim); for other segments field 1 follows the name.
   */
  value(field: number, component = 1, subcomponent = 1, repetition = 1): string {
    const raw = this.raw(field);
    if (raw === '') return '';
    if (this.isVerbatim(field)) return component === 1 && subcomponent === 1 && repetition === 1 ? raw : '';
    const d = this.ctx.delimiters;
    const rep = repetition === 1 && raw.indexOf(d.repetition) < 0 ? raw : nthPart(raw, d.repetition, repetition - 1);
    const comp = nthPart(rep, d.component, component - 1);
    const sub = nthPart(comp, d.subcomponent, subcomponent - 1);
    return this.decode(sub, field, component, subcomponent);
  }

  /** Components of one repetition, each decoded; a component's subcomponents beyond the first are not included (use value()). */
  components(field: number, repetition = 1): string[] {
    const raw = this.raw(field);
    if (raw === '') return [];
    if (this.isVerbatim(field)) return [raw];
    const d = this.ctx.delimiters;
    const rep = nthPart(raw, d.repetition, repetition - 1);
    if (rep === '') return [];
    const parts = d.component === '' ? [rep] : rep.split(d.component);
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i] ?? '';
      parts[i] = this.decode(nthPart(p, d.subcomponent, 0), field, i + 1, 1);
    }
    return parts;
  }

  /** 'OBX-5.1' style position for warnings and errors (never content). */
  position(field: number, component?: number, subcomponent?: number): string {
    let p = `${this.name}-${field}`;
    if (component !== undefined) p += `.${component}`;
    if (subcomponent !== undefined) p += `.${subcomponent}`;
    return p;
  }

  private isVerbatim(field: number): boolean {
    return this.header && field <= 2;
  }

  private decode(text: string, field: number, component: number, subcomponent: number): string {
    const esc = this.ctx.delimiters.escape;
    if (esc === '' || text.indexOf(esc) < 0) return text;
    return decodeEscapes(text, this.ctx.delimiters, this.ctx.encoding, (issue: EscapeIssue) => {
      this.ctx.warn(`${this.position(field, component, subcomponent)}: ${issue.kind} escape sequence kept literally`);
    });
  }
}
