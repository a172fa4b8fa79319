import { join } from 'node:path';
import type { Clock } from '../core/clock.js';
import { LabedgeError } from '../core/errors.js';
import { AuditLog } from '../audit/audit-log.js';
import * as auditDrafts from '../audit/audit-drafts.js';
import type { ArchivedPayload } from '../audit/audit-codec.js';
import type { AuditDraft, DeadLetterAudit, DeliverAudit, RejectAudit, TransformAudit } from '../audit/audit-types.js';
import { GroupCommitter, type GroupCommitStats, type WriteOp } from './group-commit.js';
import { KeyLocks } from './key-locks.js';
import { assertKeyFileOutside, FileKekProvider, KEY_BACKUP_FILE, openKeyring, syncKeyBackup, type KekProvider, type StoreKeyring } from './keys.js';
import { DeadLetterOps, INTEGRITY_REASON, UNKNOWN_SOURCE_ID } from './dead-letter-ops.js';
import { KeyRotation } from './key-rotation.js';
import { sweepRule, type RetentionRule, type SweepResult } from './retention.js';
import { boundPayloadArchive, type PayloadBoundResult } from './payload-bound.js';
import type { StoreInternals } from './store-internals.js';
import { StoreRuntime } from './store-runtime.js';
import * as codec from './record-codec.js';
import * as rk from './record-keys.js';
import { isIntegrityError, RecordSealer } from './record-sealer.js';
import { scanRange, type Corrupt } from './scan-range.js';
import { OutboundReads } from './outbound-reads.js';
import { describeReconcile, HELD_AFTER_DAMAGE, reconcileWithAudit, type ReconcileResult } from './reconcile.js';
import { classifyOpenFailure, failureReason, hasDataFiles, isCorruption, type StoreDb } from './store-db.js';
import { notFound } from './store-errors.js';
import { claimStoreFormat } from './store-format.js';
import { loadStoreState, type QueueCounts, type StoreState } from './store-state.js';
import type { DeadLetter, DeadLetterReason, InboundInput, InboundRecord, OutboundRecord, QueueStoreOptions } from './queue-types.js';

export type { DeadLetter, DeadLetterReason, InboundInput, InboundRecord, OutboundRecord, QueueStoreOptions } from './queue-types.js';
export type { QueueCounts } from './store-state.js';
export type { GroupCommitStats } from './group-commit.js';
export type { OperatorAccessEvent, StoreAlarm } from './queue-types.js';
export { INTEGRITY_REASON, UNKNOWN_SOURCE_ID };
export { READ_AHEAD_CHARS, readAheadFull } from './read-ahead.js';

const DEFAULT_LIMIT = 100;


function invalid(what: string): LabedgeError {
  return new LabedgeError('LABEDGE_ERR_STORE_COMMIT', `refused to store an invalid record: ${what}`);
}

const inboundSeq = (key: string): number => {
  const parsed = rk.parseKey(key);
  return parsed?.kind === 'inbound' ? parsed.seq : -1;
};

/** The raw bytes an archived payload holds for this inbound record, or why it cannot give them. */
function rawOf(key: string, body: codec.InboundBody, payload: ArchivedPayload | LabedgeError | undefined): Buffer | LabedgeError {
  if (payload === undefined || payload instanceof LabedgeError) return payload ?? new LabedgeError('LABEDGE_ERR_STORE_INTEGRITY', `the payload of ${key} is missing`);
  if (payload.sourceId !== body.sourceId || payload.receivedAt !== body.receivedAt) return new LabedgeError('LABEDGE_ERR_STORE_INTEGRITY', `the payload of ${key} belongs to another message`);
  return payload.raw;
}

function outboundBodyOf(a: Parameters<typeof codec.outboundBody>[0]): codec.OutboundBody {
  try {
    return codec.outboundBody(a);
  } catch {
    throw invalid('the bundle has no JSON form');
  }
}

