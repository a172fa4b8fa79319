import type { Clock } from '../core/clock.js';
import { LabedgeError } from '../core/errors.js';
import type { WriteOp } from '../store/group-commit.js';
import { isIntegrityError, type RecordSealer } from '../store/record-sealer.js';
import { isCorruption, type StoreDb } from '../store/store-db.js';
import { buildEntry, decodeEntry, decodeHead, decodePayload, encodeHead, encodePayload, type ArchivedPayload, type DecodeResult } from './audit-codec.js';
import * as ak from './audit-keys.js';
import { ingestDraft } from './audit-drafts.js';
import { decodeCheckpoint, encodeCheckpoint } from './checkpoint.js';
import { messageDigest } from './message-digest.js';
import { GENESIS_HASH, type AuditCheckpoint, type AuditDraft, type AuditEntry, type AuditHead } from './audit-types.js';

/** Submits ops through the store's group committer (one synced batch, shared). */
export type Submit = (ops: WriteOp[]) => Promise<void>;
/** Writes one batch (the committer's synced LevelDB batch). */
export type BatchWrite = (ops: WriteOp[]) => Promise<void>;

/** Opened entry bytes, or why they could not be opened. */
export type OpenedEntry = DecodeResult | { ok: false; reason: 'authentication'; detail: string };

const PENDING_KEY = 'a!pending';

const damagedBlock = (key: string): LabedgeError => new LabedgeError('LABEDGE_ERR_STORE_INTEGRITY', `stored value at ${key} is in a damaged block`);
const EMPTY = Buffer.alloc(0);

/**
 * The append-only, hash-chained audit log inside the store.
 *
 * Callers never pick a seq or a prev hash. They add a placeholder op (`op(draft)`) to the
 * ops of the state change being audited; when the group committer writes the batch,
 * `writeBatch` turns the placeholders into sealed entries in batch order, chaining each to
 * the one before. Batches are written one at a time, so chain order is batch order, and
 * the in-memory head advances only after the synced write succeeded: a failed batch leaves
 * no trace in the chain. An entry is therefore on disk exactly when the change it records is.
 */
export class AuditLog {
  private readonly drafts = new WeakMap<WriteOp, AuditDraft>();
  private readonly built = new WeakMap<WriteOp, AuditEntry>();
  private writing: Promise<unknown> = Promise.resolve();
  private submitFn: Submit | undefined;
  private server: string | undefined;
  private inUse: (inboundSeq: number) => Promise<boolean> = () => Promise.resolve(false);

  private constructor(
    private readonly db: StoreDb,
    private readonly sealer: RecordSealer,
    private readonly clock: Pick<Clock, 'now'>,
    private head: AuditHead,
    /** PHI-free notes about what was found on open (an unreadable last entry, a head mark ahead of the chain). */
    readonly startupIssues: readonly string[],
  ) {}

  static async open(db: StoreDb, sealer: RecordSealer, clock: Pick<Clock, 'now'>): Promise<AuditLog> {
    const issues: string[] = [];
    let head: AuditHead = { seq: 0, hash: GENESIS_HASH };
    const [last] = await db.iterator({ ...ak.auditRange(ak.AUDIT_PREFIX.entry), reverse: true, limit: 1 }).all();
    if (last) {
      const [key, value] = last;
      const seq = ak.seqOfKey(key, ak.AUDIT_PREFIX.entry);
      const opened = openEntryWith(sealer, key, value);
      if (seq !== undefined && opened.ok && opened.entry.seq === seq) head = { seq, hash: opened.entry.hash };
      else {
        // Keep appending after whatever is there; `audit verify` names the damage.
        head = { seq: seq ?? 0, hash: messageDigest(value) };
        issues.push(`the last audit entry (${key}) cannot be read; appending after it`);
      }
    }
    const markValue = await db.get(ak.AUDIT_HEAD_KEY);
    if (markValue !== undefined) {
      let mark: AuditHead | undefined;
      try {
        mark = sealer.open(ak.AUDIT_HEAD_KEY, markValue, decodeHead);
      } catch (e) {
        if (!isIntegrityError(e)) throw e;
      }
      if (!mark) issues.push('the audit head mark cannot be read');
      else if (mark.seq > head.seq) issues.push(`the audit chain ends at seq ${head.seq} but its head mark says ${mark.seq}: entries are missing`);
    } else if (head.seq > 0) issues.push('the audit head mark is missing');
    return new AuditLog(db, sealer, clock, head, issues);
  }

