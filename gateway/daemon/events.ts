import { EventEmitter } from 'node:events';
import type { AuditCheckpoint } from '../audit/audit-types.js';
import type { RenewedCertificate } from '../uplink/open-uplink.js';

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
  /** Upstream alarm raised (active) or cleared: `auth` = credentials/TLS refused, delivery paused; `circuit-open` = server unreachable. */
  'uplink-alarm': [{ kind: 'auth' | 'circuit-open'; active: boolean; status?: number; code?: string; retryInMs?: number }];
  link: [{ sourceId: string; kind: string; detail?: string }];
  /** An ASTM host query answered (or not) on the instrument's line: outcome, lookup result, counts, time. No ids. */
  'host-query': [{ sourceId: string; outcome: string; lookup: string; specimens: number; found: number; ms: number }];
  /** An ASTM order download (push mode) round. */
  'order-push': [{ sourceId: string; outcome: string; orders: number; unmappable: number }];
  /** The store's alarms (gateway/store StoreAlarm): full, damaged, lease taken over; `cleared` ends one. PHI-free. */
  'store-alarm': [{ code: string; severity: 'error' | 'warning' | 'info'; message: string; cleared: boolean }];
  /** A signed checkpoint of the audit chain (for the fleet `events` topic): seq, head hash, time, signature. No PHI. */
  'audit-checkpoint': [AuditCheckpoint];
  /** The uplink picked up a renewed device certificate (identified by digest, serial, expiry). */
  'certificate-renewed': [RenewedCertificate];
}

export type DaemonEventSink = EventEmitter<DaemonEvents>;
