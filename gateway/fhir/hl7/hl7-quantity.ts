/**
 * OBX-6 units and OBX-7 reference ranges.
 *
 * Units (IG: unit = CWE.2, else CWE.1; code = CWE.1 and system = CWE.3 only if both valued):
 * a unit declared UCUM gets the UCUM system when its code is valid UCUM; an undeclared unit gets
 * it only when it is a common laboratory UCUM spelling (ucum.ts). `10^9/L` sent with an unescaped
 * `^` (URIT-5160) is read as one unit: always with the `unitsAsText` profile, and without it when
 * the split cannot be a real CWE (component 1 `10`, component 2 a power like `9/L`), with a warning.
 *
 * Ranges (IG: text always, low/high "if sufficiently parseable"): `a-b`, `a - b`, `a to b`, `a_b`,
 * `a..b`, `a&b` (subcomponent separator used as a dash), `(a-b)`, `[a-b]`, `a-b unit`, `<x`, `<=x`,
 * `≤x`, `>x`, `>=x`, `≥x`. `<x` gives high x and `>x` low x (FHIR bounds are inclusive; the exact
 * text is kept). Anything else (`NEG`, age-dependent text) is text only.
 */
import type { ObservationReferenceRange, Quantity } from '@medplum/fhirtypes';
import type { Hl7Segment } from '../../hl7/parser.js';
import { parseReferenceRange } from '../../astm/values.js';
import { fhirText, UCUM } from '../astm-codes.js';
import type { Hl7Context } from './hl7-context.js';
import { codingSystemUri } from './hl7-codes.js';
import { literalRepetitions } from './hl7-text.js';
import { ucumFor } from './ucum.js';

export interface UnitInfo {
  readonly unit?: string;
  readonly system?: string;
  readonly code?: string;
}

function isUcumSystem(name: string): boolean {
  return /^(UCUM|ANS\+)$/i.test(name.trim());
}

/** Reads a unit from a CWE at `field` (component 1..3), or from a CQ's units (subcomponents of `component`). */
export function unitAt(ctx: Hl7Context, seg: Hl7Segment, field: number, component?: number): UnitInfo | undefined {
  const part = (n: number): string => fhirText(component === undefined ? seg.value(field, n) : seg.value(field, component, n));
  const code = part(1);
  const text = part(2);
  const system = part(3);
  if (component === undefined && field === 6 && seg.name === 'OBX') {
    const whole = literalRepetitions(ctx, seg, 6)[0] ?? '';
    const looksSplit = system === '' && code === '10' && /^\d+(\/|$)/.test(text) && fhirText(seg.value(6, 4)) === '';
    if ((ctx.profile.unitsAsText === true && whole !== '') || looksSplit) {
      if (looksSplit && ctx.profile.unitsAsText !== true) ctx.warn('OBX-6', 'unescaped component separator read as part of the unit');
      return unitFromText(whole);
    }
  }
  const unit = text || code;
  if (unit === '') return undefined;
  if (code !== '' && system !== '') {
    if (isUcumSystem(system)) {
      const ucum = ucumFor(code, true);
      if (ucum === undefined) ctx.warn(seg.position(field), 'unit declared UCUM is not valid UCUM; kept as text');
      return ucum === undefined ? { unit } : { unit, system: UCUM, code: ucum };
    }
    // Only a unit system with a real URI is worth a code; a local one (`ISO`, `L`) is text.
    const uri = codingSystemUri(system);
    if (uri !== undefined) return { unit, system: uri, code };
    const ucum = ucumFor(code, false);
    return ucum === undefined ? { unit } : { unit, system: UCUM, code: ucum };
  }
  const ucum = ucumFor(code || unit, false);
  return ucum === undefined ? { unit } : { unit, system: UCUM, code: ucum };
}

function unitFromText(unit: string): UnitInfo {
  const ucum = ucumFor(unit, false);
  return ucum === undefined ? { unit } : { unit, system: UCUM, code: ucum };
}

export function quantity(value: number, unit: UnitInfo | undefined, comparator?: Quantity['comparator']): Quantity {
  const q: Quantity = { value };
  if (comparator !== undefined) q.comparator = comparator;
  if (unit?.unit !== undefined) q.unit = unit.unit;
  if (unit?.system !== undefined && unit.code !== undefined) {
    q.system = unit.system;
    q.code = unit.code;
  }
  return q;
}

/** FHIR decimal from v2 NM text: `+5`, `5.`, `.5`, `-0.25`; not exponents (NM has none). */
export function parseDecimal(text: string): number | undefined {
  const t = text.trim();
  if (!/^[+-]?(\d+(\.\d*)?|\.\d+)$/.test(t)) return undefined;
  const n = Number(t);
  return Number.isFinite(n) ? n : undefined;
}

function parseRangeText(text: string): { low?: number; high?: number } | undefined {
  let t = text.trim().replace(/≤/g, '<=').replace(/≥/g, '>=');
  const bracketed = /^[([](.*)[)\]]$/.exec(t);
  if (bracketed?.[1] !== undefined) t = bracketed[1].trim();
  const direct = parseReferenceRange(t);
  if (direct !== undefined) return direct;
  // A trailing unit word: `3.5-5.0 mmol/L`, `<5 mg/dL`.
  const unitless = /^(.*\d)\s+[^\d\s]\S*$/.exec(t);
  if (unitless?.[1] !== undefined) return parseReferenceRange(unitless[1]);
  return undefined;
}

/** OBX-7 → referenceRange (text always; low/high when parseable). */
export function referenceRange(ctx: Hl7Context, obx: Hl7Segment, unit: UnitInfo | undefined): ObservationReferenceRange | undefined {
  const text = literalRepetitions(ctx, obx, 7).join(' ').trim();
  if (text === '') return undefined;
  ctx.use(obx, 7);
  const d = ctx.message.delimiters;
  let parsed = parseRangeText(text);
  let display = text;
  if (parsed === undefined && d.subcomponent !== '') {
    // `4.50&5.90`: the subcomponent separator used as the range dash.
    const parts = text.split(d.subcomponent).map((p) => p.trim());
    if (parts.length === 2 && parts.every((p) => parseDecimal(p) !== undefined)) {
      parsed = parseReferenceRange(`${parts[0]}-${parts[1]}`);
      if (parsed !== undefined) display = `${parts[0]}-${parts[1]}`;
    }
  }
  const range: ObservationReferenceRange = {};
  if (parsed?.low !== undefined) range.low = quantity(parsed.low, unit);
  if (parsed?.high !== undefined) range.high = quantity(parsed.high, unit);
  range.text = display;
  return range;
}
