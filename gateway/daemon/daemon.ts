import { EventEmitter } from 'node:events';
import { readFile } from 'node:fs/promises';
import { QueueStore } from '../store/queue-store.js';
import { FhirUplinkClient } from '../uplink/fhir-client.js';
import type { InstrumentConfig, LabedgeConfig } from '../config/config.js';
import { describeError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { DaemonEvents } from './events.js';
import { InstrumentChannel } from './instrument-channel.js';
import { WorkLoop } from './work-loop.js';
import { createTransformStep } from './transform-worker.js';
import { DeliveryWorker } from './delivery-worker.js';

export interface DaemonOptions {
  config: LabedgeConfig;
  logger: Logger;
  /** Backoff base for upstream retries (tests shorten it). */
  retryBaseMs?: number;
}

/**
 * The one place that wires the daemon: instruments → store → transform → uplink.
 * Data flows one way; each stage is woken by the one before it and also re-checks
 * the store on start, so work left by a crash is picked up again.
 */
export class Daemon extends EventEmitter<DaemonEvents> {
  private store: QueueStore | undefined;
  private client: FhirUplinkClient | undefined;
  private channels: InstrumentChannel[] = [];
  private transformLoop: WorkLoop | undefined;
  private deliveryLoop: WorkLoop | undefined;
  private delivery: DeliveryWorker | undefined;

  constructor(private readonly options: DaemonOptions) {
    super();
  }

  get queue(): QueueStore {
    if (!this.store) throw new Error('daemon not started');
    return this.store;
  }

  async start(): Promise<void> {
    const { config, logger } = this.options;
    const [ca, cert, key] = await Promise.all([
      readFile(config.uplink.caFile, 'utf8'),
      readFile(config.uplink.certFile, 'utf8'),
      readFile(config.uplink.keyFile, 'utf8'),
    ]);
    this.store = await QueueStore.open({ dataDir: config.dataDir, keyFile: config.keyFile });
    const store = this.store;
    this.client = new FhirUplinkClient({ baseUrl: config.uplink.baseUrl, ca, cert, key, timeoutMs: config.uplink.timeoutMs });

    const onError = (stage: string) => (e: unknown) => logger.error({ stage, err: describeError(e) }, 'pipeline stage failed; will retry when woken');
    this.delivery = new DeliveryWorker({
      store,
      client: this.client,
      events: this,
      logger,
      wake: () => this.deliveryLoop?.wake(),
      baseDelayMs: this.options.retryBaseMs,
    });
    this.deliveryLoop = new WorkLoop(this.delivery.step, onError('deliver'));
    const instruments = new Map<string, InstrumentConfig>(config.instruments.map((i) => [i.id, i]));
    const transformStep = createTransformStep({ store, instruments, events: this });
    this.transformLoop = new WorkLoop(async () => {
      const more = await transformStep();
      this.deliveryLoop?.wake();
      return more;
    }, onError('transform'));

    for (const instrument of config.instruments) {
      const channel = new InstrumentChannel(instrument, { store, events: this, logger, onCommitted: () => this.transformLoop?.wake() });
      this.channels.push(channel);
      channel.start();
    }
    this.logEvents();
    // Whatever a previous run left in the store goes on from where it was.
    this.transformLoop.wake();
    this.deliveryLoop.wake();
    logger.info({ instruments: config.instruments.length, deviceId: config.deviceId }, 'labedge started');
  }

  /** Operators see the flow in the log: ids, counts and codes only. */
  private logEvents(): void {
    const log = this.options.logger;
    this.on('ingested', (e) => log.info(e, 'message committed and acknowledged'));
    this.on('ingest-refused', (e) => log.warn(e, 'message refused'));
    this.on('transformed', (e) => log.info(e, 'message mapped'));
    this.on('rejected', (e) => log.warn(e, 'message dead-lettered at transform'));
    this.on('delivered', (e) => log.info(e, 'bundle delivered'));
    this.on('delivery-failed', (e) => log.warn(e, 'delivery failed; will retry'));
    this.on('dead-lettered', (e) => log.warn(e, 'bundle rejected upstream; dead-lettered'));
    this.on('link', (e) => log.debug(e, 'link event'));
  }

  async stop(): Promise<void> {
    await Promise.allSettled(this.channels.map((c) => c.stop()));
    await this.transformLoop?.stop();
    await this.delivery?.stop();
    await this.deliveryLoop?.stop();
    await this.client?.close();
    await this.store?.close();
    this.options.logger.info('labedge stopped');
  }
}
