/**
 * Publishes the box's fleet-relevant events to the fleet broker (MQTT over mutual TLS):
 *
 * - `<prefix>/<deviceId>/status`: retained `{"state":"online",...}`, with a retained
 *   `{"state":"offline"}` last will the broker publishes when the box vanishes;
 * - `<prefix>/<deviceId>/events`: QoS 1, not retained: signed audit checkpoints, uplink
 *   alarms and store alarms, each built by fleet-payloads.ts from whitelisted fields.
 *
 * The fleet is observability, never on the patient-data path: nothing here blocks or throws
 * into the pipeline. A broker that is down is retried with backoff; meanwhile events wait in
 * a small bounded queue (oldest dropped and counted; a newer checkpoint replaces a queued one
 * because it extends it, and every checkpoint is kept in the store anyway).
 *
 * Each connection attempt uses a fresh mqtt.js client with its reconnect turned off, so the
 * only queue and the only retry policy are the ones here.
 */
import { readFile } from 'node:fs/promises';
import type { ConnectionOptions } from 'node:tls';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { describeError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { DaemonEvents } from '../daemon/events.js';
import type { AuditCheckpoint } from '../audit/audit-types.js';
import { backoffDelay } from '../uplink/backoff.js';
import { softwareVersion } from '../uplink/software-version.js';
import { splitPem } from '../uplink/tls-files.js';
import type { FleetConfig } from './fleet-config.js';
import { checkpointEvent, encodeEvent, encodeStatus, storeAlarmEvent, uplinkAlarmEvent, type FleetEvent } from './fleet-payloads.js';

type Listener<K extends keyof DaemonEvents> = (...args: DaemonEvents[K]) => void;
type Watched = 'audit-checkpoint' | 'uplink-alarm' | 'store-alarm';

/** The daemon events the publisher listens to (the Daemon is one). */
export interface FleetEventSource {
  on<K extends Watched>(event: K, listener: Listener<K>): unknown;
  off<K extends Watched>(event: K, listener: Listener<K>): unknown;
}

export interface FleetPublisherOptions {
  config: FleetConfig;
  deviceId: string;
  events: FleetEventSource;
  logger: Logger;
  /** Reported in the online status (default: the package version). */
  version?: string;
  /** Bound of the in-memory queue while the broker is unreachable (default 100). */
  maxQueued?: number;
  /** Reconnect backoff (full jitter); tests shorten it. */
  backoff?: { baseMs: number; capMs: number };
  now?: () => number;
}

interface Outgoing {
  topic: string;
  payload: Buffer;
  checkpoint: boolean;
}

const MAX_IN_FLIGHT = 8;

export class FleetPublisher {
  private client: MqttClient | undefined;
  private tls: { ca: string[]; cert: string; key: string } | undefined;
  private readonly queue: Outgoing[] = [];
  /** Sent, not yet acknowledged (PUBACK) on the current connection; requeued if it drops. */
  private readonly inFlight = new Set<Outgoing>();
  private attempt = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private dropped = 0;
  private readonly since: number;
  private readonly now: () => number;
  private readonly statusTopic: string;
  private readonly eventsTopic: string;

  private readonly onCheckpoint = (cp: AuditCheckpoint): void => this.publishEvent(checkpointEvent(cp));
  private readonly onUplinkAlarm: Listener<'uplink-alarm'> = (e) => this.publishEvent(uplinkAlarmEvent(e));
  private readonly onStoreAlarm: Listener<'store-alarm'> = (e) => this.publishEvent(storeAlarmEvent(e));

  constructor(private readonly o: FleetPublisherOptions) {
    this.now = o.now ?? Date.now;
    this.since = this.now();
    const base = `${o.config.topicPrefix}/${o.deviceId}`;
    this.statusTopic = `${base}/status`;
    this.eventsTopic = `${base}/events`;
  }

  /** Events dropped from the full queue so far (also reported in the online status). */
  get droppedCount(): number {
    return this.dropped;
  }

  /** The current connection's client, for diagnostics and fault-injection tests. */
  get connection(): MqttClient | undefined {
    return this.client;
  }

  /**
   * Reads the TLS files and starts connecting in the background. Unreadable files are logged
   * and leave the fleet link off: the daemon runs on without it.
   */
  async start(): Promise<void> {
    const { config } = this.o;
    try {
      const [ca, cert, key] = await Promise.all([readFile(config.caFile, 'utf8'), readFile(config.certFile, 'utf8'), readFile(config.keyFile, 'utf8')]);
      const pinned = splitPem(ca);
      if (pinned.length === 0) throw new Error('fleet.caFile holds no certificate');
      this.tls = { ca: pinned, cert, key };
    } catch (e) {
      this.o.logger.error({ err: describeError(e) }, 'fleet link off: its TLS files cannot be read');
      return;
    }
    this.o.events.on('audit-checkpoint', this.onCheckpoint);
    this.o.events.on('uplink-alarm', this.onUplinkAlarm);
    this.o.events.on('store-alarm', this.onStoreAlarm);
    this.connect();
  }

  /** Announces a clean `offline` (the last will only fires on an unclean loss) and disconnects. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.o.events.off('audit-checkpoint', this.onCheckpoint);
    this.o.events.off('uplink-alarm', this.onUplinkAlarm);
    this.o.events.off('store-alarm', this.onStoreAlarm);
    const client = this.client;
    this.client = undefined;
    if (!client) return;
    if (client.connected) {
      // Let queued events (the final checkpoint) go out; bounded, so shutdown always goes on.
      this.client = client;
      this.pump();
      const deadline = Date.now() + 2000;
      while ((this.inFlight.size > 0 || this.queue.length > 0) && client.connected && Date.now() < deadline) await delay(20);
      this.client = undefined;
      await Promise.race([client.publishAsync(this.statusTopic, encodeStatus({ state: 'offline' }), { qos: 1, retain: true }).catch(() => undefined), delay(2000)]);
    }
    await Promise.race([client.endAsync(!client.connected).catch(() => undefined), delay(2000)]);
    client.end(true);
  }

  private publishEvent(event: FleetEvent | undefined): void {
    if (!event) {
      this.o.logger.warn('fleet event not published: a field failed the payload whitelist');
      return;
    }
    const checkpoint = event.type === 'audit-checkpoint';
    if (checkpoint) {
      // A newer checkpoint extends the queued one; the store keeps both.
      const i = this.queue.findIndex((m) => m.checkpoint);
      if (i >= 0) this.queue.splice(i, 1);
    }
    this.queue.push({ topic: this.eventsTopic, payload: encodeEvent(event, this.now()), checkpoint });
    this.trim();
    this.pump();
  }

  /** Keeps the queue within its bound: the oldest go, counted. */
  private trim(): void {
    const max = Math.max(1, this.o.maxQueued ?? 100);
    while (this.queue.length > max) {
      this.queue.shift();
      this.dropped++;
    }
  }

  private pump(): void {
    const client = this.client;
    while (client?.connected && this.inFlight.size < MAX_IN_FLIGHT && this.queue.length > 0) {
      const m = this.queue.shift() as Outgoing;
      this.inFlight.add(m);
      client.publish(m.topic, m.payload, { qos: 1, retain: false }, (err) => {
        if (this.client !== client) return; // that connection is gone; its messages were requeued
        if (err) return; // the connection is dropping: 'close' requeues it
        this.inFlight.delete(m);
        this.pump();
      });
    }
  }

  private connect(): void {
    if (this.stopped || !this.tls) return;
    const offline = { topic: this.statusTopic, payload: encodeStatus({ state: 'offline' }), qos: 1 as const, retain: true };
    // mqtt.js hands the TLS options to tls.connect as they are (its types omit minVersion);
    // the host name is verified by tls.checkServerIdentity, the default.
    const options: IClientOptions & Pick<ConnectionOptions, 'minVersion'> = {
      clientId: this.o.deviceId,
      ca: this.tls.ca,
      cert: this.tls.cert,
      key: this.tls.key,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.2',
      protocolVersion: 4,
      clean: true,
      reconnectPeriod: 0,
      connectTimeout: 15_000,
      keepalive: 30,
      will: offline,
    };
    const client = mqtt.connect(this.o.config.brokerUrl, options);
    this.client = client;
    let connected = false;
    client.on('connect', () => {
      connected = true;
      this.attempt = 0;
      this.o.logger.info({ broker: this.o.config.brokerUrl }, 'fleet broker connected');
      const online = encodeStatus({ state: 'online', deviceId: this.o.deviceId, version: this.o.version ?? softwareVersion(), since: this.since, dropped: this.dropped });
      client.publish(this.statusTopic, online, { qos: 1, retain: true }, () => undefined);
      this.pump();
    });
    // Without a listener an 'error' would throw; the reason is logged once the link closes.
    let lastError: unknown;
    client.on('error', (e) => (lastError = e));
    client.on('close', () => {
      if (this.client !== client) return;
      this.client = undefined;
      client.end(true);
      // Unacknowledged messages go back to the front, in order: QoS 1 allows a duplicate.
      this.queue.unshift(...this.inFlight);
      this.inFlight.clear();
      this.trim();
      if (this.stopped) return;
      const wait = backoffDelay(this.attempt++, this.o.backoff ?? { baseMs: 1000, capMs: 60_000 });
      const log = { broker: this.o.config.brokerUrl, retryInMs: wait, queued: this.queue.length, dropped: this.dropped, ...(lastError ? { err: describeError(lastError) } : {}) };
      if (connected) this.o.logger.warn(log, 'fleet broker connection lost; reconnecting');
      else this.o.logger.warn(log, 'fleet broker unreachable; retrying');
      this.retryTimer = setTimeout(() => this.connect(), wait);
      this.retryTimer.unref();
    });
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
