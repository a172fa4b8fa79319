/**
 * A stored inbound message → the E1394 text to map, by its instrument's profile: decoded with
 * the profile's encoding, non-ASTM payloads read by their adapter, vendor field shifts undone.
 * Pure. Unknown payloads and payloads an adapter cannot read come back as rejections (the caller
 * dead-letters them with the reason), never as exceptions.
 */
import { decodeText } from '../astm/text-decode.js';
import type { AstmMappingProfile } from '../fhir/astm-context.js';
import { findAdapter } from './adapters/registry.js';
import type { InstrumentProfile, RecordFix } from './profile-types.js';

/** Link metadata stored with an inbound message (InboundInput.meta). */
export interface InboundMeta {
  readonly [key: string]: string | number | boolean;
}

export type PreparedInbound =
  | { kind: 'astm'; text: string; warnings: string[] }
  | { kind: 'reject'; reasonCode: 'unknown-payload' | 'unreadable-payload'; detail: string };

export function prepareInbound(raw: Buffer, meta: InboundMeta | undefined, profile: InstrumentProfile): PreparedInbound {
  if (meta?.framing === 'foreign') {
    const name = typeof meta.adapter === 'string' ? meta.adapter : undefined;
    const adapter = findAdapter(name);
    if (adapter === undefined) return { kind: 'reject', reasonCode: 'unknown-payload', detail: 'non-ASTM payload that no payload adapter claims' };
    const read = adapter.toRecords(raw);
    if (read === undefined) return { kind: 'reject', reasonCode: 'unreadable-payload', detail: `payload adapter ${adapter.name} could not read it` };
    return { kind: 'astm', text: applyRecordFixes(read.text, profile.recordFixes).text, warnings: read.warnings };
  }
  const fixed = applyRecordFixes(decodeText(raw, profile.encoding), profile.recordFixes);
  return { kind: 'astm', text: fixed.text, warnings: fixed.warnings };
}

/** The mapping rules of a profile (gateway/fhir takes them without knowing about profiles). */
export function mappingProfile(profile: InstrumentProfile): AstmMappingProfile {
  return {
    specimenId: profile.specimenId,
    ...(profile.testCode !== undefined && { testCode: profile.testCode }),
    decimalMark: profile.decimalMark,
    codes: profile.codes,
    units: profile.units,
  };
}

const LINE = /(\r\n|\r|\n)/;

/**
 * Undoes vendor field shifts: for each fix, drops field `after + 1` of matching records when it
 * is empty (Beckman DxH: `R|1|…|7.4|10^9/L||3.8 to 11.8|…` → range back in R.6). The field
 * delimiter is taken from each H record, as the parser does.
 */
export function applyRecordFixes(text: string, fixes: readonly RecordFix[]): { text: string; warnings: string[] } {
  if (fixes.length === 0) return { text, warnings: [] };
  let delimiter = '|';
  const counts = new Map<string, number>();
  const parts = text.split(LINE);
  for (let i = 0; i < parts.length; i += 2) {
    const line = parts[i] ?? '';
    if (line.startsWith('H') && line.length > 1 && !/[A-Za-z0-9]/.test(line.charAt(1))) delimiter = line.charAt(1);
    for (const fix of fixes) {
      if (!line.startsWith(fix.record + delimiter)) continue;
      const fields = line.split(delimiter);
      if (fields.length > fix.dropEmptyFieldAfter && fields[fix.dropEmptyFieldAfter] === '') {
        fields.splice(fix.dropEmptyFieldAfter, 1);
        parts[i] = fields.join(delimiter);
        const position = `${fix.record}.${fix.dropEmptyFieldAfter + 1}`;
        counts.set(position, (counts.get(position) ?? 0) + 1);
      }
    }
  }
  const warnings = [...counts.keys()].map((p) => `${p}: extra empty field removed by the instrument profile`);
  return { text: parts.join(''), warnings };
}