/**
 * The encrypted store-and-forward queue: inbound (raw, committed before the ACK) →
 * outbound (FHIR bundle, per-source FIFO) → delivered or dead-lettered. Every value is
 * sealed with the record key as AAD; keys are opaque counters (record-keys.ts).
 */
export class QueueStore {
  private readonly locks = new KeyLocks();
  private readonly committer: GroupCommitter;
  private readonly persistedSources = new Set<number>();
  private closed = false;
  private readonly quarantineFn = (c: Corrupt): Promise<void> => this.quarantine(c);
  private dlqOps: DeadLetterOps | undefined;
  private readonly outbound: OutboundReads;
  private rotation: KeyRotation | undefined;
  /** What the helpers (dead letters, rotation, retention) may use: see store-internals.ts. */
  private readonly internals: StoreInternals;

  private constructor(
    private readonly db: StoreDb,
    private readonly sealer: RecordSealer,
    private readonly state: StoreState,
    private readonly clock: Pick<Clock, 'now'>,
    windowMs: number,
    /** The hash-chained audit trail (gateway/audit): its entries ride in the batches they record. */
    readonly audit: AuditLog,
    /** Lease, commit witness, capacity, alarms, reopen after a failed write (store-runtime.ts). */
    private readonly runtime: StoreRuntime,
    private readonly keyring: StoreKeyring,
    private readonly kek: KekProvider,
  ) {
    for (const no of state.sourceIds.keys()) this.persistedSources.add(no);
    const write = (ops: WriteOp[]): Promise<void> => audit.writeBatch(ops, (all) => runtime.writeSynced(all));
    // The high-water mark rides in every batch, so sequence numbers survive deletes and restarts.
    const mark = (): WriteOp[] => {
      runtime.markSeq(this.state.seq);
      return [{ type: 'put', key: rk.SEQ_KEY, value: this.sealer.seal(rk.SEQ_KEY, codec.encodeSeq(this.state.seq)) }];
    };
    this.committer = new GroupCommitter(write, windowMs, mark);
    audit.attach((ops) => this.committer.submit(ops));
    audit.holdPayloadsWhile((seq) => this.holdsPayload(seq));
    this.internals = {
      db,
      sealer,
      keyring,
      kek,
      state,
      locks: this.locks,
      submit: (ops) => this.committer.submit(ops),
      auditOp: (draft) => audit.op(draft),
      now: () => this.clock.now(),
      nextSeq: () => this.nextSeq(),
      sourceFor: (sourceId) => this.sourceFor(sourceId),
      markSourcePersisted: (sourceNo) => void this.persistedSources.add(sourceNo),
      requestMetaReseal: () => {
        const synced = runtime.requestMetaReseal();
        this.committer.submit([]).catch(() => undefined); // any batch carries it
        return synced;
      },
      alarm: (a) => runtime.alarm(a),
      keysChanged: () => syncKeyBackup(db, runtime.keyBackupFile),
      operatorAccess: (e) => runtime.operatorAccess(e),
      assertOpen: () => this.assertOpen(),
    };
    this.outbound = new OutboundReads(this.internals, this.quarantineFn);
  }

  /**
   * Opens the store with integrity on open and a single writer (store-open.ts): a damaged
   * store is kept aside and repaired, never silently recreated; a held store names its holder.
   */
  static async open(opts: QueueStoreOptions): Promise<QueueStore> {
    const dbDir = join(opts.dataDir, 'store');
    if (opts.mustExist && !(await hasDataFiles(dbDir))) {
      throw new LabedgeError('LABEDGE_ERR_STORE_NOT_FOUND', `no labedge store in ${opts.dataDir} (check --data-dir, or the config's dataDir)`);
    }
    // Outside the whole data directory: a copied data directory must reveal nothing.
    if (!opts.kek) assertKeyFileOutside(opts.keyFile, opts.dataDir);
    const kek = opts.kek ?? new FileKekProvider(opts.keyFile);
    return QueueStore.openFiles(opts, kek);
  }

