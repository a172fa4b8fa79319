import type { Clock } from '../core/clock.js';

/** The queue's record shapes, shared by the store, the pipeline and the CLI. */
export interface InboundInput {
  sourceId: string;
  raw: Buffer;
  receivedAt: number;
  meta?: Record<string, string | number | boolean>;
}
export interface InboundRecord extends InboundInput {
  id: string;
}
export interface OutboundRecord {
  id: string;
  sourceId: string;
  inboundId: string;
  bundle: unknown;
  createdAt: number;
  attempts: number;
}
export interface DeadLetter {
  id: string;
  sourceId: string;
  stage: 'transform' | 'deliver';
  reasonCode: string;
  /** PHI-free: codes, positions, opaque ids. */
  detail?: string;
  raw?: Buffer;
  bundle?: unknown;
  at: number;
}
export interface DeadLetterReason {
  reasonCode: string;
  detail?: string;
}
export interface QueueStoreOptions {
  dataDir: string;
  keyFile: string;
  /** How long the first commit of a group waits for others to join its fsync (default 2 ms). */
  groupCommitWindowMs?: number;
  clock?: Pick<Clock, 'now'>;
}
