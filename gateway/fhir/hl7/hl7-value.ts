/**
 * OBX-5 → Observation value, chosen by OBX-2 as the v2-to-FHIR IG's OBX map says:
 * NM → valueQuantity; SN → valueQuantity (comparator), valueRange (`-`), valueRatio (`:` `/`) or
 * valueString (`<>`, `+`, `.`); ST/TX/FT → valueString; CE/CWE/CNE/CF/IS/ID → valueCodeableConcept;
 * DT/DTM/TS → valueDateTime; TM → valueTime; DR → valuePeriod; NR → valueRange; CQ → valueQuantity;
 * ED/RP → Attachment extension (hl7-attachment.ts); anything else → valueString, with a warning.
 *
 * Repetitions are never dropped: text types (ST/TX/FT) join their repetitions with newlines into one
 * string; any other type with more than one repetition becomes Observation.component[], one per
 * repetition (code = OBX-3), as the IG prescribes. Values that cannot be read as their type are
 * kept as valueString with a warning. Placeholders (`.....`, `-----`, `***`) become
 * dataAbsentReason (default `error`, per profile).
 */
import type { CodeableConcept, Extension, Observation, ObservationComponent, Period, Quantity, Range, Ratio } from '@medplum/fhirtypes';
import type { Hl7Segment } from '../../hl7/parser.js';
import { isSuppressedValue, parseNumericValue } from '../../astm/values.js';
import { DATA_ABSENT_REASON, fhirText } from '../astm-codes.js';
import { edAttachment, rpAttachment } from './hl7-attachment.js';
import type { Hl7Context } from './hl7-context.js';
import { codeableConcept } from './hl7-datatypes.js';
import { parseDecimal, quantity, unitAt, type UnitInfo } from './hl7-quantity.js';
import { hasInnerDelimiters, literalRepetitions } from './hl7-text.js';

/** One value[x] (at most one key set), or an attachment extension, or an absent reason. */
export interface OneValue {
  valueQuantity?: Quantity;
  valueString?: string;
  valueCodeableConcept?: CodeableConcept;
  valueDateTime?: string;
  valueTime?: string;
  valuePeriod?: Period;
  valueRange?: Range;
  valueRatio?: Ratio;
  extension?: Extension[];
  dataAbsentReason?: CodeableConcept;
}

const TEXT_TYPES = new Set(['ST', 'TX', 'FT']);
const CODED_TYPES = new Set(['CE', 'CWE', 'CNE', 'CF', 'IS', 'ID', 'CV', 'CD']);
const POSITION = 'OBX-5';

export function absent(code: string, display: string): CodeableConcept {
  return { coding: [{ system: DATA_ABSENT_REASON, code, display }] };
}

function placeholder(ctx: Hl7Context): OneValue {
  const reason = ctx.profile.placeholderReason ?? 'error';
  const display = reason === 'error' ? 'Error' : reason === 'not-performed' ? 'Not Performed' : 'Unknown';
  return { dataAbsentReason: absent(reason, display) };
}

function numeric(ctx: Hl7Context, text: string, unit: UnitInfo | undefined, type: string): OneValue {
  const t = text.trim();
  const plain = parseDecimal(t);
  if (plain !== undefined) return { valueQuantity: quantity(plain, unit) };
  if (isSuppressedValue(t)) return placeholder(ctx);
  const loose = parseNumericValue(t);
  if (loose !== undefined) {
    ctx.warn(POSITION, `${type} value with a comparator or decimal comma; read as a quantity`);
    return { valueQuantity: quantity(loose.value, unit, loose.comparator) };
  }
  ctx.warn(POSITION, `${type} value is not a number; kept as text`);
  return { valueString: t };
}