  private static async openFiles(opts: QueueStoreOptions, kek: KekProvider, knownDamage?: string): Promise<QueueStore> {
    const runtime = await StoreRuntime.open(opts, knownDamage);
    const db = runtime.db;
    try {
      const keyBackup = join(opts.dataDir, KEY_BACKUP_FILE);
      const keyring = await openKeyring(db, kek, {
        file: keyBackup,
        restored: (ids) => runtime.alarm({ code: 'LABEDGE_ERR_STORE_DAMAGED', severity: 'error', message: `the store had lost its wrapped data keys (${ids.join(', ')}); restored from ${keyBackup}` }),
      });
      await syncKeyBackup(db, keyBackup);
      const sealer = new RecordSealer(keyring);
      await claimStoreFormat(db, sealer);
      const state = await loadStoreState(db, sealer, runtime.scan);
      const clock = opts.clock ?? { now: () => Date.now() };
      state.seq = runtime.start(state.seq, state.counts, keyring, sealer, () => clock.now());
      const audit = await AuditLog.open(db, sealer, clock);
      const auditShort = runtime.startAuditWitness(audit.currentHead().seq);
      audit.onDurable = (seq) => runtime.noteAuditHead(seq);
      const store = new QueueStore(db, sealer, state, clock, opts.groupCommitWindowMs ?? 0, audit, runtime, keyring, kek);
      if (runtime.damaged) await store.reconcile(auditShort);
      return store;
    } catch (e) {
      await runtime.abort();
      // The open's key scan reads every block in order; a seek can still find a damaged block
      // (its restart array) while the state is loaded. That is damage too: repair, then open.
      if (knownDamage === undefined && !(e instanceof LabedgeError) && classifyOpenFailure(e) === 'damaged') {
        return QueueStore.openFiles(opts, kek, `${failureReason(e)} while reading the store's state`);
      }
      throw e;
    }
  }

  /**
   * Durable: resolves only after the synced batch holding this record is on disk. `dedupe`
   * (from dedupeKey) is written, sealed, in the same batch, so a crash never keeps one without the other.
   */
  async commitInbound(input: InboundInput, dedupe?: { key: string; value: Buffer }): Promise<string> {
    this.assertOpen();
    if (typeof input.sourceId !== 'string' || input.sourceId === '') throw invalid('sourceId is empty');
    if (!Buffer.isBuffer(input.raw)) throw invalid('raw is not a Buffer');
    if (!Number.isFinite(input.receivedAt)) throw invalid('receivedAt is not a number');
    if (input.meta !== undefined && !codec.isMeta(input.meta)) throw invalid('meta values must be strings, booleans or finite numbers');
    this.runtime.admit(); // LABEDGE_ERR_STORE_FULL: refused, the instrument keeps it
    const key = rk.inboundKey(this.nextSeq());
    // The raw bytes go once, into the audit trail's payload archive (ingestOps); the inbound
    // record says where they are. Writing them twice was a third of every commit's bytes.
    const value = this.sealer.seal(key, codec.encodeInbound({ sourceId: input.sourceId, receivedAt: input.receivedAt, meta: input.meta }));
    const ops: WriteOp[] = [{ type: 'put', key, value }, ...this.audit.ingestOps(key, rk.idOfKey(key), input)];
    if (dedupe !== undefined) {
      if (!dedupe.key.startsWith(rk.PREFIX.dedupe)) throw invalid('dedupe key is not from dedupeKey()');
      ops.push({ type: 'put', key: dedupe.key, value: this.sealer.seal(dedupe.key, dedupe.value) });
    }
    await this.committer.submit(ops).catch((e: unknown) => {
      throw this.runtime.refusal(e);
    });
    this.state.counts.inbound += 1;
    return rk.idOfKey(key);
  }