  /** The store's committer; `append` and standalone writes go through it. */
  /** Told the head's seq after each batch that wrote entries is on disk (the store's audit witness). */
  onDurable: ((seq: number) => void) | undefined;

  attach(submit: Submit): void {
    this.submitFn = submit;
  }

  /** The upstream server named in deliver entries when the worker does not say. */
  setServer(server: string): void {
    this.server = server;
  }

  get defaultServer(): string | undefined {
    return this.server;
  }

  /** The last durable entry. */
  currentHead(): AuditHead {
    return { ...this.head };
  }

  /** A placeholder op: becomes a sealed, chained entry when its batch is written. */
  op(draft: AuditDraft): WriteOp {
    const op: WriteOp = { type: 'put', key: PENDING_KEY, value: EMPTY };
    this.drafts.set(op, draft);
    return op;
  }

  /** Ops for a new inbound record: the archived raw payload and the `ingest` entry. */
  ingestOps(inboundKey: string, inboundId: string, input: { sourceId: string; raw: Buffer; receivedAt: number; meta?: Record<string, string | number | boolean> }): WriteOp[] {
    const seq = parseInt(inboundKey.slice(inboundKey.indexOf('!') + 1), 16);
    const key = ak.payloadKey(seq);
    const digest = messageDigest(input.raw);
    const value = this.sealer.seal(key, encodePayload({ sourceId: input.sourceId, receivedAt: input.receivedAt, digest, raw: input.raw }));
    const draft = ingestDraft({ inboundId, sourceId: input.sourceId, digest, bytes: input.raw.length, receivedAt: input.receivedAt, meta: input.meta, payloadRef: ak.payloadRef(key) });
    return [{ type: 'put', key, value }, this.op(draft)];
  }

  /**
   * The store's batch writer wraps this: placeholders become entries (in order), the head
   * mark rides last, and the head advances only once `write` has succeeded.
   */
  writeBatch(ops: WriteOp[], write: BatchWrite): Promise<void> {
    const run = this.writing.then(async () => {
      let head = this.head;
      const made: Array<[WriteOp, AuditEntry]> = [];
      const out = ops.map((op): WriteOp => {
        const draft = this.drafts.get(op);
        if (!draft) {
          if (op.key === PENDING_KEY) throw new LabedgeError('LABEDGE_ERR_AUDIT', 'an audit placeholder was written twice');
          return op;
        }
        const { entry, plain } = buildEntry(head, draft, this.clock.now());
        head = { seq: entry.seq, hash: entry.hash };
        made.push([op, entry]);
        const key = ak.entryKey(entry.seq);
        return { type: 'put', key, value: this.sealer.seal(key, plain) };
      });
      if (made.length > 0) out.push({ type: 'put', key: ak.AUDIT_HEAD_KEY, value: this.sealer.seal(ak.AUDIT_HEAD_KEY, encodeHead(head)) });
      await write(out);
      this.head = head;
      if (made.length > 0) this.onDurable?.(head.seq);
      for (const [op, entry] of made) {
        this.drafts.delete(op);
        this.built.set(op, entry);
      }
    });
    this.writing = run.catch(() => undefined);
    return run;
  }

  /** Appends one operator or security event in its own (group-committed) batch. */
  async append(draft: AuditDraft, extraOps: WriteOp[] = []): Promise<AuditEntry> {
    const op = this.op(draft);
    await this.submit([...extraOps, op]);
    const entry = this.built.get(op);
    if (!entry) throw new LabedgeError('LABEDGE_ERR_AUDIT', 'an audit entry was not written');
    return entry;
  }

