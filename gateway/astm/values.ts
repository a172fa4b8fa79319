/**
 * Tolerant readers for E1394 result values (research Q15). They never throw and return undefined
 * for anything they do not recognise, so the caller can keep the raw text instead.
 */

export type Comparator = '<' | '<=' | '>' | '>=';

export interface NumericValue {
  readonly value: number;
  readonly comparator?: Comparator;
}

// One number: optional sign, digits with '.' or ',' as the decimal mark (never a thousands mark:
// instruments do not send them, Euroimmun sends `7,41`), optional exponent.
const NUMBER = String.raw`[+-]?(?:\d+(?:[.,]\d*)?|[.,]\d+)(?:[eE][+-]?\d+)?`;
const NUMERIC_VALUE = new RegExp(String.raw`^(<=|>=|=<|=>|<|>)?\s*(${NUMBER})$`);

function toNumber(text: string): number | undefined {
  const n = Number(text.replace(',', '.'));
  return Number.isFinite(n) ? n : undefined;
}

function normaliseComparator(c: string | undefined): Comparator | undefined {
  switch (c) {
    case '<':
    case '>':
    case '<=':
    case '>=':
      return c;
    case '=<':
      return '<=';
    case '=>':
      return '>=';
    default:
      return undefined;
  }
}

/**
 * Which decimal mark an instrument uses: `auto` (default) accepts `.` and `,` (no instrument
 * sends thousands separators); `point` refuses `7,41` (kept as text), `comma` refuses `7.41`.
 */
export type DecimalMark = 'auto' | 'point' | 'comma';

/** `  5.5` → 5.5, `7,41` → 7.41, `<3.00` → {3, '<'}, `>8` → {8, '>'}; anything else → undefined. */
export function parseNumericValue(text: string, decimalMark: DecimalMark = 'auto'): NumericValue | undefined {
  const m = NUMERIC_VALUE.exec(text.trim());
  if (m === null || m[2] === undefined) return undefined;
  if ((decimalMark === 'point' && m[2].includes(',')) || (decimalMark === 'comma' && m[2].includes('.'))) return undefined;
  const value = toNumber(m[2]);
  if (value === undefined) return undefined;
  const comparator = normaliseComparator(m[1]);
  return comparator === undefined ? { value } : { value, comparator };
}

/** Runs of dashes, dots or asterisks (`-----`, `.....`, `***`) mean the instrument suppressed the value. */
export function isSuppressedValue(text: string): boolean {
  return /^(?:-{2,}|\.{2,}|\*{2,})$/.test(text.trim());
}

export interface ReferenceRange {
  readonly low?: number;
  readonly high?: number;
}

const RANGE = new RegExp(String.raw`^(${NUMBER})\s*(?:to|TO|_|-|–|\.\.)\s*(${NUMBER})$`);
const BOUND = new RegExp(String.raw`^(<=|>=|=<|=>|<|>)\s*(${NUMBER})$`);

/**
 * Reference range text: `3.8 to 11.8`, `73.5-83.5`, `84.0 - 94.0`, `-5--1`, `-5-1`, `2_5`, `<5`,
 * `>=1`. A one-sided bound becomes low or high (FHIR bounds are inclusive; the caller keeps the text).
 */
export function parseReferenceRange(text: string): ReferenceRange | undefined {
  const t = text.trim();
  const range = RANGE.exec(t);
  if (range?.[1] !== undefined && range[2] !== undefined) {
    const low = toNumber(range[1]);
    const high = toNumber(range[2]);
    if (low === undefined || high === undefined || low > high) return undefined;
    return { low, high };
  }
  const bound = BOUND.exec(t);
  if (bound?.[2] !== undefined) {
    const value = toNumber(bound[2]);
    if (value === undefined) return undefined;
    return bound[1]?.includes('<') === true ? { high: value } : { low: value };
  }
  return undefined;
}
