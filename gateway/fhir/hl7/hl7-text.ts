/**
 * Text fields read literally: FT/TX/ST results, NTE comments and OBX-7 are text, so delimiters a
 * sender forgot to escape (`a=1&b=2`, `314^94`) are part of the text and are put back instead of
 * being split off and lost (research §3 #4).
 */
import type { Annotation } from '@medplum/fhirtypes';
import type { Hl7Message, Hl7Segment } from '../../hl7/parser.js';
import { decodeEscapes, type EscapeIssue } from '../../hl7/escape.js';
import { fhirText } from '../astm-codes.js';
import type { Hl7Context } from './hl7-context.js';

/** The repetitions of a field, each with escapes decoded and component/subcomponent delimiters kept. */
export function literalRepetitions(ctx: Hl7Context, seg: Hl7Segment, field: number): string[] {
  const raw = seg.raw(field);
  if (raw === '') return [];
  const message = ctx.message;
  const d = message.delimiters;
  const reps = d.repetition === '' ? [raw] : raw.split(d.repetition);
  const onIssue = (issue: EscapeIssue): void => ctx.warn(seg.position(field), `${issue.kind} escape sequence kept literally`);
  return reps.map((r) => fhirText(decodeEscapes(r, d, message.charset, onIssue)));
}

/** True when the raw repetition holds an unescaped component or subcomponent delimiter. */
export function hasInnerDelimiters(message: Hl7Message, seg: Hl7Segment, field: number): boolean {
  const d = message.delimiters;
  const raw = seg.raw(field);
  return (d.component !== '' && raw.includes(d.component)) || (d.subcomponent !== '' && raw.includes(d.subcomponent));
}

/** NTE-3 (all repetitions, one line each) of each NTE → Annotation. NTE-2 source and NTE-4 type travel with it. */
export function notesFrom(ctx: Hl7Context, ntes: readonly Hl7Segment[]): Annotation[] {
  const notes: Annotation[] = [];
  for (const nte of ntes) {
    const text = literalRepetitions(ctx, nte, 3).join('\n').trim();
    if (text === '') continue;
    notes.push({ text });
    ctx.use(nte, 2, 3, 4);
  }
  return notes;
}
