import type { AuditDraft } from '../audit/audit-types.js';
import type { WriteOp } from './group-commit.js';
import type { KeyLocks } from './key-locks.js';
import type { KekProvider } from './kek-provider.js';
import type { StoreKeyring } from './keys.js';
import type { OperatorAccessEvent, StoreAlarm } from './queue-types.js';
import type { RecordSealer } from './record-sealer.js';
import type { StoreDb } from './store-db.js';
import type { StoreState } from './store-state.js';

/**
 * What QueueStore lends its helpers (dead-letter operations, key rotation, retention):
 * the same handle, locks and group committer, so their writes follow the same rules
 * (state changes under the record's lock, one synced batch each).
 */
export interface StoreInternals {
  readonly db: StoreDb;
  readonly sealer: RecordSealer;
  readonly keyring: StoreKeyring;
  readonly kek: KekProvider;
  readonly state: StoreState;
  readonly locks: KeyLocks;
  submit(ops: WriteOp[]): Promise<void>;
  /** An audit entry placeholder that rides in a submitted batch (written with it, or not at all). */
  auditOp(draft: AuditDraft): WriteOp;
  now(): number;
  nextSeq(): number;
  /** The source's number, plus the ops that persist its table entry when it is new. */
  sourceFor(sourceId: string): { sourceNo: number; ops: WriteOp[] };
  markSourcePersisted(sourceNo: number): void;
  /** Re-seals the m! entries (written outside record locks) inside the next synced batch. */
  requestMetaReseal(): Promise<void>;
  alarm(alarm: StoreAlarm): void;
  /** After a data key was added or retired: keeps the wrapped-key backup in step. */
  keysChanged(): Promise<void>;
  operatorAccess(event: OperatorAccessEvent): Promise<void>;
  assertOpen(): void;
}
