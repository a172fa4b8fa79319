import { SerialLine } from '../../hardware/serial-line.js';
import { TcpLine } from '../../hardware/tcp-line.js';
import { TcpClientLine } from '../../hardware/tcp-client-line.js';
import type { ByteLine } from '../../hardware/byte-line.js';
import { AstmLine, type LineMessage } from '../astm/astm-line.js';
import type { SettleFn } from '../astm/e1381-receiver.js';
import type { LinkEvent } from '../astm/link-events.js';
import { decodeText } from '../astm/text-decode.js';
import type { QueueStore } from '../store/queue-store.js';
import type { InstrumentConfig } from '../config/config.js';
import { systemClock, type Clock } from '../core/clock.js';
import { describeError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { FhirSearch } from '../uplink/fhir-search.js';
import { findAdapter } from '../profiles/adapters/registry.js';
import { instrumentProfile } from '../profiles/instrument-profile.js';
import { mappingProfile } from '../profiles/prepare-inbound.js';
import type { InstrumentProfile } from '../profiles/profile-types.js';
import type { DaemonEventSink } from './events.js';
import { AstmQueryResponder } from './astm-query-responder.js';
import { AstmOrderPush } from './astm-order-push.js';

export interface InstrumentChannelDeps {
  store: QueueStore;
  events: DaemonEventSink;
  logger: Logger;
  onCommitted: () => void;
  /** Upstream FHIR searches (host queries, order push); without it queries get "no information". */
  search?: FhirSearch;
  /** The box's name in the headers of messages it sends (default `labedge`). */
  hostName?: string;
  clock?: Clock;
}

/** Link events worth reporting: everything but the session boundaries and successful sends. */
const QUIET = new Set<LinkEvent['kind']>(['session-start', 'session-end', 'sent']);

/**
 * One ASTM instrument on one line (serial, TCP server or TCP client), driven by its instrument
 * profile: bytes → AstmLine (E1381 link both ways, raw records, or a payload adapter) → durable
 * commit → ACK. The final frame of a message is acknowledged only after its synced write
 * (invariant 1); if the store cannot commit, the frame is NAKed and the instrument keeps the
 * data; while the store refuses commits, ENQ is answered with NAK (busy).
 *
 * Host queries are committed like any message, then answered on the same line (the box as
 * sender) by AstmQueryResponder; in push mode AstmOrderPush downloads new orders unasked.
 */
export class InstrumentChannel {
  readonly profile: InstrumentProfile;
  private readonly line: ByteLine;
  private readonly clock: Clock;
  private astm: AstmLine;
  private readonly responder: AstmQueryResponder;
  private readonly push: AstmOrderPush | undefined;

  constructor(
    private readonly instrument: InstrumentConfig,
    private readonly deps: InstrumentChannelDeps,
  ) {
    this.profile = instrumentProfile(instrument);
    this.clock = deps.clock ?? systemClock();
    const t = instrument.transport;
    if (t.type === 'tcp' && t.role === 'client') this.line = new TcpClientLine({ host: t.host, port: t.port, logger: deps.logger });
    else if (t.type === 'tcp') this.line = new TcpLine({ host: t.host, port: t.port, logger: deps.logger });
    else {
      const { type: _type, ...settings } = t;
      this.line = new SerialLine(settings, { logger: deps.logger });
    }
    const sourceId = instrument.id;
    const common = {
      sourceId,
      profile: this.profile,
      mapping: mappingProfile(this.profile),
      clock: this.clock,
      timeZone: this.profile.timeZone ?? instrument.timeZone,
      hostName: deps.hostName ?? 'labedge',
      send: (records: string[], options: { deadline?: number }) => this.astm.send(records, options),
    };
    this.responder = new AstmQueryResponder({
      ...common,
      ...(deps.search && { search: deps.search }),
      onOutcome: (o) => deps.events.emit('host-query', { sourceId, outcome: o.outcome, lookup: o.lookup, specimens: o.specimens, found: o.found, ms: o.ms }),
    });
    if (this.profile.orders.mode === 'push' && deps.search) {
      this.push = new AstmOrderPush({
        ...common,
        search: deps.search,
        onOutcome: (o) => deps.events.emit('order-push', { sourceId, outcome: o.outcome, orders: o.orders, unmappable: o.unmappable }),
      });
    }
    this.astm = this.newLine();
    this.line.on('data', (chunk) => this.astm.consume(chunk));
    // A reopened line starts a fresh link: whatever was half-received is gone with the old one.
    this.line.on('open', () => {
      this.astm.destroy();
      this.astm = this.newLine();
    });
    // A raw message or payload in progress when the line drops is delivered as it is.
    this.line.on('close', () => this.astm.flush());
  }

  start(): void {
    this.line.start();
    this.push?.start();
  }

  /** Resolves once a listening line (ASTM over TCP, box as server) is bound; rejects if it cannot be. */
  async ready(): Promise<void> {
    const line = this.line as { listening?: () => Promise<void> };
    if (typeof line.listening === 'function') await line.listening();
  }

  async stop(): Promise<void> {
    this.push?.stop();
    this.astm.destroy();
    await this.line.stop();
  }

  private newLine(): AstmLine {
    const sourceId = this.instrument.id;
    const adapter = findAdapter(this.profile.payloadAdapter);
    return new AstmLine({
      clock: this.clock,
      framing: this.profile.framing,
      rawIdleMs: this.profile.rawIdleMs,
      textEncoding: this.profile.encoding,
      adapters: adapter ? [adapter] : [],
      link: {
        maxFrameBytes: this.profile.maxFrameBytes,
        maxTextPerFrame: this.profile.maxTextPerFrame,
        acceptSession: () => this.deps.store.capacity().full === undefined,
      },
      write: (bytes) => this.line.write(bytes),
      onEvent: (event) => {
        if (QUIET.has(event.kind)) return;
        const detail = 'reason' in event ? String(event.reason) : 'adapter' in event ? String(event.adapter ?? 'unknown') : undefined;
        this.deps.events.emit('link', { sourceId, kind: event.kind, detail });
      },
      onMessage: (message, settle) => this.commit(message, settle),
    });
  }

  private commit(message: LineMessage, settle: SettleFn): void {
    const sourceId = this.instrument.id;
    const receivedAt = this.clock.now();
    const meta: Record<string, string | number | boolean> = { framing: message.framing, frames: message.frames, complete: message.complete };
    if (message.framing === 'foreign') meta.adapter = message.adapter ?? '';
    this.deps.store.commitInbound({ sourceId, raw: message.text, receivedAt, meta }).then(
      (id) => {
        settle(true);
        this.deps.events.emit('ingested', { sourceId, id, bytes: message.text.length, complete: message.complete });
        this.deps.onCommitted();
        if (message.framing !== 'foreign') this.answerQueries(message.text, receivedAt);
      },
      (e: unknown) => {
        settle(false);
        this.deps.logger.error({ sourceId, err: describeError(e) }, 'commit failed: message refused (NAK), the instrument keeps it');
        this.deps.events.emit('ingest-refused', { sourceId, reason: describeError(e) });
      },
    );
  }

  private answerQueries(raw: Buffer, receivedAt: number): void {
    if (this.profile.orders.mode === 'none') return;
    const text = decodeText(raw, this.profile.encoding);
    if (!this.responder.hasQueries(text)) return;
    this.responder.answer(text, receivedAt).catch((e: unknown) => {
      this.deps.logger.error({ sourceId: this.instrument.id, err: describeError(e) }, 'host query could not be answered');
    });
  }
}
