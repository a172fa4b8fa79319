/**
 * One HL7 v2 instrument: an MLLP listener (TLS, or plaintext when the profile opts in) or a serial
 * line (MLLP-framed or not) → one Hl7Session per connection → durable commit → ACK.
 * AA/CA only after the synced commit (invariant 1); AE/CE when the store cannot commit; a message
 * that cannot be accepted is committed for quarantine and rejected (AR/CR) (invariant 7).
 *
 * Duplicates: a message with the same sender (MSH-3/4), MSH-10 and bytes as one already stored is
 * acknowledged again and not stored twice; the same MSH-10 with other bytes is stored and flagged
 * (`meta.controlIdReused`). The dedupe index lives in the store (h! entries, keyed by a MAC of the
 * identity, written in the same batch as the message) and forgets entries after `dedupeWindowMs`.
 */
import { readFileSync } from 'node:fs';
import { SerialLine } from '../../hardware/serial-line.js';
import { MllpListener, type MllpConnection, type MllpConnectionHandler } from '../../hardware/mllp-listener.js';
import { systemClock, type Clock } from '../core/clock.js';
import { describeError, LabedgeError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Hl7InstrumentConfig } from '../hl7/hl7-instrument-config.js';
import { Hl7Session, type CommitResult, type SessionEvent } from '../hl7/hl7-session.js';
import { dedupeText, type IntakeItem } from '../hl7/intake.js';
import type { QueueStore } from '../store/queue-store.js';
import { hl7Profile } from '../profiles/hl7-profile.js';
import type { DaemonEventSink } from './events.js';

const DAY = 24 * 60 * 60 * 1000;
/** Unacknowledged frames per connection before reading pauses. */
const MAX_PENDING = 64;

interface DedupeEntry {
  /** SHA-256 digests of the bodies stored under this identity, newest first. */
  d: string[];
  at: number;
}

export interface Hl7ChannelDeps {
  store: QueueStore;
  events: DaemonEventSink;
  logger: Logger;
  onCommitted: () => void;
  clock?: Clock;
  /** How long duplicate detection remembers a control id (default 7 days). */
  dedupeWindowMs?: number;
}

export class Hl7Channel {
  private readonly clock: Clock;
  private listener: MllpListener | undefined;
  private serial: SerialLine | undefined;
  private serialSession: Hl7Session | undefined;
  private readonly sessions = new Set<Hl7Session>();
  private readonly locks = new Map<string, Promise<unknown>>();
  private ackSeq = 0;
  private pruneTimer: NodeJS.Timeout | undefined;
  /**
   * Which dedupe keys exist (52-bit tags of them), loaded at start: a message whose key is not
   * here needs no store lookup. A tag collision only costs a lookup that finds nothing.
   */
  private known = new Set<number>();
  private reloading: number[] | undefined;

  constructor(
    readonly instrument: Hl7InstrumentConfig,
    private readonly deps: Hl7ChannelDeps,
  ) {
    this.clock = deps.clock ?? systemClock();
    const t = instrument.transport;
    if (t.type === 'mllp') {
      this.listener = new MllpListener({
        name: instrument.id,
        host: t.host,
        port: t.port,
        ...(t.tls
          ? {
              tls: {
                cert: readTlsFile(instrument.id, t.tls.certFile),
                key: readTlsFile(instrument.id, t.tls.keyFile),
                ca: readTlsFile(instrument.id, t.tls.caFile),
                ...(t.tls.pinnedFingerprints ? { pinnedFingerprints: t.tls.pinnedFingerprints } : {}),
              },
            }
          : {}),
        ...(t.allowPlaintext ? { allowPlaintext: true } : {}),
        ...(t.maxConnections !== undefined ? { maxConnections: t.maxConnections } : {}),
        logger: deps.logger,
        onConnection: (conn) => this.connect(conn),
      });
      this.listener.on('refused', ({ reason }) => deps.events.emit('link', { sourceId: instrument.id, kind: 'hl7-refused', detail: reason }));
    } else {
      const { type: _type, framing: _framing, idleMs: _idle, maxFrameBytes: _max, openFrameTimeoutMs: _open, release2: _r2, ...settings } = t;
      const serial = new SerialLine(settings, { logger: deps.logger });
      this.serial = serial;
      serial.on('data', (chunk) => this.serialSession?.consume(chunk));
      // A reopened port starts afresh: a half-received frame went with the old one.
      serial.on('open', () => {
        if (this.serialSession) void this.retire(this.serialSession);
        this.serialSession = this.newSession((b) => serial.write(b));
      });
    }
  }

