import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { LabedgeError, describeError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { AuditLog } from './audit-log.js';
import { canonicalJson } from './audit-codec.js';
import { DEFAULT_AUDIT_SETTINGS, type AuditSettings } from './audit-config.js';
import { checkpointNow } from './checkpointer.js';
import { prunePayloads } from './payload-retention.js';
import { softwareVersion } from '../uplink/software-version.js';
import type { AuditCheckpoint, JsonValue } from './audit-types.js';

type UplinkAlarm = { kind: 'auth' | 'circuit-open'; active: boolean; status?: number; code?: string };
type Renewed = { certSha256: string; serial: string; notAfter: string };

/** The daemon events the audit trail listens to and emits (a subset of DaemonEvents). */
export interface AuditEventSink {
  on(event: 'uplink-alarm', listener: (e: UplinkAlarm) => void): unknown;
  off(event: 'uplink-alarm', listener: (e: UplinkAlarm) => void): unknown;
  on(event: 'certificate-renewed', listener: (c: Renewed) => void): unknown;
  off(event: 'certificate-renewed', listener: (c: Renewed) => void): unknown;
  emit(event: 'audit-checkpoint', checkpoint: AuditCheckpoint): boolean;
}

export interface DaemonAuditOptions {
  audit: AuditLog;
  events: AuditEventSink;
  logger: Logger;
  deviceId: string;
  /** The device's private key file (PEM, the uplink's client key): signs checkpoints. Read at each checkpoint, so a renewed key is used. */
  keyFile: string;
  /** The effective configuration (paths and settings, no secrets): its digest is recorded. */
  config: unknown;
  server: string;
  version?: string;
  instruments: number;
  settings?: AuditSettings;
  now?: () => number;
  /** Posts a checkpoint to the FHIR server (used when settings.sendCheckpointsUpstream); resolves to the uplink outcome. */
  sendUpstream?: (cp: AuditCheckpoint) => Promise<string>;
}

/** How long a checkpoint post may take (at shutdown too): the next checkpoint covers a lost one. */
const UPSTREAM_SEND_MS = 5000;

/** SHA-256 of the configuration in canonical JSON: a change of any setting changes it. */
export function configDigest(config: unknown): string {
  return createHash('sha256').update(canonicalJson(JSON.parse(JSON.stringify(config ?? null)) as JsonValue)).digest('hex');
}

/**
 * The daemon's side of the audit trail: application start/stop, configuration changes,
 * uplink authentication alarms, the periodic (and final) signed checkpoint, and the
 * retention of archived payloads. Message stages are recorded by the store itself.
 */
export class DaemonAudit {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  private readonly settings: AuditSettings;
  private readonly now: () => number;
  private readonly onAlarm = (e: UplinkAlarm): void => {
    if (e.kind !== 'auth') return;
    const body: Record<string, JsonValue> = { server: this.o.server, outcome: e.active ? 'raised' : 'cleared' };
    if (e.status !== undefined) body.status = e.status;
    if (e.code !== undefined) body.code = e.code;
    this.record('uplink-auth-failure', body);
  };

  private readonly onRenewed = (c: Renewed): void => {
    this.record('renewal', { deviceId: this.o.deviceId, certSha256: c.certSha256, serial: c.serial, notAfter: c.notAfter });
  };

  constructor(private readonly o: DaemonAuditOptions) {
    this.settings = o.settings ?? DEFAULT_AUDIT_SETTINGS;
    this.now = o.now ?? Date.now;
  }

  async start(): Promise<void> {
    const { audit } = this.o;
    audit.setServer(this.o.server);
    if (audit.startupIssues.length > 0) {
      await audit.append({ kind: 'audit-recovery', body: { issues: [...audit.startupIssues] } });
      this.o.logger.error({ issues: audit.startupIssues.length }, 'the audit trail was damaged while the daemon was down; run labedge audit verify');
    }
    const digest = configDigest(this.o.config);
    const previous = await audit.readConfigMark();
    await audit.append({ kind: 'app-start', body: { deviceId: this.o.deviceId, version: this.o.version ?? softwareVersion(), configDigest: digest, instruments: this.o.instruments } });
    if (previous !== digest) {
      await audit.append({ kind: 'config-change', body: { deviceId: this.o.deviceId, from: previous ?? null, to: digest } }, [audit.configMarkOp(digest)]);
    }
    this.o.events.on('uplink-alarm', this.onAlarm);
    this.o.events.on('certificate-renewed', this.onRenewed);
    this.timer = setInterval(() => this.tick(), this.settings.checkpointIntervalMs);
    this.timer.unref();
  }

  /** Signs a checkpoint now (if anything was appended since the last one) and emits it. */
  async checkpoint(): Promise<AuditCheckpoint | undefined> {
    const keyPem = await readFile(this.o.keyFile, 'utf8').catch((e: unknown) => {
      throw new LabedgeError('LABEDGE_ERR_AUDIT', `the device key ${this.o.keyFile} cannot be read to sign an audit checkpoint`, { cause: e });
    });
    const cp = await checkpointNow(this.o.audit, { deviceId: this.o.deviceId, keyPem, now: this.now() });
    if (cp) {
      this.o.logger.info({ seq: cp.seq, hash: cp.hash }, 'audit checkpoint signed');
      this.o.events.emit('audit-checkpoint', cp);
      if (this.settings.sendCheckpointsUpstream && this.o.sendUpstream) await this.sendUpstream(cp);
    }
    return cp;
  }

  /** Records application stop and signs the final checkpoint. Call before the store closes. */
  async stop(reason = 'shutdown'): Promise<void> {
    clearInterval(this.timer);
    this.o.events.off('uplink-alarm', this.onAlarm);
    this.o.events.off('certificate-renewed', this.onRenewed);
    await this.running;
    try {
      await this.o.audit.append({ kind: 'app-stop', body: { deviceId: this.o.deviceId, reason } });
      await this.checkpoint();
    } catch (e) {
      this.o.logger.error({ err: describeError(e) }, 'the audit trail could not record the stop');
    }
  }

  /**
   * Best effort: a checkpoint that does not reach the server is not retried, because the next
   * one extends it (it names its predecessor), so the server's copy still anchors the chain.
   */
  private async sendUpstream(cp: AuditCheckpoint): Promise<void> {
    try {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<string>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), UPSTREAM_SEND_MS);
        timer.unref();
      });
      const outcome = await Promise.race([this.o.sendUpstream?.(cp), late]);
      clearTimeout(timer);
      if (outcome === 'ok') this.o.logger.info({ seq: cp.seq }, 'audit checkpoint sent upstream');
      else this.o.logger.warn({ seq: cp.seq, outcome }, 'audit checkpoint not accepted upstream; the next one extends it');
    } catch (e) {
      this.o.logger.warn({ seq: cp.seq, err: describeError(e) }, 'audit checkpoint could not be sent upstream; the next one extends it');
    }
  }

  private tick(): void {
    this.running = this.running.then(async () => {
      try {
        await prunePayloads(this.o.audit, { now: this.now(), retentionMs: this.settings.payloadRetentionMs });
        await this.checkpoint();
      } catch (e) {
        this.o.logger.error({ err: describeError(e) }, 'audit checkpoint or payload retention failed; will retry');
      }
    });
  }

  private record(kind: 'uplink-auth-failure' | 'renewal', body: Record<string, JsonValue>): void {
    this.running = this.running.then(() =>
      this.o.audit.append({ kind, body }).then(
        () => undefined,
        (e: unknown) => this.o.logger.error({ err: describeError(e), kind }, 'audit entry could not be written'),
      ),
    );
  }
}
