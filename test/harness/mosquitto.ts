/**
 * A real Mosquitto broker for the fleet tests: TLS 1.2+, client certificates required (the
 * certificate CN is the MQTT user name), no anonymous clients, and an ACL that lets each
 * device touch only `labedge/<its CN>/#`, while the `fleet-monitor` certificate may read all.
 * Started per test on a free port, with certificates from provisioning/dev-ca.ts.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import mqtt, { type MqttClient } from 'mqtt';
import { createDevCa, issueDeviceCert, issueServerCert, type CertAndKey } from '../../provisioning/dev-ca.js';

const MOSQUITTO = ['/usr/sbin/mosquitto', '/usr/bin/mosquitto'].find((p) => existsSync(p)) ?? 'mosquitto';

/** Why the fleet tests cannot run here (undefined when Mosquitto is installed; CI installs it). */
export function mosquittoMissing(): string | undefined {
  const r = spawnSync(MOSQUITTO, ['-h'], { encoding: 'utf8' });
  return r.error ? 'mosquitto is not installed (apt-get install mosquitto; .ci/run does)' : undefined;
}

export interface FleetPki {
  dir: string;
  ca: CertAndKey;
  files: { ca: string; device: { cert: string; key: string }; monitor: { cert: string; key: string } };
  /** Writes a client certificate (CN = `name`) from `ca` (default: the broker's CA); returns its files. */
  client(name: string, ca?: CertAndKey): Promise<{ cert: string; key: string }>;
}

/**
 * A CA, the broker's server certificate (for localhost and 127.0.0.1 unless `brokerNames`
 * says otherwise), the device `deviceId` and a `fleet-monitor` reader.
 */
export async function createFleetPki(dir: string, deviceId: string, opts: { brokerNames?: string[] } = {}): Promise<FleetPki> {
  await mkdir(dir, { recursive: true });
  const ca = createDevCa({ commonName: 'labedge fleet test CA' });
  const server = opts.brokerNames ? issueServerCert(ca, { hostnames: opts.brokerNames }) : issueServerCert(ca, { hostnames: ['localhost'], ips: ['127.0.0.1'] });
  await writeFile(join(dir, 'ca.pem'), ca.certPem);
  await writeFile(join(dir, 'broker.pem'), server.certPem);
  await writeFile(join(dir, 'broker.key'), server.keyPem, { mode: 0o600 });
  const client = async (name: string, issuer: CertAndKey = ca) => {
    const c = issueDeviceCert(issuer, { deviceId: name });
    const files = { cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) };
    await writeFile(files.cert, c.certPem);
    await writeFile(files.key, c.keyPem, { mode: 0o600 });
    return files;
  };
  const device = await client(deviceId);
  const monitor = await client('fleet-monitor');
  return { dir, ca, files: { ca: join(dir, 'ca.pem'), device, monitor }, client };
}

export interface Mosquitto {
  port: number;
  url: string;
  /** Everything the broker logged (for failure messages). */
  output(): string;
  stop(): Promise<void>;
  /** Stops the broker and starts it again on the same port. */
  restart(): Promise<void>;
}

/** `persistent`: sessions and queued QoS 1 messages survive a restart (saved at shutdown). */
export async function startMosquitto(pki: FleetPki, opts: { persistent?: boolean } = {}): Promise<Mosquitto> {
  const port = await freePort();
  const acl = join(pki.dir, 'acl');
  await writeFile(acl, ['user fleet-monitor', 'topic read labedge/#', '', 'pattern readwrite labedge/%u/#', ''].join('\n'));
  const conf = join(pki.dir, 'mosquitto.conf');
  await writeFile(
    conf,
    [
      'per_listener_settings false',
      'allow_anonymous false',
      `acl_file ${acl}`,
      ...(opts.persistent ? ['persistence true', `persistence_location ${pki.dir}/`] : ['persistence false']),
      'log_dest stderr',
      'log_type error',
      'log_type warning',
      'log_type notice',
      // Running as root in CI containers: stay root so the 0600 key stays readable.
      ...(process.getuid?.() === 0 ? ['user root'] : []),
      `listener ${port} 127.0.0.1`,
      `cafile ${pki.files.ca}`,
      `certfile ${join(pki.dir, 'broker.pem')}`,
      `keyfile ${join(pki.dir, 'broker.key')}`,
      'tls_version tlsv1.2',
      'require_certificate true',
      'use_identity_as_username true',
      '',
    ].join('\n'),
  );
  let out = '';
  let child: ChildProcess | undefined;
  const launch = async () => {
    const c = spawn(MOSQUITTO, ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = c;
    c.stdout?.on('data', (d: Buffer) => (out += d.toString('utf8')));
    c.stderr?.on('data', (d: Buffer) => (out += d.toString('utf8')));
    const deadline = Date.now() + 20_000;
    while (!(await accepts(port))) {
      if (c.exitCode !== null || Date.now() > deadline) throw new Error(`mosquitto did not start on port ${port}:\n${out}`);
      await sleep(50);
    }
  };
  const stop = async () => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
    c.kill('SIGTERM');
    await exited;
  };
  await launch();
  return {
    port,
    url: `mqtts://localhost:${port}`,
    output: () => out,
    stop,
    async restart() {
      await stop();
      await launch();
    },
  };
}

/** An MQTT client with a client certificate (or none); resolves once connected, rejects when refused. */
export async function connectClient(
  broker: Mosquitto,
  ca: string,
  creds?: { cert: string; key: string },
  session: { clientId?: string; clean?: boolean } = {},
): Promise<MqttClient> {
  const clientId = session.clientId ?? `test-${process.pid}-${Math.random().toString(16).slice(2)}`;
  const tls = creds ? { cert: await readFile(creds.cert, 'utf8'), key: await readFile(creds.key, 'utf8') } : {};
  const client = mqtt.connect(broker.url, { ca: await readFile(ca, 'utf8'), ...tls, rejectUnauthorized: true, reconnectPeriod: 0, connectTimeout: 20_000, clientId, clean: session.clean ?? true });
  return new Promise((resolve, reject) => {
    client.once('connect', () => resolve(client));
    client.once('error', (e) => (client.end(true), reject(e)));
    client.once('close', () => reject(new Error('connection closed before CONNACK')));
  });
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no free port');
  return address.port;
}

export interface Received {
  topic: string;
  text: string;
  retain: boolean;
}

/** Subscribes `client` to `filter` and collects every message; `waitFor` polls with a generous deadline. */
export async function collect(client: MqttClient, filter: string): Promise<{ messages: Received[]; waitFor(pred: (m: Received) => boolean, what: string, timeoutMs?: number): Promise<Received> }> {
  const messages: Received[] = [];
  client.on('message', (topic, payload, packet) => messages.push({ topic, text: payload.toString('utf8'), retain: packet.retain }));
  await client.subscribeAsync(filter, { qos: 1 });
  return {
    messages,
    async waitFor(pred, what, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const hit = messages.find(pred);
        if (hit) return hit;
        if (Date.now() > deadline) throw new Error(`no MQTT message: ${what}; got ${JSON.stringify(messages)}`);
        await sleep(25);
      }
    },
  };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}