/** SN: comparator ^ num1 ^ separator/suffix ^ num2. */
function structuredNumeric(ctx: Hl7Context, obx: Hl7Segment, rep: number, unit: UnitInfo | undefined): OneValue {
  const c = (n: number): string => fhirText(obx.value(5, n, 1, rep));
  const [cmp, n1, sep, n2] = [c(1), c(2), c(3), c(4)];
  const whole = [cmp, n1, sep, n2].join('').trim();
  if (n1 === '' && sep === '' && n2 === '') {
    // Written as one string (`<0.10`, `182`): read heuristically, flagged.
    if (cmp === '') return {};
    ctx.warn(POSITION, 'SN written as one string; read heuristically');
    return numeric(ctx, cmp, unit, 'SN');
  }
  const a = parseDecimal(n1);
  const b = n2 === '' ? undefined : parseDecimal(n2);
  const bad = (): OneValue => {
    ctx.warn(POSITION, 'SN value not readable; kept as text');
    return { valueString: whole };
  };
  if (cmp === '<>') return { valueString: whole };
  switch (sep) {
    case ':':
    case '/':
      if (a === undefined || b === undefined) return bad();
      return { valueRatio: { numerator: { value: a }, denominator: { value: b } } };
    case '-':
      if (a === undefined || b === undefined) return bad();
      return { valueRange: { low: quantity(a, unit), high: quantity(b, unit) } };
    case '+':
    case '.':
      return { valueString: whole };
    case '':
      break;
    default:
      return bad();
  }
  if (a === undefined) return bad();
  const comparator = cmp === '' || cmp === '=' ? undefined : (['<', '>', '<=', '>='] as const).find((x) => x === cmp);
  if (cmp !== '' && cmp !== '=' && comparator === undefined) return bad();
  if (n2 !== '') ctx.warn(POSITION, 'SN second number without a separator; not mapped');
  return { valueQuantity: quantity(a, unit, comparator) };
}

/** TM `HHMM[SS[.S…]][+/-ZZZZ]` → FHIR time (no zone in FHIR time). */
function time(text: string): string | undefined {
  const m = /^(\d{2})(\d{2})?(\d{2})?(\.\d{1,6})?([+-]\d{2,4})?$/.exec(text.trim());
  if (m === null) return undefined;
  const [h, mi, s] = [Number(m[1]), Number(m[2] ?? '0'), Number(m[3] ?? '0')];
  if (h > 23 || mi > 59 || s > 59) return undefined;
  return `${m[1]}:${m[2] ?? '00'}:${m[3] ?? '00'}${m[4] ?? ''}`;
}

/**
 * One repetition's value. Whatever the type's reader made of it, an empty string is never a
 * value (FHIR forbids it): a value outside the component its type reads (`^182` for TS or NM)
 * is kept whole as text with a warning, or, when there is nothing, left absent.
 */
function one(ctx: Hl7Context, obx: Hl7Segment, type: string, rep: number, unit: UnitInfo | undefined): OneValue {
  const value = readOne(ctx, obx, type, rep, unit);
  if (value.valueString === undefined || value.valueString.trim() !== '') return value;
  const whole = (literalRepetitions(ctx, obx, 5)[rep - 1] ?? '').trim();
  if (whole === '') return {};
  ctx.warn(POSITION, `${type || 'OBX-2'} value not in the component its type reads; kept as text`);
  return { valueString: whole };
}