  /** The listener's bound port (MLLP transports). */
  get port(): number | undefined {
    return this.listener?.port;
  }

  /** True for TLS listeners and serial lines; false for an opted-in plaintext listener. */
  get secure(): boolean {
    return this.listener?.secure ?? true;
  }

  async start(): Promise<void> {
    const id = this.instrument.id;
    await this.reloadKnown();
    this.pruneTimer = setInterval(() => void this.prune(), 60 * 60 * 1000);
    this.pruneTimer.unref();
    if (this.listener) {
      const port = await this.listener.start();
      this.deps.events.emit('link', { sourceId: id, kind: 'hl7-listening', detail: `${this.listener.secure ? 'mllp+tls' : 'mllp-plaintext'}:${port}` });
    } else this.serial?.start();
  }

  async stop(): Promise<void> {
    clearInterval(this.pruneTimer);
    await this.listener?.stop();
    await this.serial?.stop();
    await Promise.all([...this.sessions].map((s) => s.close()));
  }

  /** Deletes dedupe entries older than the window. */
  async prune(): Promise<number> {
    const horizon = this.clock.now() - (this.deps.dedupeWindowMs ?? 7 * DAY);
    try {
      const deleted = await this.deps.store.pruneDedupe((v) => {
        const e = parseEntry(v);
        return e === undefined || e.at < horizon;
      });
      if (deleted > 0) await this.reloadKnown();
      return deleted;
    } catch (e) {
      this.deps.logger.warn({ sourceId: this.instrument.id, err: describeError(e) }, 'HL7 dedupe prune failed');
      return 0;
    }
  }

  /** Rebuilds the set of existing dedupe keys; keys committed meanwhile are kept. */
  private async reloadKnown(): Promise<void> {
    this.reloading = [];
    try {
      const next = new Set((await this.deps.store.dedupeKeys()).map(tagOf));
      for (const t of this.reloading) next.add(t);
      this.known = next;
    } finally {
      this.reloading = undefined;
    }
  }

  private connect(conn: MllpConnection): MllpConnectionHandler {
    let paused = false;
    const session = this.newSession((b) => conn.write(b), () => {
      if (paused && session.pending < MAX_PENDING / 2) {
        paused = false;
        conn.resume();
      }
    });
    this.deps.events.emit('link', { sourceId: this.instrument.id, kind: 'hl7-connected', detail: conn.secure ? 'tls' : 'plaintext' });
    return {
      data: (chunk) => {
        session.consume(chunk);
        if (!paused && session.pending >= MAX_PENDING) {
          paused = true;
          conn.pause();
        }
      },
      end: () => void this.retire(session),
    };
  }

  private async retire(session: Hl7Session): Promise<void> {
    await session.close();
    this.sessions.delete(session);
  }

  private newSession(write: (b: Buffer) => void, afterAck?: () => void): Hl7Session {
    const t = this.instrument.transport;
    const session = new Hl7Session({
      clock: this.clock,
      framing: t.type === 'serial' ? t.framing : 'mllp',
      ...(t.release2 ? { release2: true } : {}),
      ...(t.maxFrameBytes !== undefined ? { maxFrameBytes: t.maxFrameBytes } : {}),
      ...(t.openFrameTimeoutMs !== undefined ? { openFrameTimeoutMs: t.openFrameTimeoutMs } : {}),
      ...(t.type === 'serial' && t.idleMs !== undefined ? { idleMs: t.idleMs } : {}),
      ...(this.instrument.encoding !== 'auto' ? { charset: this.instrument.encoding } : {}),
      ...(hl7Profile(this.instrument).crOnly === true ? { crOnly: true } : {}),
      write,
      commit: (item) => this.commit(item),
      ackControlId: () => `LE${this.clock.now().toString(36)}${(++this.ackSeq).toString(36)}`,
      onEvent: (e) => {
        this.report(e);
        if (e.kind === 'ack') afterAck?.();
      },
    });
    this.sessions.add(session);
    return session;
  }

