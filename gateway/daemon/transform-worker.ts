import { messageDigest } from '../audit/message-digest.js';
import type { QueueStore } from '../store/queue-store.js';
import type { Bundle } from '@medplum/fhirtypes';
import { convertAstmInbound } from '../profiles/astm-inbound.js';
import type { AnyInstrumentConfig } from '../config/config.js';
import { convertHl7 } from '../fhir/hl7/hl7-to-fhir.js';
import { hl7Profile } from '../profiles/hl7-profile.js';
import { describeError } from '../core/errors.js';
import type { DaemonEventSink } from './events.js';
import { withProvenance } from '../fhir/provenance.js';
import { softwareVersion } from '../uplink/software-version.js';

/** The opaque, deterministic id of a raw message (SHA-256 hex): one function for identifiers, Provenance and the audit trail. */
export { messageDigest };

/**
 * Moves committed inbound messages to the outbound queue as FHIR transaction Bundles,
 * or to the dead-letter queue with a PHI-free reason. A message that cannot be mapped
 * never blocks the ones behind it.
 */
export function createTransformStep(deps: {
  store: QueueStore;
  instruments: ReadonlyMap<string, AnyInstrumentConfig>;
  events: DaemonEventSink;
  batchSize?: number;
  /** Adds a Provenance entry to every Bundle (gateway/fhir/provenance.ts): the box's deviceId, its clock. */
  provenance?: { deviceId: string; now?: () => number };
}): () => Promise<boolean> {
  const batchSize = deps.batchSize ?? 32;
  return async () => {
    const batch = await deps.store.listInbound(batchSize);
    for (const record of batch) {
      const instrument = deps.instruments.get(record.sourceId);
      const digest = messageDigest(record.raw);
      let bundle: { entry?: unknown[] } | undefined;
      let warnings: string[] = [];
      let unmapped: string[] = [];
      let failure: string | undefined;
      try {
        // HL7 v2 intake (gateway/daemon/hl7-channel.ts) marks its records; a message it rejected
        // (AR/CR) is quarantined here with the ERR code and position it was rejected for.
        const hl7 = record.meta?.protocol === 'hl7';
        if (hl7 && record.meta?.rejected !== undefined) throw new Hl7Rejected(`hl7-rejected ERR ${String(record.meta.rejected)} ${String(record.meta.rejectedAt ?? '')}`.trim());
        const encoding = instrument?.encoding ?? 'auto';
        // ASTM: the instrument profile decides decoding, payload adapters and mapping rules
        // (gateway/profiles/astm-inbound.ts). A host query was answered on the line: no delivery, no DLQ.
        const astm = hl7 ? undefined : convertAstmInbound(record, instrument?.protocol === 'astm' ? instrument : undefined, digest);
        if (astm?.kind === 'query') {
          await deps.store.handledAtLink(record.id, record.sourceId, { digest, warnings: [], unmapped: [] });
          continue;
        }
        if (astm?.kind === 'rejected') throw new Hl7Rejected(`${astm.reasonCode} ${astm.detail}`);
        const result = hl7 || astm === undefined
          ? convertHl7(record.raw, {
              sourceId: record.sourceId,
              messageId: digest,
              ...(instrument?.timeZone ? { timeZone: instrument.timeZone } : {}),
              ...(encoding !== 'auto' ? { charset: encoding } : {}),
              // The HL7 device profile (gateway/profiles/hl7-profile.ts): unit, ST-number and placeholder quirks.
              ...(instrument?.protocol === 'hl7' ? { profile: hl7Profile(instrument) } : {}),
            })
          : astm.result;
        bundle = result.bundle as { entry?: unknown[] };
        warnings = result.warnings;
        unmapped = result.unmapped;
        if (!bundle.entry || bundle.entry.length === 0) failure = 'no-resources';
      } catch (e) {
        failure = e instanceof Hl7Rejected ? e.message : `mapping-error ${describeError(e)}`;
      }
      if (failure || !bundle) {
        const reasonCode = failure?.split(' ')[0] ?? 'mapping-error';
        await deps.store.rejected(record.id, { reasonCode, detail: failure }, { digest });
        deps.events.emit('rejected', { id: record.id, sourceId: record.sourceId, reasonCode });
        continue;
      }
      if (deps.provenance) {
        const { deviceId, now = Date.now } = deps.provenance;
        bundle = withProvenance(bundle as Bundle, { sourceId: record.sourceId, messageDigest: digest, deviceId, softwareVersion: softwareVersion(), recordedAt: now() }) as { entry?: unknown[] };
      }
      const outboundId = await deps.store.transformed(record.id, { bundle, sourceId: record.sourceId }, { digest, warnings, unmapped });
      deps.events.emit('transformed', {
        id: outboundId,
        inboundId: record.id,
        sourceId: record.sourceId,
        resources: bundle.entry?.length ?? 0,
        warnings: warnings.length,
        unmapped: unmapped.length,
      });
    }
    return batch.length === batchSize;
  };
}

/** A message the intake already rejected (HL7 AR/CR) or an ASTM payload nobody can read: quarantined without mapping. */
class Hl7Rejected extends Error {}
