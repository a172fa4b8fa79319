/**
 * R.4 (value), R.5 (units), R.6 (reference range) and R.7 (abnormal flags) → Observation value[x],
 * referenceRange and interpretation.
 *
 * Value rule, on the first repeat of R.4 with components trimmed:
 * - one non-empty component (`5.9`, GeneXpert `^0.0`, Phadia `9.34^^^^`): a number, with an
 *   optional comparator, becomes valueQuantity; a suppressed value (`-----`) becomes
 *   dataAbsentReason `error`; other text becomes valueString;
 * - a number followed by a flag component (Beckman `146!  H `) becomes valueQuantity and the
 *   flag is added to the interpretation;
 * - anything else (Roche `-1^0.325`, Immucor `3+^3+^45`) is kept whole as valueString with the
 *   components joined by `^` — we do not guess which component is "the" value.
 * Several repeats are kept as one valueString joined by `\`.
 */
import type { CodeableConcept, Coding, ObservationReferenceRange, Quantity } from '@medplum/fhirtypes';
import type { AstmRecord } from '../astm/records.js';
import { isSuppressedValue, parseNumericValue, parseReferenceRange, type DecimalMark } from '../astm/values.js';
import { DATA_ABSENT_REASON, fhirText, interpretationCoding, UCUM, ucumCode } from './astm-codes.js';
import type { MappingState } from './mapping-state.js';

export interface ResultValue {
  valueQuantity?: Quantity;
  valueString?: string;
  dataAbsentReason?: CodeableConcept;
  interpretation?: CodeableConcept[];
  referenceRange?: ObservationReferenceRange[];
}

const nonEmpty = (parts: readonly string[]): string[] => parts.map(fhirText).filter((p) => p !== '');

function unitOf(r: AstmRecord): string {
  // Units have no components; a `^` inside one (`10^9/L`) was split by the parser, so rejoin it.
  return fhirText(r.components(5).join('^'));
}

/** Instrument-profile rules for values (gateway/profiles); all optional. */
export interface ValueOptions {
  /** Unit text → UCUM code (default: the built-in table). */
  ucum?: (unit: string) => string | undefined;
  decimalMark?: DecimalMark;
  /** UCUM unit for this test when R.5 is empty (from the profile's code map). */
  defaultUnit?: string;
}

function quantity(value: number, unit: string, comparator: Quantity['comparator'] | undefined, options: ValueOptions): Quantity {
  const q: Quantity = { value };
  if (comparator !== undefined) q.comparator = comparator;
  if (unit !== '') {
    q.unit = unit;
    const code = (options.ucum ?? ucumCode)(unit);
    if (code !== undefined) {
      q.system = UCUM;
      q.code = code;
    }
  } else if (options.defaultUnit !== undefined) {
    q.unit = options.defaultUnit;
    q.system = UCUM;
    q.code = options.defaultUnit;
  }
  return q;
}

export function mapResultValue(r: AstmRecord, state: MappingState, cancelled: boolean, options: ValueOptions = {}): ResultValue {
  const out: ResultValue = {};
  const unit = unitOf(r);
  const flags: Coding[] = [];
  let unitUsed = false;

  if (cancelled) {
    out.dataAbsentReason = { coding: [{ system: DATA_ABSENT_REASON, code: 'not-performed', display: 'Not Performed' }] };
  } else if (r.hasContent(4)) {
    const repeats = r.structure(4).map(nonEmpty).filter((c) => c.length > 0);
    const only = repeats.length === 1 ? repeats[0] : undefined;
    const single = only?.length === 1 ? only[0] : undefined;
    const flagged = only?.length === 2 && only[0] !== undefined && only[1] !== undefined && interpretationCoding(only[1]) !== undefined ? only : undefined;
    if (single !== undefined && isSuppressedValue(single)) {
      out.dataAbsentReason = { coding: [{ system: DATA_ABSENT_REASON, code: 'error', display: 'Error' }] };
    } else if (single !== undefined || flagged !== undefined) {
      const text = single ?? flagged?.[0] ?? '';
      const n = parseNumericValue(text, options.decimalMark);
      if (n === undefined) out.valueString = text;
      else {
        out.valueQuantity = quantity(n.value, unit, n.comparator, options);
        unitUsed = unit !== '';
      }
      const flag = flagged?.[1] === undefined ? undefined : interpretationCoding(flagged[1]);
      if (flag !== undefined) flags.push(flag);
    } else if (repeats.length > 0) {
      out.valueString = repeats.map((c) => c.join('^')).join('\\');
    }
    if (repeats.length > 0) state.use(r, 4);
  }

  const range = mapReferenceRange(r, unit, options);
  if (range !== undefined) {
    out.referenceRange = [range];
    state.use(r, 6);
    if (unit !== '' && (range.low !== undefined || range.high !== undefined)) unitUsed = true;
  }
  if (unitUsed) state.use(r, 5);

  let unknownFlag = false;
  for (const rep of r.repeats(7)) {
    const t = rep.trim();
    if (t === '') continue;
    const coding = interpretationCoding(t);
    if (coding === undefined) unknownFlag = true;
    else flags.push(coding);
  }
  if (unknownFlag) state.warn('R.7', 'unknown abnormal flag; not mapped');
  else if (r.hasContent(7)) state.use(r, 7);
  const seen = new Set<string>();
  const unique = flags.filter((c) => !seen.has(c.code ?? '') && seen.add(c.code ?? ''));
  if (unique.length > 0) out.interpretation = unique.map((c) => ({ coding: [c] }));
  return out;
}

function mapReferenceRange(r: AstmRecord, unit: string, options: ValueOptions): ObservationReferenceRange | undefined {
  // Component 1 holds the range; Horiba adds a label (`^REFERENCE_RANGE`) after it.
  const text = fhirText(r.component(6, 1));
  if (text === '') return undefined;
  const parsed = parseReferenceRange(text);
  const range: ObservationReferenceRange = {};
  if (parsed?.low !== undefined) range.low = quantity(parsed.low, unit, undefined, options);
  if (parsed?.high !== undefined) range.high = quantity(parsed.high, unit, undefined, options);
  range.text = text;
  return range;
}