  /** Commits ops through the store (for retention and checkpoints). */
  submit(ops: WriteOp[]): Promise<void> {
    if (!this.submitFn) return Promise.reject(new LabedgeError('LABEDGE_ERR_AUDIT', 'the audit log is not attached to a store'));
    return this.submitFn(ops);
  }

  /**
   * Appends many entries in one batch written straight to LevelDB (synced), bypassing the
   * committer's window: for bulk tests and benchmarks. Ordered after any batch in flight.
   */
  async appendBulk(drafts: AuditDraft[]): Promise<void> {
    await this.writeBatch(drafts.map((d) => this.op(d)), (ops) => this.db.batch(ops, { sync: true }));
  }

  // ---- reading -------------------------------------------------------------------------

  /** Raw entries in key order, streamed (never all at once). Unexpected keys in the range are yielded too. */
  async *rawEntries(fromSeq?: number): AsyncGenerator<[string, Buffer]> {
    const it = this.db.iterator(ak.auditRange(ak.AUDIT_PREFIX.entry, fromSeq));
    try {
      for (;;) {
        const chunk = await it.nextv(1000);
        if (chunk.length === 0) return;
        for (const kv of chunk) yield kv;
      }
    } finally {
      await it.close();
    }
  }

  openEntry(key: string, value: Buffer): OpenedEntry {
    return openEntryWith(this.sealer, key, value);
  }

  /** One entry by seq: undefined when absent, the failure when it cannot be opened. */
  async getEntry(seq: number): Promise<OpenedEntry | undefined> {
    const key = ak.entryKey(seq);
    const value = await this.db.get(key);
    return value === undefined ? undefined : this.openEntry(key, value);
  }

  /** Decoded entries from `fromSeq` on; unreadable ones are skipped (`audit verify` reports them). */
  async *entries(fromSeq?: number): AsyncGenerator<AuditEntry> {
    for await (const [key, value] of this.rawEntries(fromSeq)) {
      const opened = this.openEntry(key, value);
      if (opened.ok) yield opened.entry;
    }
  }

  async readHeadMark(): Promise<AuditHead | 'unreadable' | undefined> {
    const value = await this.db.get(ak.AUDIT_HEAD_KEY);
    if (value === undefined) return undefined;
    try {
      return this.sealer.open(ak.AUDIT_HEAD_KEY, value, decodeHead);
    } catch (e) {
      if (!isIntegrityError(e)) throw e;
      return 'unreadable';
    }
  }

  /**
   * The queue keeps a message's raw bytes only here until it is transformed (its inbound record
   * points at the payload of the same sequence number); `inUse` tells retention which payloads
   * are such a copy, which expiry and the size bound must not delete.
   */
  holdPayloadsWhile(inUse: (inboundSeq: number) => Promise<boolean>): void {
    this.inUse = inUse;
  }

  /** Whether the payload at `key` is still an inbound record's only copy of its bytes. */
  async payloadInUse(key: string): Promise<boolean> {
    const seq = ak.seqOfKey(key, ak.AUDIT_PREFIX.payload);
    return seq !== undefined && (await this.inUse(seq));
  }

  /**
   * The archived payloads of these inbound sequence numbers, in one read: each opened, or a
   * LABEDGE_ERR_STORE_INTEGRITY error (it failed authentication, or it is gone).
   */
  async payloadsOf(inboundSeqs: readonly number[]): Promise<Array<ArchivedPayload | LabedgeError>> {
    if (inboundSeqs.length === 0) return [];
    const keys = inboundSeqs.map(ak.payloadKey);
    let values: Array<Buffer | undefined | LabedgeError>;
    try {
      values = await this.db.getMany(keys);
    } catch (e) {
      if (!isCorruption(e)) throw e;
      // One damaged table block fails the whole read (an iterator would skip it): read them one
      // by one, so that only the values in the damaged block count as damaged.
      values = await Promise.all(keys.map((key) => this.db.get(key).catch((err: unknown) => (isCorruption(err) ? damagedBlock(key) : Promise.reject(err)))));
    }
    return keys.map((key, i) => {
      const value = values[i];
      if (value instanceof LabedgeError) return value;
      if (value === undefined) return new LabedgeError('LABEDGE_ERR_STORE_INTEGRITY', `stored value at ${key} is missing`);
      try {
        return this.sealer.open(key, value, decodePayload);
      } catch (e) {
        if (!isIntegrityError(e)) throw e;
        return e;
      }
    });
  }

