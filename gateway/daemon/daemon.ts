import { EventEmitter } from 'node:events';
import { QueueStore } from '../store/queue-store.js';
import type { FhirUplinkClient } from '../uplink/fhir-client.js';
import { openUplink, type OpenedUplink } from '../uplink/open-uplink.js';
import type { AnyInstrumentConfig, LabedgeConfig } from '../config/config.js';
import { LabedgeError, describeError, isLabedgeError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { DaemonEvents } from './events.js';
import { InstrumentChannel } from './instrument-channel.js';
import { FhirSearch } from '../uplink/fhir-search.js';
import { systemClock } from '../core/clock.js';
import { Hl7Channel } from './hl7-channel.js';
import { WorkLoop } from './work-loop.js';
import { createTransformStep } from './transform-worker.js';
import { DeliveryWorker } from './delivery-worker.js';
import { DaemonAudit } from '../audit/daemon-audit.js';
import { checkpointBundle } from '../audit/checkpoint-upstream.js';
import { DEFAULT_STORE_CONFIG } from '../store/store-config.js';
import { deadLetterRule } from '../store/retention.js';
import { StoreSweeper } from '../store/store-sweeper.js';
import { FleetPublisher } from '../fleet/fleet-publisher.js';

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
  private uplink: OpenedUplink | undefined;
  private channels: Array<InstrumentChannel | Hl7Channel> = [];
  private transformLoop: WorkLoop | undefined;
  private deliveryLoop: WorkLoop | undefined;
  private delivery: DeliveryWorker | undefined;
  private auditTrail: DaemonAudit | undefined;
  private sweeper: StoreSweeper | undefined;
  private fleet: FleetPublisher | undefined;

  constructor(private readonly options: DaemonOptions) {
    super();
  }

  get queue(): QueueStore {
    if (!this.store) throw new Error('daemon not started');
    return this.store;
  }

  async start(): Promise<void> {
    const { config, logger } = this.options;
    // TLS files, bundle type, SMART; renewed certificates are picked up without a restart.
    this.uplink = await openUplink(config.uplink, { logger, onRenewed: (c) => this.emit('certificate-renewed', c) });
    this.client = this.uplink.client;
    const uplinkClient = this.uplink.client;
    // Limits, lease wait (a hand-over waits instead of crash-looping) and alarms: gateway/store.
    const storeConfig = config.store ?? DEFAULT_STORE_CONFIG;
    this.store = await QueueStore.open({
      dataDir: config.dataDir,
      keyFile: config.keyFile,
      limits: storeConfig,
      leaseWaitMs: storeConfig.leaseWaitMs,
      onAlarm: (a) => {
        const alarm = { code: a.code, severity: a.severity, message: a.message, cleared: a.cleared === true };
        // Logged here, not through logEvents: alarms raised while the store opens come first.
        if (alarm.severity === 'error' && !alarm.cleared) logger.error(alarm, 'store alarm');
        else logger.warn(alarm, 'store alarm');
        this.emit('store-alarm', alarm);
        if (alarm.cleared) {
          this.transformLoop?.wake();
          this.deliveryLoop?.wake();
        }
      },
    }).catch(async (e: unknown) => {
      await this.uplink?.close();
      throw e;
    });
    const store = this.store;
    // The audit trail records the start (and any config change) before anything else happens.
    this.auditTrail = new DaemonAudit({ audit: store.audit, events: this, logger, deviceId: config.deviceId, keyFile: config.uplink.keyFile, config, server: config.uplink.baseUrl, instruments: config.instruments.length, settings: config.audit, sendUpstream: async (cp) => (await uplinkClient.postBundle(checkpointBundle(cp))).outcome });
    await this.auditTrail.start();
    // Fleet status and events (gateway/fleet): optional, connects in the background, never blocks the pipeline.
    if (config.fleet) {
      this.fleet = new FleetPublisher({ config: config.fleet, deviceId: config.deviceId, events: this, logger });
      await this.fleet.start();
    }

    const onError = (stage: string) => (e: unknown) => {
      logger.error({ stage, err: describeError(e) }, 'pipeline stage failed; will retry');
      store.noteFailure(e);
    };
    this.delivery = new DeliveryWorker({
      store,
      client: this.client,
      events: this,
      logger,
      wake: () => this.deliveryLoop?.wake(),
      baseDelayMs: this.options.retryBaseMs,
      maxInFlight: config.uplink.maxInFlight,
    });
    this.deliveryLoop = new WorkLoop(this.delivery.step, onError('deliver'));
    const instruments = new Map<string, AnyInstrumentConfig>(config.instruments.map((i) => [i.id, i]));
    const transformStep = createTransformStep({ store, instruments, events: this, provenance: { deviceId: config.deviceId } });
    this.transformLoop = new WorkLoop(async () => {
      const more = await transformStep();
      this.deliveryLoop?.wake();
      return more;
    }, onError('transform'));

    try {
      for (const instrument of config.instruments) {
        const deps = { store, events: this, logger, onCommitted: () => this.transformLoop?.wake() };
        try {
          if (instrument.protocol === 'hl7') {
            // HL7 v2 (gateway/daemon/hl7-channel.ts): an MLLP listener or a serial line.
            const channel = new Hl7Channel(instrument, deps);
            this.channels.push(channel);
            await channel.start();
            continue;
          }
          // ASTM: host queries and order push look orders up through the uplink (FHIR searches).
          const channel = new InstrumentChannel(instrument, { ...deps, search: new FhirSearch(this.uplink.client, systemClock()), hostName: config.deviceId });
          this.channels.push(channel);
          channel.start();
          await channel.ready();
        } catch (e) {
          throw channelStartError(instrument, e);
        }
      }
    } catch (e) {
      // Never half started: a box that listens and acknowledges but does not deliver is worse
      // than one that refuses to start. Stop what started (the store's lease is released).
      await this.stop().catch(() => undefined);
      throw e;
    }
    this.logEvents();
    this.sweeper = new StoreSweeper(store, {
      rules: [deadLetterRule(storeConfig.retention)],
      payloadArchiveMaxBytes: storeConfig.retention.payloadArchiveMaxBytes,
      intervalMs: storeConfig.retention.sweepIntervalMs,
      logger,
    });
    this.sweeper.start();
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
    this.on('uplink-alarm', (e) => (e.active ? log.error(e, 'uplink alarm raised') : log.info(e, 'uplink alarm cleared')));
    this.on('link', (e) => log.debug(e, 'link event'));
    this.on('host-query', (e) => (e.outcome === 'sent' || e.outcome === 'cancelled' ? log.info(e, 'host query answered') : log.warn(e, 'host query not answered')));
    this.on('order-push', (e) => (e.outcome === 'sent' || e.outcome === 'nothing-new' ? log.debug(e, 'order push') : log.warn(e, 'order push failed')));
  }

  async stop(): Promise<void> {
    await Promise.allSettled(this.channels.map((c) => c.stop()));
    await this.transformLoop?.stop();
    await this.delivery?.stop();
    await this.deliveryLoop?.stop();
    // Before the uplink closes: the shutdown checkpoint it signs may be sent upstream (bounded).
    await this.auditTrail?.stop();
    // After the audit trail, so the shutdown checkpoint it signs is published too.
    await this.fleet?.stop();
    // Deliveries are over; only a checkpoint post can still be on the wire. Do not let a hung
    // server hold the shutdown past a container's stop timeout: everything is on disk already.
    const uplinkClosed = this.uplink?.close();
    await Promise.race([uplinkClosed, new Promise((resolve) => setTimeout(resolve, 3000).unref())]);
    await this.sweeper?.stop();
    await this.store?.close();
    this.options.logger.info('labedge stopped');
  }
}

/** A listener that cannot bind names its instrument, address and reason (exit 2: fix the config or free the port). */
function channelStartError(instrument: AnyInstrumentConfig, e: unknown): unknown {
  if (isLabedgeError(e)) return e;
  const t = instrument.transport as { host?: string; port?: number };
  const where = t.port === undefined ? '' : ` on ${t.host ?? '*'}:${t.port}`;
  const code = (e as NodeJS.ErrnoException | undefined)?.code ?? 'error';
  return new LabedgeError('LABEDGE_ERR_CONFIG', `instrument ${instrument.id}: cannot listen${where} (${code}); another program holds the port, or the address is not this box's`, { cause: e });
}