  /**
   * After damage: every record the audit trail says is waiting is here, or restored, or named
   * (reconcile.ts). `auditWitnessed`: the head the trail had reached, when it reopened shorter.
   */
  private async reconcile(auditWitnessed?: number): Promise<void> {
    let r: ReconcileResult;
    try {
      r = await reconcileWithAudit({ ...this.internals, audit: this.audit, ...(auditWitnessed !== undefined && { auditWitnessed }) });
      // Held, not delivered: each may have been delivered (or mapped) in what the trail lost.
      const detail = 'the audit trail lost entries after this record waited: it may have been delivered already; check upstream, then replay it';
      for (const id of r.held) {
        if (id.startsWith('o-')) await this.deadLetterOutbound(id, { reasonCode: HELD_AFTER_DAMAGE, detail });
        else await this.rejected(id, { reasonCode: HELD_AFTER_DAMAGE, detail });
      }
    } catch (e) {
      // The store is usable; only the comparison failed. Said, not fatal.
      this.runtime.alarm({ code: 'LABEDGE_ERR_STORE_DAMAGED', severity: 'error', message: `the queue could not be compared with the audit trail after the damage (${failureReason(e)}): records may be missing` });
      return;
    }
    const found = r.restored.count > 0 || r.lost.count > 0 || r.unsure.count > 0 || r.removed.count > 0 || r.held.length > 0 || r.partial;
    this.runtime.alarm({
      code: 'LABEDGE_ERR_STORE_DAMAGED',
      severity: found ? 'error' : 'info',
      message: found ? describeReconcile(r) : `compared with the audit trail after the damage: all ${r.waiting} record(s) it says are waiting or kept are here (records the damage took together with their audit entries are beyond this comparison: see the other alarms)`,
    });
    // Said (and written to the trail) first: stopped before this line, the next open compares again.
    await this.runtime.reconciled(this.audit.currentHead().seq);
  }

  /**
   * Where a worker reports a failure it could not handle: a read that met a damaged table
   * raises the alarm and has the next start repair the store (StoreRuntime.noteFailure).
   */
  noteFailure(e: unknown): void {
    this.runtime.noteFailure(e);
  }

  /** The opaque key of an intake dedupe entry for some identifying text (a keyed MAC, never the text). */
  dedupeKey(text: string): string {
    return rk.PREFIX.dedupe + this.sealer.mac('dedupe', text);
  }

  /** Every dedupe key (keys only, nothing decrypted), so a caller can skip lookups for keys that cannot exist. */
  async dedupeKeys(): Promise<string[]> {
    this.assertOpen();
    const keys: string[] = [];
    for await (const key of this.db.keys(rk.prefixRange(rk.PREFIX.dedupe))) keys.push(key);
    return keys;
  }

  /** A dedupe entry's value, or undefined (absent, or failing authentication: then it is simply not trusted). */
  async readDedupe(key: string): Promise<Buffer | undefined> {
    this.assertOpen();
    const sealed = await this.db.get(key);
    if (sealed === undefined) return undefined;
    try {
      return this.sealer.open(key, sealed, (b) => b);
    } catch {
      return undefined;
    }
  }

  /** Deletes dedupe entries whose value `isStale` says are old (at most `limit` per call); returns how many. */
  async pruneDedupe(isStale: (value: Buffer) => boolean, limit = 10_000): Promise<number> {
    this.assertOpen();
    const stale: WriteOp[] = [];
    for await (const [key, sealed] of this.db.iterator(rk.prefixRange(rk.PREFIX.dedupe))) {
      let value: Buffer | undefined;
      try {
        value = this.sealer.open(key, sealed, (b) => b);
      } catch {
        value = undefined;
      }
      if (value === undefined || isStale(value)) stale.push({ type: 'del', key });
      if (stale.length >= limit) break;
    }
    if (stale.length > 0) await this.committer.submit(stale);
    return stale.length;
  }

