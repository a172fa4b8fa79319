import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LabedgeError } from '../core/errors.js';
import { AUDIT_PREFIX } from '../audit/audit-keys.js';
import { CapacityGuard, DEFAULT_LIMITS, isNoSpace } from './capacity.js';
import { CommitWitness } from './commit-witness.js';
import { sealedKeyId } from './crypto.js';
import type { WriteOp } from './group-commit.js';
import { KEY_BACKUP_FILE, type StoreKeyring } from './keys.js';
import type { OperatorAccessEvent, QueueStoreOptions, StoreAlarm } from './queue-types.js';
import { PREFIX, prefixRange } from './record-keys.js';
import type { RecordSealer } from './record-sealer.js';
import { compactRange, failureReason, isCorruption, writeSyncedBatch, type StoreDb } from './store-db.js';
import { AUDIT_WITNESS_FILE, DAMAGE_FOUND_FILE, markReconcileDue, openStoreFiles, RECONCILE_DUE_FILE, type KeyScan, type OpenedFiles } from './store-open.js';
import { relayAlarm, takeRelayedAlarms } from './alarm-relay.js';
import type { QueueCounts } from './store-state.js';

interface Waiter {
  resolve: () => void;
  reject: (e: unknown) => void;
}

/**
 * Everything around the synced write that is not the queue itself: the lease, the commit
 * witness, capacity admission, alarms, and recovery from a failed write. After a failed
 * synced write LevelDB's log may end in a torn record, and appending behind it would let
 * recovery later drop good records with it; so the handle is closed and reopened (its
 * recovery then drops only the torn tail) before anything else is written.
 */
export class StoreRuntime {
  private markedSeq = 0;
  private broken: unknown;
  private witness: CommitWitness | undefined;
  private auditWitness: CommitWitness | undefined;
  private guard: CapacityGuard | undefined;
  private keyring: StoreKeyring | undefined;
  private sealer: RecordSealer | undefined;
  private resealWaiters: Waiter[] = [];
  /** A reclaiming compaction (capacity.ts) still running: the handle closes after it. */
  private reclaiming: Promise<void> | undefined;
  private damageNoted = false;
  private shortfall = false;

  /** Set once StoreRuntime.open has the files (alarms come before: the open raises them). */
  private opened: OpenedFiles | undefined;

  private constructor(private readonly opts: QueueStoreOptions) {}

  private get files(): OpenedFiles {
    if (!this.opened) throw new LabedgeError('LABEDGE_ERR_STORE_COMMIT', 'the store is not open yet');
    return this.opened;
  }

  static async open(opts: QueueStoreOptions, knownDamage?: string): Promise<StoreRuntime> {
    const runtime = new StoreRuntime(opts);
    const files = await openStoreFiles(opts.dataDir, { leaseWaitMs: opts.leaseWaitMs, alarm: (a) => runtime.alarm(a), ...(knownDamage !== undefined && { knownDamage }) });
    runtime.opened = files;
    // The store is ours (store-guard.ts): no command appends to the relay meanwhile.
    if (opts.relayAlarmsAs === undefined) for (const a of await takeRelayedAlarms(opts.dataDir)) runtime.alarm(a);
    return runtime;
  }

  get db(): StoreDb {
    return this.files.db;
  }

  /** The copy of the wrapped data keys beside the database (keys.ts). */
  get keyBackupFile(): string {
    return join(this.opts.dataDir, KEY_BACKUP_FILE);
  }

  get scan(): KeyScan {
    return this.files.scan;
  }

  /** Damage was found while opening (each kind raised its alarm): the queue is compared with the audit trail. */
  get damaged(): boolean {
    return this.files.damaged || this.shortfall;
  }

