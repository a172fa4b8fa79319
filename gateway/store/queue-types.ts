import type { Clock } from '../core/clock.js';
import type { ErrorCode } from '../core/errors.js';
import type { KekProvider } from './kek-provider.js';
import type { StoreLimits } from './capacity.js';

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
  /** The bundle's JSON text, as stored and as posted. */
  bundleJson: string;
  /** The bundle, parsed from `bundleJson` on first use (delivery itself never needs it). */
  readonly bundle: unknown;
  /** Entries in the bundle. */
  resources: number;
  /** What a replay of the bundle could change (gateway/fhir/bundle-summary.ts). */
  updateTargets: readonly string[];
  createdAt: number;
  attempts: number;
}
export interface DeadLetter {
  id: string;
  sourceId: string;
  /** The record it came from (`i-…` or `o-…`), when known. */
  originId?: string;
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
/**
 * Something an operator must know about the store (damage, a full disk, a taken-over
 * lease). PHI-free: codes, paths, counts. `cleared` marks the end of a condition.
 */
export interface StoreAlarm {
  code: ErrorCode;
  severity: 'error' | 'warning' | 'info';
  message: string;
  cleared?: boolean;
}

export type OperatorAction = 'dlq-show' | 'dlq-replay' | 'dlq-purge';

/** An operator's access to dead letters, reported before it takes effect (for the audit trail). */
export interface OperatorAccessEvent {
  /** The authenticated operator's name (gateway/audit/operator-auth.ts). */
  operator: string;
  action: OperatorAction;
  /** Opaque record ids (the dead letters; for a replay also the new record). */
  ids: string[];
  at: number;
}

export interface QueueStoreOptions {
  dataDir: string;
  /**
   * Refuse to create a store (LABEDGE_ERR_STORE_NOT_FOUND) when none is there: inspection
   * commands must not answer "0 entries, OK" for a mistyped or vanished data directory.
   */
  mustExist?: boolean;
  /** The KEK file (0600, outside dataDir/store); ignored when `kek` is given. */
  keyFile: string;
  /** Another KEK provider (TPM2, PKCS#11) in place of the key file. */
  kek?: KekProvider;
  /** How long the first commit of a group waits for others to join its fsync (default 0: the fsync in flight is the window). */
  groupCommitWindowMs?: number;
  clock?: Pick<Clock, 'now'>;
  /** Capacity limits checked by commitInbound (defaults in capacity.ts). */
  limits?: Partial<StoreLimits>;
  /** How long open waits for another process to release the store (a hand-over); default 0. */
  leaseWaitMs?: number;
  /** Alarms (raised once per condition, and cleared). Default: none. */
  onAlarm?: (alarm: StoreAlarm) => void;
  /**
   * Set by an operator's command, naming it (`labedge queue stats`): its warnings and errors
   * are also kept beside the store for the daemon to raise at its next open (alarm-relay.ts),
   * so fleet monitoring hears of damage a command found. Unset (the daemon): alarms kept by
   * earlier commands are raised at open.
   */
  relayAlarmsAs?: string;
  /**
   * Called (and awaited: a failure denies the access) before an operator reads, replays or
   * purges dead letters. Wire it to the audit trail.
   */
  onOperatorAccess?: (event: OperatorAccessEvent) => void | Promise<void>;
  /** Free-space probe; tests inject a fake only where a real full disk cannot be made. */
  statfs?: (dir: string) => { bavail: number; bsize: number };
}
