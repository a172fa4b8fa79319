/**
 * A committed ASTM inbound record → FHIR, the way the transform worker needs it: the
 * instrument's profile decides decoding, payload adapters and mapping rules. Three outcomes:
 * a mapping result; a rejection with a PHI-free reason code (unknown or unreadable non-ASTM
 * payloads: quarantined, research Q9); or a host query that produced no resources, which needs
 * no upstream delivery (it was answered on the line) and must not be dead-lettered.
 */
import type { InstrumentConfig } from '../config/config.js';
import { convertAstm, type MappingResult } from '../fhir/astm-to-fhir.js';
import { instrumentProfile } from './instrument-profile.js';
import { mappingProfile, prepareInbound, type InboundMeta } from './prepare-inbound.js';

export type AstmInboundResult =
  | { kind: 'mapped'; result: MappingResult }
  | { kind: 'rejected'; reasonCode: string; detail: string }
  /** Only Q (and H/C/L) records: answered at the link, nothing to deliver. */
  | { kind: 'query'; queries: number };

export function convertAstmInbound(
  record: { sourceId: string; raw: Buffer; meta?: InboundMeta },
  instrument: Pick<InstrumentConfig, 'profile' | 'overrides' | 'encoding' | 'timeZone'> | undefined,
  messageId: string,
): AstmInboundResult {
  const profile = instrumentProfile(instrument ?? {});
  const prepared = prepareInbound(record.raw, record.meta, profile);
  if (prepared.kind === 'reject') return { kind: 'rejected', reasonCode: prepared.reasonCode, detail: prepared.detail };
  const result = convertAstm(prepared.text, {
    sourceId: record.sourceId,
    messageId,
    ...(profile.timeZone !== undefined && { timeZone: profile.timeZone }),
    profile: mappingProfile(profile),
  });
  result.warnings.unshift(...prepared.warnings);
  const queries = (prepared.text.match(/(^|[\r\n])Q[^A-Za-z0-9]/g) ?? []).length;
  if ((result.bundle.entry ?? []).length === 0 && queries > 0) return { kind: 'query', queries };
  return { kind: 'mapped', result };
}