  /**
   * Once the state is loaded: compares it with the witness, then starts witnessing and
   * admitting. Returns the sequence to resume from: never below what the witness saw
   * committed, so a number whose record damage took is not handed out again.
   */
  start(seq: number, counts: QueueCounts, keyring: StoreKeyring, sealer: RecordSealer, now: () => number): number {
    const witnessed = this.files.witnessed;
    if (witnessed !== undefined && seq < witnessed) {
      this.shortfall = true;
      markReconcileDue(this.opts.dataDir, 'fewer records than the commit witness saw');
      this.alarm({
        code: 'LABEDGE_ERR_STORE_DAMAGED',
        severity: 'error',
        message: `the store reopened at sequence ${seq}, but sequence ${witnessed} had been committed: acknowledged records are missing (a damaged or restored store); the queue is compared with the audit trail next`,
      });
    }
    const resume = Math.max(seq, witnessed ?? 0);
    this.markedSeq = resume;
    this.witness = CommitWitness.open(this.files.witnessFile, resume);
    this.keyring = keyring;
    this.sealer = sealer;
    const limits = { ...DEFAULT_LIMITS, ...this.opts.limits };
    const waiting = (): number => counts.inbound + counts.outbound;
    // The ranges records leave (queue, dead letters, expired payloads); the audit entries are not rewritten.
    const reclaim = (): Promise<void> => {
      const db = this.files.db;
      const run = (async () => {
        for (const p of [PREFIX.inbound, PREFIX.outbound, PREFIX.deadLetter, AUDIT_PREFIX.payload]) await compactRange(db, prefixRange(p));
      })();
      this.reclaiming = run.catch(() => undefined);
      return run;
    };
    this.guard = new CapacityGuard(this.files.dbDir, limits, { now, alarm: (a) => this.alarm(a), waiting, statfs: this.opts.statfs, reclaim });
    this.guard.poll();
    const guard = this.guard;
    this.files.lease.reportStatus(() => ({ ...counts, ...(guard.state.full ? { full: guard.state.full } : {}) }));
    return resume;
  }

  /** The queue has been compared with the audit trail: the comparison is no longer due, and the audit witness starts again from `head`. */
  async reconciled(head: number): Promise<void> {
    this.auditWitness?.reset(head);
    await rm(join(this.opts.dataDir, RECONCILE_DUE_FILE), { force: true });
  }

  /**
   * Once the audit trail is open: compares its head with the audit witness (a shorter trail
   * lost its last entries with a table: what they finished may be queued again), then starts
   * witnessing it. Returns the witnessed head when the trail fell short of it.
   */
  startAuditWitness(head: number): number | undefined {
    // An operator's command leaves this to the daemon: its holds append to the trail, and
    // `audit verify` must see a shortened trail as it was found.
    if (this.opts.relayAlarmsAs !== undefined) return undefined;
    const witnessed = this.files.auditWitnessed;
    const short = witnessed !== undefined && head < witnessed ? witnessed : undefined;
    if (short !== undefined) {
      this.shortfall = true;
      markReconcileDue(this.opts.dataDir, 'a shorter audit trail than its witness saw');
      this.alarm({
        code: 'LABEDGE_ERR_STORE_DAMAGED',
        severity: 'error',
        message: `the audit trail reopened at entry ${head}, but entry ${short} had been written: its last entries are lost, and records they finished may be queued again; the queue is compared with the audit trail next`,
      });
    }
    this.auditWitness = CommitWitness.open(join(this.opts.dataDir, AUDIT_WITNESS_FILE), Math.max(head, short ?? 0), 'labedge-audit-mark');
    return short;
  }

  /** The audit trail's head after a batch is on disk. */
  noteAuditHead(seq: number): void {
    this.auditWitness?.note(seq);
  }

  alarm(a: StoreAlarm): void {
    this.opts.onAlarm?.(a);
    if (this.opts.relayAlarmsAs !== undefined) relayAlarm(this.opts.dataDir, this.opts.relayAlarmsAs, a);
  }

  /**
   * A read that met a damaged table block while running (LevelDB found it, the open's checks
   * did not: damage since, or a block only a seek reaches). Said once; a note beside the store
   * makes the next start repair it (store-open.ts), whoever opens it next.
   */
  noteFailure(e: unknown): void {
    if (this.damageNoted || !isCorruption(e)) return;
    this.damageNoted = true;
    const reason = failureReason(e);
    this.alarm({
      code: 'LABEDGE_ERR_STORE_DAMAGED',
      severity: 'error',
      message: `a read met a damaged part of the store while running (${reason}); the store is kept aside and repaired at the next start: restart to do it now`,
    });
    writeFile(join(this.opts.dataDir, DAMAGE_FOUND_FILE), `${reason}\n`, { mode: 0o600 }).catch(() => undefined); // the alarm stands either way
  }

  async operatorAccess(event: OperatorAccessEvent): Promise<void> {
    await this.opts.onOperatorAccess?.(event);
  }

  /** Throws LABEDGE_ERR_STORE_FULL when a new message must be refused (synchronous). */
  admit(): void {
    this.guard?.admit();
  }