  async readPayload(ref: string): Promise<ArchivedPayload | 'expired' | 'unreadable'> {
    const key = ak.payloadKeyOfRef(ref);
    if (!key) return 'expired';
    let value: Buffer | undefined;
    try {
      value = await this.db.get(key);
    } catch (e) {
      if (!isCorruption(e)) throw e;
      return 'unreadable';
    }
    if (value === undefined) return 'expired';
    try {
      return this.sealer.open(key, value, decodePayload);
    } catch (e) {
      if (!isIntegrityError(e)) throw e;
      return 'unreadable';
    }
  }

  /** Archived payloads, oldest first: key, and the header (raw included). Unreadable ones are yielded as undefined. */
  async *payloads(): AsyncGenerator<[string, ArchivedPayload | undefined]> {
    for await (const [key, value] of this.db.iterator(ak.auditRange(ak.AUDIT_PREFIX.payload))) {
      let p: ArchivedPayload | undefined;
      try {
        p = this.sealer.open(key, value, decodePayload);
      } catch (e) {
        if (!isIntegrityError(e)) throw e;
      }
      yield [key, p];
    }
  }

  /** Stored checkpoints in seq order; an unreadable one is yielded with its key. */
  async *checkpoints(): AsyncGenerator<{ key: string; checkpoint?: AuditCheckpoint }> {
    for await (const [key, value] of this.db.iterator(ak.auditRange(ak.AUDIT_PREFIX.checkpoint))) {
      let checkpoint: AuditCheckpoint | undefined;
      try {
        checkpoint = this.sealer.open(key, value, decodeCheckpoint);
      } catch (e) {
        if (!isIntegrityError(e)) throw e;
      }
      yield checkpoint ? { key, checkpoint } : { key };
    }
  }

  async latestCheckpoint(): Promise<AuditCheckpoint | undefined> {
    const [last] = await this.db.iterator({ ...ak.auditRange(ak.AUDIT_PREFIX.checkpoint), reverse: true, limit: 1 }).all();
    if (!last) return undefined;
    try {
      return this.sealer.open(last[0], last[1], decodeCheckpoint);
    } catch (e) {
      if (!isIntegrityError(e)) throw e;
      return undefined;
    }
  }

  async saveCheckpoint(cp: AuditCheckpoint): Promise<void> {
    const key = ak.checkpointKey(cp.seq);
    await this.submit([{ type: 'put', key, value: this.sealer.seal(key, encodeCheckpoint(cp)) }]);
  }

  async readConfigMark(): Promise<string | undefined> {
    const value = await this.db.get(ak.AUDIT_CONFIG_KEY);
    if (value === undefined) return undefined;
    try {
      return this.sealer.open(ak.AUDIT_CONFIG_KEY, value, (p) => p.toString('utf8'));
    } catch (e) {
      if (!isIntegrityError(e)) throw e;
      return undefined;
    }
  }

  configMarkOp(digest: string): WriteOp {
    return { type: 'put', key: ak.AUDIT_CONFIG_KEY, value: this.sealer.seal(ak.AUDIT_CONFIG_KEY, Buffer.from(digest, 'utf8')) };
  }
}

function openEntryWith(sealer: RecordSealer, key: string, value: Buffer): OpenedEntry {
  let plain: Buffer;
  try {
    plain = sealer.open(key, value, (p) => p);
  } catch (e) {
    if (!isIntegrityError(e)) throw e;
    return { ok: false, reason: 'authentication', detail: e.message };
  }
  return decodeEntry(plain);
}