function readOne(ctx: Hl7Context, obx: Hl7Segment, type: string, rep: number, unit: UnitInfo | undefined): OneValue {
  const v = (n: number): string => fhirText(obx.value(5, n, 1, rep));
  switch (type) {
    case 'NM':
      return numeric(ctx, v(1), unit, 'NM');
    case 'SN':
      return structuredNumeric(ctx, obx, rep, unit);
    case 'CQ': {
      const n = parseDecimal(v(1));
      if (n === undefined) return numeric(ctx, v(1), unit, 'CQ');
      return { valueQuantity: quantity(n, unitAt(ctx, obx, 5, 2) ?? unit) };
    }
    case 'DT':
    case 'DTM':
    case 'TS': {
      const dt = ctx.dateTime(obx, 5, 'dateTime', 1, rep);
      return dt === undefined ? { valueString: v(1) } : { valueDateTime: dt };
    }
    case 'TM': {
      const t = time(v(1));
      if (t === undefined) ctx.warn(POSITION, 'TM value is not a time; kept as text');
      return t === undefined ? { valueString: v(1) } : { valueTime: t };
    }
    case 'DR': {
      const start = ctx.dateTime(obx, 5, 'dateTime', 1, rep);
      const end = ctx.dateTime(obx, 5, 'dateTime', 2, rep);
      const period: Period = { ...(start && { start }), ...(end && { end }) };
      return start || end ? { valuePeriod: period } : {};
    }
    case 'NR': {
      const [low, high] = [parseDecimal(v(1)), parseDecimal(v(2))];
      if (low === undefined && high === undefined) return v(1) || v(2) ? numeric(ctx, `${v(1)}-${v(2)}`, unit, 'NR') : {};
      return { valueRange: { ...(low !== undefined && { low: quantity(low, unit) }), ...(high !== undefined && { high: quantity(high, unit) }) } };
    }
    case 'ED':
    case 'RP': {
      const att = type === 'ED' ? edAttachment(ctx, obx, rep) : rpAttachment(ctx, obx, rep);
      if (att === undefined) return {};
      return 'error' in att ? { dataAbsentReason: absent('error', 'Error') } : { extension: [att.extension] };
    }
    default: {
      if (CODED_TYPES.has(type)) {
        const concept = codeableConcept(ctx, obx, 5, rep);
        return concept === undefined ? {} : { valueCodeableConcept: concept };
      }
      const text = literalRepetitions(ctx, obx, 5)[rep - 1] ?? '';
      if (text === '') return {};
      ctx.warn('OBX-2', type === '' ? 'no value type; value kept as text' : 'value type not supported; value kept as text');
      return { valueString: text };
    }
  }
}

export type ObservationValueParts = Pick<Observation, 'valueQuantity' | 'valueString' | 'valueCodeableConcept' | 'valueDateTime' | 'valueTime' | 'valuePeriod' | 'valueRange' | 'valueRatio' | 'extension' | 'dataAbsentReason' | 'component'>;

/** The whole OBX-5 (all repetitions) as Observation value parts; `code` is used for components. */
export function observationValue(ctx: Hl7Context, obx: Hl7Segment, code: CodeableConcept, unit: UnitInfo | undefined): ObservationValueParts {
  const type = fhirText(obx.value(2)).toUpperCase();
  const reps = obx.repetitionCount(5);
  ctx.use(obx, 2);
  if (reps === 0) return {};
  ctx.use(obx, 5);
  if (TEXT_TYPES.has(type)) {
    if (hasInnerDelimiters(ctx.message, obx, 5)) ctx.warn(POSITION, 'delimiters inside text kept as text');
    const lines = literalRepetitions(ctx, obx, 5);
    const text = lines.join('\n').trim();
    if (text === '') return {};
    if (isSuppressedValue(text)) return placeholder(ctx);
    if (type === 'ST' && ctx.profile.numericStrings === true && parseNumericValue(text) !== undefined) return numeric(ctx, text, unit, 'ST');
    return { valueString: text };
  }
  if (reps === 1) return one(ctx, obx, type, 1, unit);
  const values: OneValue[] = [];
  for (let r = 1; r <= reps; r++) values.push(one(ctx, obx, type, r, unit));
  if (type === 'ED' || type === 'RP') {
    const extension = values.flatMap((v) => v.extension ?? []);
    if (extension.length > 1) ctx.warn(POSITION, 'several attachments; each kept as an extension');
    return extension.length > 0 ? { extension } : values.find((v) => v.dataAbsentReason) ?? {};
  }
  const component: ObservationComponent[] = values
    .filter((v) => Object.keys(v).length > 0)
    .map((v) => ({ code, ...v }) as ObservationComponent);
  return component.length > 0 ? { component } : {};
}