  private report(e: SessionEvent): void {
    const sourceId = this.instrument.id;
    if (e.kind === 'framing') this.deps.events.emit('link', { sourceId, kind: `mllp-${e.detail}`, ...(e.bytes !== undefined ? { detail: `${e.bytes} bytes` } : {}) });
    else this.deps.events.emit('link', { sourceId, kind: 'hl7-ack', detail: `${e.code}${e.applicationCode ? `+${e.applicationCode}` : ''}${e.duplicate ? ' duplicate' : ''}${e.reason === 'oversize' ? ' oversize' : ''}` });
  }

  /** Stores one intake item durably; resolves only after the synced commit (or with ok: false). */
  private async commit(item: IntakeItem): Promise<CommitResult> {
    const sourceId = this.instrument.id;
    const m = item.message;
    const meta: Record<string, string | number | boolean> = { protocol: 'hl7' };
    if (m) {
      meta.messageType = m.messageType;
      meta.triggerEvent = m.triggerEvent;
      meta.version = m.version;
      meta.charset = m.charset;
    }
    if (item.rejection) {
      meta.rejected = item.rejection.condition.code;
      if (item.rejection.segment) meta.rejectedAt = `${item.rejection.segment}${item.rejection.field !== undefined ? `-${item.rejection.field}` : ''}`;
    }
    const input = { sourceId, raw: item.raw, receivedAt: this.clock.now(), meta };
    try {
      if (item.rejection !== undefined || m === undefined) {
        const id = await this.deps.store.commitInbound(input);
        this.committed(id, item.raw.length);
        return { ok: true, id, duplicate: false };
      }
      const key = this.deps.store.dedupeKey(dedupeText(sourceId, item.header));
      return await this.serialised(key, async () => {
        const prev = this.known.has(tagOf(key)) ? parseEntry(await this.deps.store.readDedupe(key)) : undefined;
        if (prev?.d.includes(item.digest)) return { ok: true, id: '', duplicate: true };
        if (prev) meta.controlIdReused = true;
        const entry: DedupeEntry = { d: [item.digest, ...(prev?.d ?? [])].slice(0, 8), at: this.clock.now() };
        const id = await this.deps.store.commitInbound(input, { key, value: Buffer.from(JSON.stringify(entry)) });
        this.known.add(tagOf(key));
        this.reloading?.push(tagOf(key));
        this.committed(id, item.raw.length);
        return { ok: true, id, duplicate: false };
      });
    } catch (e) {
      const reason = describeError(e);
      this.deps.logger.error({ sourceId, err: reason }, 'commit failed: HL7 message refused (AE/CE), the sender keeps it');
      this.deps.events.emit('ingest-refused', { sourceId, reason });
      return { ok: false, reason };
    }
  }

  private committed(id: string, bytes: number): void {
    this.deps.events.emit('ingested', { sourceId: this.instrument.id, id, bytes, complete: true });
    this.deps.onCommitted();
  }

  /** Runs `work` after any earlier work on the same dedupe key (two connections, one message). */
  private async serialised<T>(key: string, work: () => Promise<T>): Promise<T> {
    const before = this.locks.get(key) ?? Promise.resolve();
    const run = before.then(work, work);
    const settled = run.then(() => undefined, () => undefined);
    this.locks.set(key, settled);
    try {
      return await run;
    } finally {
      if (this.locks.get(key) === settled) this.locks.delete(key);
    }
  }
}

function readTlsFile(instrumentId: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new LabedgeError('LABEDGE_ERR_CONFIG', `instrument ${instrumentId}: cannot read MLLP TLS file ${path} (${(e as NodeJS.ErrnoException).code ?? 'error'})`, { cause: e });
  }
}

const tagOf = (key: string): number => Number.parseInt(key.slice(-13), 16);

function parseEntry(v: Buffer | undefined): DedupeEntry | undefined {
  if (v === undefined) return undefined;
  try {
    const e = JSON.parse(v.toString('utf8')) as Partial<DedupeEntry>;
    if (Array.isArray(e.d) && e.d.every((x) => typeof x === 'string') && typeof e.at === 'number') return { d: e.d, at: e.at };
  } catch {
    // fall through: not trusted
  }
  return undefined;
}
