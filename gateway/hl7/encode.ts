/**
 * Text → HL7 v2 segments (the inverse of the parser), used by the ACK builder, the simulator and the
 * property tests. Values are escaped; structure is given as repetitions → components → subcomponents.
 */
import { encodingCharacters, type Hl7Delimiters } from './delimiters.js';
import { encodeEscapes } from './escape.js';

/** A field: plain text (one repetition, one component) or repetitions of components of subcomponents. */
export type Hl7FieldValue = string | readonly (readonly (readonly string[])[])[];

export function encodeField(value: Hl7FieldValue, d: Hl7Delimiters): string {
  if (typeof value === 'string') return encodeEscapes(value, d);
  return value
    .map((rep) => rep.map((comp) => comp.map((sub) => encodeEscapes(sub, d)).join(d.subcomponent)).join(d.component))
    .join(d.repetition);
}

/** One segment without its terminator. For MSH, `fields[0]` is MSH-3 (MSH-1 and MSH-2 come from `d`). */
export function encodeSegment(name: string, fields: readonly Hl7FieldValue[], d: Hl7Delimiters): string {
  const head = name === 'MSH' ? `MSH${d.field}${encodingCharacters(d)}` : name;
  let out = head;
  for (const f of fields) out += d.field + encodeField(f, d);
  return out;
}

/** Segments joined and terminated with CR. */
export function encodeMessage(segments: readonly string[]): string {
  return segments.map((s) => `${s}\r`).join('');
}
