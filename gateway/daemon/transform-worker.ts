import { createHash } from 'node:crypto';
import type { QueueStore } from '../store/queue-store.js';
import { decodeText } from '../astm/text-decode.js';
import { convertAstm } from '../fhir/astm-to-fhir.js';
import type { InstrumentConfig } from '../config/config.js';
import { describeError } from '../core/errors.js';
import type { DaemonEventSink } from './events.js';

/** The opaque, deterministic id of a raw message: the same bytes always give the same id. */
export function messageDigest(raw: Uint8Array): string {
  return createHash('sha256').update(raw).digest('hex');
}

/**
 * Moves committed inbound messages to the outbound queue as FHIR transaction Bundles,
 * or to the dead-letter queue with a PHI-free reason. A message that cannot be mapped
 * never blocks the ones behind it.
 */
export function createTransformStep(deps: {
  store: QueueStore;
  instruments: ReadonlyMap<string, InstrumentConfig>;
  events: DaemonEventSink;
  batchSize?: number;
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
        const text = decodeText(record.raw, instrument?.encoding ?? 'auto');
        const result = convertAstm(text, {
          sourceId: record.sourceId,
          messageId: digest,
          timeZone: instrument?.timeZone,
        });
        bundle = result.bundle as { entry?: unknown[] };
        warnings = result.warnings;
        unmapped = result.unmapped;
        if (!bundle.entry || bundle.entry.length === 0) failure = 'no-resources';
      } catch (e) {
        failure = `mapping-error ${describeError(e)}`;
      }
      if (failure || !bundle) {
        const reasonCode = failure?.split(' ')[0] ?? 'mapping-error';
        await deps.store.rejected(record.id, { reasonCode, detail: failure });
        deps.events.emit('rejected', { id: record.id, sourceId: record.sourceId, reasonCode });
        continue;
      }
      const outboundId = await deps.store.transformed(record.id, { bundle, sourceId: record.sourceId });
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