  /** The error a refused commit reports: STORE_FULL when the disk is full. */
  refusal(e: unknown): unknown {
    if (this.guard?.state.full === 'disk' || isNoSpace(e)) {
      return new LabedgeError('LABEDGE_ERR_STORE_FULL', 'the disk is full: message refused, the instrument keeps it', { cause: e });
    }
    return e;
  }

  /** Re-measures when stale, so a caller asking while full (the link layer, at each ENQ) sees space return. */
  capacity(): { full: string | undefined; bytes: number; freeDiskBytes: number } {
    this.guard?.poll();
    return this.guard?.state ?? { full: undefined, bytes: 0, freeDiskBytes: Number.POSITIVE_INFINITY };
  }

  /** The mark the next batch carries (called while the batch is built). */
  markSeq(seq: number): void {
    this.markedSeq = seq;
  }

  /** Asks the next synced batch to re-seal the m! entries under the current key; resolves when it has synced. */
  requestMetaReseal(): Promise<void> {
    return new Promise<void>((resolve, reject) => this.resealWaiters.push({ resolve, reject }));
  }

  /** The one synced write. Batches come here one at a time (group-commit.ts). */
  async writeSynced(ops: WriteOp[]): Promise<void> {
    const db = this.files.db;
    if (this.broken !== undefined) await this.reopen();
    const waiters = this.resealWaiters;
    this.resealWaiters = [];
    let all = ops;
    try {
      if (waiters.length > 0) all = [...(await this.resealMeta(ops)), ...ops];
      await writeSyncedBatch(db, all);
    } catch (e) {
      for (const w of waiters) w.reject(e);
      if (this.broken === undefined) {
        this.broken = e;
        this.guard?.noteWriteFailure(e);
        if (!isNoSpace(e)) this.alarm({ code: 'LABEDGE_ERR_STORE_COMMIT', severity: 'error', message: `a synced write failed (${failureReason(e)}); the store is reopened before the next write` });
      }
      throw e;
    }
    for (const w of waiters) w.resolve();
    this.witness?.note(this.markedSeq);
    let bytes = 0;
    let deletes = 0;
    for (const op of all) {
      if (op.type === 'put') bytes += op.key.length + op.value.length;
      else deletes += 1;
    }
    this.guard?.noteWritten(bytes);
    this.guard?.noteDeleted(deletes);
  }

  /** Waits for background work on the handle (a reclaiming compaction) before it is closed. */
  async idle(): Promise<void> {
    await this.reclaiming;
  }

  /** After the database handle closed cleanly: the next start need not check the store in a child. */
  async close(): Promise<void> {
    this.witness?.close();
    this.auditWitness?.close();
    await rm(this.files.openMarker, { force: true }).catch(() => undefined);
    for (const w of this.resealWaiters.splice(0)) w.reject(new LabedgeError('LABEDGE_ERR_STORE_COMMIT', 'the store is closed'));
    await this.files.lease.release().catch(() => undefined);
    await this.files.guard.release();
  }

  /** For a failed open after the files were opened. */
  async abort(): Promise<void> {
    await this.files.db.close().catch(() => undefined);
    await this.close();
  }

  private async reopen(): Promise<void> {
    const db = this.files.db;
    try {
      await this.reclaiming; // never close the handle under a running compaction
      if (db.status === 'open') await db.close();
      await db.open();
    } catch (e) {
      this.guard?.noteWriteFailure(e);
      throw new LabedgeError('LABEDGE_ERR_STORE_COMMIT', `the store could not be reopened after a failed write (${failureReason(e)})`, { cause: e });
    }
    const was = this.broken;
    this.broken = undefined;
    if (!isNoSpace(was)) this.alarm({ code: 'LABEDGE_ERR_STORE_COMMIT', severity: 'info', cleared: true, message: 'the store was reopened after a failed write and accepts writes again' });
  }

  /** Puts re-sealing m! entries still under an old key, except those this batch rewrites anyway. */
  private async resealMeta(ops: WriteOp[]): Promise<WriteOp[]> {
    const { keyring, sealer } = this;
    if (!keyring || !sealer) return [];
    const rewritten = new Set(ops.map((o) => o.key));
    const out: WriteOp[] = [];
    for await (const [key, value] of this.files.db.iterator(prefixRange(PREFIX.meta))) {
      const id = sealedKeyId(value);
      if (id === undefined || id === keyring.currentId || rewritten.has(key)) continue;
      try {
        out.push({ type: 'put', key, value: sealer.seal(key, sealer.open(key, value, (p) => p)) });
      } catch {
        // not ours to re-seal (plaintext marker) or damaged: left as it is
      }
    }
    return out;
  }
}
