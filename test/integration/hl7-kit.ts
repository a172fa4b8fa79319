/**
 * Shared parts for the HL7 intake tests: a real encrypted store in a temp folder, an Hl7Channel
 * on a real socket (plaintext by opt-in, or TLS with client certificates from the development CA),
 * and synthetic ORU messages with canary-free fake data.
 */
import { EventEmitter } from 'node:events';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDevCa, issueDeviceCert, issueServerCert, type CertAndKey } from '../../provisioning/dev-ca.js';
import { silentLogger } from '../../gateway/core/logger.js';
import { Hl7Channel } from '../../gateway/daemon/hl7-channel.js';
import type { DaemonEvents } from '../../gateway/daemon/events.js';
import type { Hl7InstrumentConfig, Hl7Transport } from '../../gateway/hl7/hl7-instrument-config.js';
import { parseHl7 } from '../../gateway/hl7/parser.js';
import { QueueStore } from '../../gateway/store/queue-store.js';

export function oru(controlId: string, opts: { sender?: string; value?: string; obx?: number; patient?: { id: string; name: string; birth: string } } = {}): string {
  const obx = Array.from({ length: opts.obx ?? 3 }, (_, i) => `OBX|${i + 1}|NM|GLU${i}^Glucose ${i}^L||${opts.value ?? `${5 + i}.${i}`}|mmol/L|3.9-6.1|N|||F|||20240105083000`);
  return [
    `MSH|^~\\&|${opts.sender ?? 'ANALYZER'}|LAB|LIS|HOSP|20240105083512-0500||ORU^R01^ORU_R01|${controlId}|P|2.5.1`,
    opts.patient ? `PID|1||${opts.patient.id}^^^LAB^MR||${opts.patient.name}||${opts.patient.birth}` : `PID|1||P-${controlId}^^^LAB^MR||Testpatient^Fake`,
    `OBR|1|PL-${controlId}|FI-${controlId}|GLU^Glucose panel^L|||20240105080000`,
    ...obx,
  ].map((s) => `${s}\r`).join('');
}

export interface Pki {
  ca: CertAndKey;
  server: CertAndKey;
  client: CertAndKey;
  other: CertAndKey;
  files: { ca: string; serverCert: string; serverKey: string };
  fingerprint(c: CertAndKey): string;
}

export async function makePki(dir: string): Promise<Pki> {
  const ca = createDevCa({ commonName: 'labedge hl7 test CA' });
  const server = issueServerCert(ca, { hostnames: ['localhost'], ips: ['127.0.0.1'] });
  const client = issueDeviceCert(ca, { deviceId: 'analyzer-1' });
  const other = issueDeviceCert(ca, { deviceId: 'analyzer-2' });
  const files = { ca: join(dir, 'ca.pem'), serverCert: join(dir, 'server.pem'), serverKey: join(dir, 'server.key') };
  await writeFile(files.ca, ca.certPem);
  await writeFile(files.serverCert, server.certPem);
  await writeFile(files.serverKey, server.keyPem, { mode: 0o600 });
  return { ca, server, client, other, files, fingerprint: (c) => new X509Certificate(c.certPem).fingerprint256 };
}

export interface ChannelRig {
  dir: string;
  store: QueueStore;
  channel: Hl7Channel;
  events: EventEmitter<DaemonEvents>;
  port: number;
  close(): Promise<void>;
}

export async function startChannel(transport: Partial<Extract<Hl7Transport, { type: 'mllp' }>> = {}, options: { dedupeWindowMs?: number; dir?: string } = {}): Promise<ChannelRig> {
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'labedge-hl7-')));
  const store = await QueueStore.open({ dataDir: join(dir, 'data'), keyFile: join(dir, 'keys', 'kek') });
  const events = new EventEmitter<DaemonEvents>();
  const instrument: Hl7InstrumentConfig = {
    id: 'hl7-analyzer',
    protocol: 'hl7',
    encoding: 'auto',
    timeZone: 'Europe/Berlin',
    transport: { type: 'mllp', host: '127.0.0.1', port: 0, ...(transport.tls ? {} : { allowPlaintext: true }), ...transport },
  };
  const channel = new Hl7Channel(instrument, {
    store,
    events,
    logger: silentLogger(),
    onCommitted: () => {},
    ...(options.dedupeWindowMs !== undefined ? { dedupeWindowMs: options.dedupeWindowMs } : {}),
  });
  await channel.start();
  return {
    dir,
    store,
    channel,
    events,
    port: channel.port ?? 0,
    async close() {
      await channel.stop();
      await store.close();
      if (options.dir === undefined) await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Control ids of every inbound record in the store, with its meta. */
export async function stored(store: QueueStore): Promise<{ controlId: string; meta: Record<string, unknown> }[]> {
  const records = await store.listInbound(100_000);
  return records.map((r) => ({ controlId: parseHl7(r.raw).messages[0]?.controlId ?? '', meta: r.meta ?? {} }));
}