  /**
   * Oldest first, raw bytes included. Corrupt values met on the way (the record, or the
   * archived payload holding its bytes) are quarantined, not returned or dropped.
   */
  async listInbound(limit = DEFAULT_LIMIT): Promise<InboundRecord[]> {
    this.assertOpen();
    const records: InboundRecord[] = [];
    const range = rk.prefixRange(rk.PREFIX.inbound);
    // A record whose payload is damaged is quarantined and the listing reads on, so a short
    // answer always means the queue has no more (the transform worker relies on it).
    for (let lower = range.gte; records.length < limit; ) {
      const found = await scanRange(this.db, { gte: lower, lt: range.lt }, limit - records.length, (key, value) => ({ key, value, body: this.sealer.open(key, value, codec.decodeInbound) }), this.quarantineFn);
      const archived = found.filter((f) => f.body.raw === undefined);
      const payloads = await this.audit.payloadsOf(archived.map((f) => inboundSeq(f.key)));
      const raws = new Map<string, Buffer | LabedgeError>();
      archived.forEach((f, i) => raws.set(f.key, rawOf(f.key, f.body, payloads[i])));
      let quarantined = 0;
      for (const { key, value, body } of found) {
        const raw = body.raw ?? raws.get(key);
        if (raw instanceof LabedgeError || raw === undefined) {
          await this.quarantine({ key, value, detail: raw?.message ?? 'no raw bytes' });
          quarantined += 1;
        } else records.push({ ...body, id: rk.idOfKey(key), raw });
      }
      const last = found.at(-1);
      if (quarantined === 0 || last === undefined) break;
      lower = `${last.key}\x00`; // just past it
    }
    return records;
  }

  /**
   * Whether the archived payload of this sequence number is an inbound record's only copy of
   * its bytes (records written before the bytes were stored once carry their own). A record
   * that does not open keeps its payload: those bytes may be all that is left of the message.
   */
  private async holdsPayload(seq: number): Promise<boolean> {
    const key = rk.inboundKey(seq);
    let value: Buffer | undefined;
    try {
      value = await this.db.get(key);
    } catch (e) {
      if (!isCorruption(e)) throw e;
      return true; // a damaged block: keep the payload, it may be all that is left
    }
    if (value === undefined) return false;
    try {
      return this.sealer.open(key, value, codec.decodeInbound).raw === undefined;
    } catch (e) {
      if (!isIntegrityError(e)) throw e;
      return true;
    }
  }

  /** An inbound record's raw bytes, from the record or from the payload archive; an integrity error when they cannot be had. */
  private async rawOfInbound(key: string, body: codec.InboundBody): Promise<Buffer> {
    if (body.raw !== undefined) return body.raw;
    const [payload] = await this.audit.payloadsOf([inboundSeq(key)]);
    const raw = rawOf(key, body, payload);
    if (raw instanceof LabedgeError) throw raw;
    return raw;
  }

  /** Atomically removes the inbound record and adds its outbound record (one synced batch). */
  async transformed(inboundId: string, result: { bundle: unknown; sourceId: string }, audit?: TransformAudit): Promise<string> {
    this.assertOpen();
    const key = rk.keyOfId(inboundId, 'inbound');
    const parsed = key === undefined ? undefined : rk.parseKey(key);
    if (key === undefined || parsed?.kind !== 'inbound') throw notFound(inboundId);
    if (typeof result.sourceId !== 'string' || result.sourceId === '') throw invalid('sourceId is empty');
    return this.locks.with(key, async () => {
      if (!(await this.db.has(key))) throw notFound(inboundId);
      const { sourceNo, ops } = this.sourceFor(result.sourceId);
      // The outbound record keeps the inbound's sequence: receive order is delivery order.
      const outKey = rk.outboundKey(sourceNo, parsed.seq);
      const body = outboundBodyOf({ sourceId: result.sourceId, inboundId, bundle: result.bundle, createdAt: this.clock.now(), attempts: 0 });
      ops.push({ type: 'del', key }, { type: 'put', key: outKey, value: this.sealer.seal(outKey, codec.encodeOutbound(body)) });
      ops.push(this.audit.op(auditDrafts.transformDraft({ inboundId, outboundId: rk.idOfKey(outKey), sourceId: result.sourceId, bundle: result.bundle, details: audit })));
      await this.committer.submit(ops);
      this.persistedSources.add(sourceNo);
      this.state.counts.inbound -= 1;
      this.state.counts.outbound += 1;
      return rk.idOfKey(outKey);
    });
  }

