import { SerialLine } from '../../hardware/serial-line.js';
import { TcpLine } from '../../hardware/tcp-line.js';
import type { ByteLine } from '../../hardware/byte-line.js';
import { E1381Receiver } from '../astm/e1381-receiver.js';
import type { QueueStore } from '../store/queue-store.js';
import type { InstrumentConfig } from '../config/config.js';
import { systemClock } from '../core/clock.js';
import { describeError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { DaemonEventSink } from './events.js';

/**
 * One instrument on one serial line: bytes → E1381 receiver → durable commit → ACK.
 * The final frame of a message is acknowledged only after its synced write (invariant 1);
 * if the store cannot commit, the frame is NAKed and the instrument keeps the data.
 */
export class InstrumentChannel {
  private readonly line: ByteLine;
  private receiver: E1381Receiver;

  constructor(
    private readonly instrument: InstrumentConfig,
    private readonly deps: { store: QueueStore; events: DaemonEventSink; logger: Logger; onCommitted: () => void },
  ) {
    const t = instrument.transport;
    if (t.type === 'tcp') this.line = new TcpLine({ host: t.host, port: t.port, logger: deps.logger });
    else {
      const { type: _type, ...settings } = t;
      this.line = new SerialLine(settings, { logger: deps.logger });
    }
    this.receiver = this.newReceiver();
    this.line.on('data', (chunk) => this.receiver.consume(chunk));
    // A reopened port starts a fresh link: whatever was half-received is gone with the old one.
    this.line.on('open', () => {
      this.receiver.destroy();
      this.receiver = this.newReceiver();
    });
  }

  start(): void {
    this.line.start();
  }

  async stop(): Promise<void> {
    this.receiver.destroy();
    await this.line.stop();
  }

  private newReceiver(): E1381Receiver {
    const sourceId = this.instrument.id;
    return new E1381Receiver({
      clock: systemClock(),
      write: (bytes) => this.line.write(bytes),
      onEvent: (event) => {
        if (event.kind === 'session-start' || event.kind === 'session-end') return;
        this.deps.events.emit('link', { sourceId, kind: event.kind, detail: 'reason' in event ? String(event.reason) : undefined });
      },
      onMessage: (message, settle) => {
        this.deps.store
          .commitInbound({
            sourceId,
            raw: message.text,
            receivedAt: Date.now(),
            meta: { frames: message.frames, complete: message.complete },
          })
          .then(
            (id) => {
              settle(true);
              this.deps.events.emit('ingested', { sourceId, id, bytes: message.text.length, complete: message.complete });
              this.deps.onCommitted();
            },
            (e: unknown) => {
              settle(false);
              this.deps.logger.error({ sourceId, err: describeError(e) }, 'commit failed: message refused (NAK), the instrument keeps it');
              this.deps.events.emit('ingest-refused', { sourceId, reason: describeError(e) });
            },
          );
      },
    });
  }
}
