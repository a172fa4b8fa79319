import { EventEmitter } from 'node:events';

/**
 * What the daemon reports as messages flow. Every field is an opaque id, a count,
 * a code or an instrument id: never content (invariant 6).
 */
export interface DaemonEvents {
  ingested: [{ sourceId: string; id: string; bytes: number; complete: boolean }];
  'ingest-refused': [{ sourceId: string; reason: string }];
  transformed: [{ id: string; inboundId: string; sourceId: string; resources: number; warnings: number; unmapped: number }];
  rejected: [{ id: string; sourceId: string; reasonCode: string }];
  delivered: [{ id: string; sourceId: string; status: number; resources: number }];
  'delivery-failed': [{ id: string; sourceId: string; outcome: string; status?: number; retryInMs?: number }];
  'dead-lettered': [{ id: string; sourceId: string; status?: number }];
  link: [{ sourceId: string; kind: string; detail?: string }];
}

export type DaemonEventSink = EventEmitter<DaemonEvents>;