  /** Atomically moves an inbound record to the dead-letter queue. */
  async rejected(inboundId: string, reason: DeadLetterReason, audit?: RejectAudit): Promise<void> {
    await this.toDeadLetter(inboundId, 'inbound', reason, async (key, value) => {
      const body = this.sealer.open(key, value, codec.decodeInbound);
      return { sourceId: body.sourceId, stage: 'transform', raw: await this.rawOfInbound(key, body) };
    }, (sourceId) => auditDrafts.rejectDraft({ inboundId, sourceId, ...reason, details: audit }));
  }

  /**
   * Removes an inbound record that needs no upstream delivery, with a transform audit entry of
   * no resources, in one synced batch: an ASTM host query (Q records only), already answered on
   * the instrument's line (gateway/daemon/astm-query-responder.ts). Not a dead letter.
   */
  async handledAtLink(inboundId: string, sourceId: string, audit?: TransformAudit): Promise<void> {
    this.assertOpen();
    const key = rk.keyOfId(inboundId, 'inbound');
    if (key === undefined) throw notFound(inboundId);
    await this.locks.with(key, async () => {
      if (!(await this.db.has(key))) throw notFound(inboundId);
      const bundle = { resourceType: 'Bundle', type: 'transaction', entry: [] };
      await this.committer.submit([{ type: 'del', key }, this.audit.op(auditDrafts.transformDraft({ inboundId, outboundId: '', sourceId, bundle, details: audit }))]);
      this.state.counts.inbound -= 1;
    });
  }

  /**
   * The oldest outbound record of each source, oldest first. With `perSource` > 1, up to that
   * many of each source's oldest records (each source's in order, fewer once their bundles reach
   * READ_AHEAD_CHARS): the delivery worker reads ahead so it need not rescan after every delivery.
   */
  async outboundHeads(perSource = 1): Promise<OutboundRecord[]> {
    this.assertOpen();
    return this.outbound.heads(perSource);
  }

  /** For each source given, up to `perSource` of its records after the given one, in order (outbound-reads.ts). */
  async outboundAfter(cursors: ReadonlyMap<string, string>, perSource: number): Promise<OutboundRecord[]> {
    this.assertOpen();
    return this.outbound.after(cursors, perSource);
  }

  async delivered(outboundId: string, audit?: DeliverAudit): Promise<void> {
    this.assertOpen();
    const key = rk.keyOfId(outboundId, 'outbound');
    if (key === undefined) throw notFound(outboundId);
    await this.locks.with(key, async () => {
      if (!this.outbound.known(key) && !(await this.db.has(key))) throw notFound(outboundId);
      this.outbound.forget(key); // present or not after a failed write, it is looked up again next time
      await this.committer.submit([{ type: 'del', key }, this.audit.op(auditDrafts.deliverDraft({ outboundId, details: audit, server: this.audit.defaultServer }))]);
      this.state.counts.outbound -= 1;
    });
  }

  /** Atomically moves an outbound record to the dead-letter queue. */
  async deadLetterOutbound(outboundId: string, reason: DeadLetterReason, audit?: DeadLetterAudit): Promise<void> {
    await this.toDeadLetter(outboundId, 'outbound', reason, (key, value) => {
      const body = this.sealer.open(key, value, codec.decodeOutbound);
      return { sourceId: body.sourceId, stage: 'deliver', bundle: JSON.parse(body.bundleJson) as unknown };
    }, (sourceId) => auditDrafts.deadLetterDraft({ outboundId, ...reason, details: { sourceId, ...audit }, server: this.audit.defaultServer }));
  }

