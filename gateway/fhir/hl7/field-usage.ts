/**
 * The translation delta: which input fields held content that the mapping did not use. Named by
 * position only (`PID-13`, `OBX-17`, `segment 7` for a segment whose name is not a valid segment
 * id), never by content (invariant 6).
 */
import type { Hl7Segment } from '../../hl7/parser.js';

/** Segments whose field 1 is a Set ID (structure, not content). */
const SET_ID_FIRST = new Set(['PID', 'PV1', 'OBR', 'OBX', 'NTE', 'SPM', 'AL1', 'DG1', 'IN1', 'GT1', 'FT1', 'TQ1', 'NK1', 'PR1', 'TXA', 'PRT', 'ROL', 'CTI']);

const VALID_NAME = /^[A-Z][A-Z0-9]{2}$/;

export class FieldUsage {
  readonly #used = new Map<Hl7Segment, Set<number>>();

  use(segment: Hl7Segment | undefined, ...fields: number[]): void {
    if (segment === undefined) return;
    let set = this.#used.get(segment);
    if (set === undefined) {
      set = new Set();
      this.#used.set(segment, set);
    }
    for (const f of fields) set.add(f);
  }

  isUsed(segment: Hl7Segment, field: number): boolean {
    return this.#used.get(segment)?.has(field) === true;
  }

  /** Positions with content the mapping did not use, in order of first appearance, without repeats. */
  unmapped(segments: readonly Hl7Segment[]): string[] {
    const out = new Set<string>();
    for (const seg of segments) {
      if (!VALID_NAME.test(seg.name)) {
        out.add(`segment ${seg.index + 1}`);
        continue;
      }
      const used = this.#used.get(seg);
      const first = seg.name === 'MSH' ? 3 : SET_ID_FIRST.has(seg.name) ? 2 : 1;
      for (let n = first; n <= seg.fieldCount; n++) {
        if (used?.has(n) !== true && seg.has(n) && hasContent(seg.raw(n))) out.add(`${seg.name}-${n}`);
      }
    }
    return [...out];
  }
}

/** A field of only delimiters and spaces (`^^^`, ` `) holds no content. */
function hasContent(raw: string): boolean {
  return /[^\s^~&|\\]/.test(raw);
}