  async recordAttempt(outboundId: string): Promise<void> {
    this.assertOpen();
    const key = rk.keyOfId(outboundId, 'outbound');
    if (key === undefined) throw notFound(outboundId);
    const corrupt = await this.locks.with(key, async () => {
      const value = await this.db.get(key);
      if (value === undefined) throw notFound(outboundId);
      let body: codec.OutboundBody;
      try {
        body = this.sealer.open(key, value, codec.decodeOutbound);
      } catch (e) {
        if (!isIntegrityError(e)) throw e;
        return { key, value, detail: e.message, error: e };
      }
      body.attempts += 1;
      await this.committer.submit([{ type: 'put', key, value: this.sealer.seal(key, codec.encodeOutbound(body)) }]);
      return undefined;
    });
    if (corrupt) {
      await this.quarantine(corrupt);
      throw corrupt.error;
    }
  }

  /** Oldest first. A dead letter that fails authentication is listed as an integrity entry, raw ciphertext kept. */
  async listDeadLetters(limit = DEFAULT_LIMIT): Promise<DeadLetter[]> {
    this.assertOpen();
    return scanRange(this.db, rk.prefixRange(rk.PREFIX.deadLetter), limit, (key, value) => {
      try {
        return { id: rk.idOfKey(key), ...this.sealer.open(key, value, codec.decodeDeadLetter) };
      } catch (e) {
        if (!isIntegrityError(e)) throw e;
        return { id: rk.idOfKey(key), sourceId: UNKNOWN_SOURCE_ID, stage: 'transform', reasonCode: INTEGRITY_REASON, detail: e.message, raw: value, at: 0 };
      }
    }, this.quarantineFn);
  }

  async stats(): Promise<QueueCounts> {
    this.assertOpen();
    return { ...this.state.counts };
  }

  /** Group-commit counters (batches vs submissions), for tests and telemetry. */
  commitStats(): GroupCommitStats {
    return this.committer.stats();
  }

  /** Waits for pending commits, then releases the database lock. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.committer.close();
    await this.runtime.idle();
    await this.db.close();
    await this.runtime.close();
  }

  /** Dead-letter show / replay / purge for an authenticated operator (dead-letter-ops.ts). */
  get dlq(): DeadLetterOps {
    this.dlqOps ??= new DeadLetterOps(this.internals);
    return this.dlqOps;
  }

  /** Data-key rotation and the background re-wrap (key-rotation.ts). */
  get keyRotation(): KeyRotation {
    this.rotation ??= new KeyRotation(this.internals);
    return this.rotation;
  }

  /** One retention sweep of each rule (retention.ts); the daemon's StoreSweeper calls it. */
  async sweep(rules: readonly RetentionRule[]): Promise<SweepResult[]> {
    this.assertOpen();
    const results: SweepResult[] = [];
    for (const rule of rules) results.push(await sweepRule(this.internals, rule, this.clock.now()));
    return results;
  }

  /** Deletes the oldest archived payloads while the archive is over `maxBytes` (payload-bound.ts). */
  async boundPayloads(maxBytes: number): Promise<PayloadBoundResult> {
    this.assertOpen();
    return boundPayloadArchive(this.internals, this.audit, maxBytes);
  }

  /** Whether new messages are being refused, and why; sizes as last measured. */
  capacity(): { full: string | undefined; bytes: number; freeDiskBytes: number } {
    return this.runtime.capacity();
  }

  private assertOpen(): void {
    if (this.closed) throw new LabedgeError('LABEDGE_ERR_STORE_COMMIT', 'the store is closed');
  }

  private nextSeq(): number {
    this.state.seq += 1;
    return this.state.seq;
  }

  /** The source's number, allocating one if new; ops carry its table entry until a batch with it has synced. */
  private sourceFor(sourceId: string): { sourceNo: number; ops: WriteOp[] } {
    let sourceNo = this.state.sourceNos.get(sourceId);
    if (sourceNo === undefined) {
      sourceNo = Math.max(0, ...this.state.sourceIds.keys()) + 1;
      if (sourceNo > rk.MAX_SOURCE_NO) throw invalid('too many sources');
      this.state.sourceNos.set(sourceId, sourceNo);
      this.state.sourceIds.set(sourceNo, sourceId);
    }
    if (this.persistedSources.has(sourceNo)) return { sourceNo, ops: [] };
    const key = rk.sourceKey(sourceNo);
    return { sourceNo, ops: [{ type: 'put', key, value: this.sealer.seal(key, codec.encodeSource(sourceId)) }] };
  }

  private async toDeadLetter(
    id: string,
    kind: 'inbound' | 'outbound',
    reason: DeadLetterReason,
    describe: (key: string, value: Buffer) => Pick<DeadLetter, 'sourceId' | 'stage' | 'raw' | 'bundle'> | Promise<Pick<DeadLetter, 'sourceId' | 'stage' | 'raw' | 'bundle'>>,
    auditDraft: (sourceId: string) => AuditDraft,
  ): Promise<void> {
    this.assertOpen();
    const key = rk.keyOfId(id, kind);
    if (key === undefined) throw notFound(id);
    if (typeof reason.reasonCode !== 'string' || reason.reasonCode === '') throw invalid('reasonCode is empty');
    await this.locks.with(key, async () => {
      const value = await this.db.get(key);
      if (value === undefined) throw notFound(id);
      let body: codec.DeadLetterBody;
      try {
        body = { ...(await describe(key, value)), originId: id, reasonCode: reason.reasonCode, at: this.clock.now() };
        if (reason.detail !== undefined) body.detail = reason.detail;
      } catch (e) {
        if (!isIntegrityError(e)) throw e;
        body = this.integrityBody(key, value, e.message);
        this.runtime.alarm({ code: 'LABEDGE_ERR_STORE_INTEGRITY', severity: 'error', message: `${e.message}: quarantined as a dead letter` });
      }
      await this.moveToDeadLetter(key, body, body.reasonCode === INTEGRITY_REASON ? undefined : auditDraft(body.sourceId));
    });
  }

  private integrityBody(key: string, value: Buffer, detail: string): codec.DeadLetterBody {
    const parsed = rk.parseKey(key);
    const sourceId = parsed?.kind === 'outbound' ? (this.state.sourceIds.get(parsed.sourceNo) ?? UNKNOWN_SOURCE_ID) : UNKNOWN_SOURCE_ID;
    const stage = parsed?.kind === 'outbound' ? 'deliver' : 'transform';
    return { sourceId, stage, reasonCode: INTEGRITY_REASON, detail, raw: value, at: this.clock.now() };
  }

  /** Caller holds the key's lock. */
  private async moveToDeadLetter(key: string, body: codec.DeadLetterBody, auditDraft?: AuditDraft): Promise<void> {
    const dlKey = rk.deadLetterKey(this.nextSeq());
    const value = this.sealer.seal(dlKey, codec.encodeDeadLetter(body));
    const draft = auditDraft ?? auditDrafts.integrityDraft(rk.idOfKey(key), body.detail ?? INTEGRITY_REASON);
    this.outbound.forget(key); // whatever becomes of the write, it is looked up again next time
    await this.committer.submit([{ type: 'del', key }, { type: 'put', key: dlKey, value }, this.audit.op(auditDrafts.withDeadLetterId(draft, rk.idOfKey(dlKey)))]);
    const kind = rk.parseKey(key)?.kind;
    if (kind === 'inbound') this.state.counts.inbound -= 1;
    if (kind === 'outbound') this.state.counts.outbound -= 1;
    this.state.counts.deadLetter += 1;
  }

  /** Moves a value that failed authentication to the dead-letter queue, ciphertext kept, unless it changed meanwhile. */
  private async quarantine({ key, value: seen, detail }: Corrupt): Promise<void> {
    await this.locks.with(key, async () => {
      const value = await this.db.get(key);
      if (value === undefined || !value.equals(seen)) return;
      await this.moveToDeadLetter(key, this.integrityBody(key, value, detail));
      this.runtime.alarm({ code: 'LABEDGE_ERR_STORE_INTEGRITY', severity: 'error', message: `${detail}: quarantined as a dead letter` });
    });
  }
}
