import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createDevCa, issueDeviceCert, issueServerCert } from '../../provisioning/dev-ca.js';
import { startFhirServer, type FhirServerOptions, type FhirTestServer } from './fhir-server.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface Upstream {
  fhir: FhirTestServer;
  files: { ca: string; cert: string; key: string };
  close(): Promise<void>;
}

/** A development CA, a FHIR server demanding client certificates, and the device's credentials on disk. */
export async function startUpstream(dir: string, serverOptions: Pick<FhirServerOptions, 'onCommitted'> = {}): Promise<Upstream> {
  await mkdir(dir, { recursive: true });
  const ca = createDevCa({ commonName: 'labedge test CA' });
  const server = issueServerCert(ca, { hostnames: ['localhost'], ips: ['127.0.0.1'] });
  const device = issueDeviceCert(ca, { deviceId: 'labedge-test' });
  const files = { ca: join(dir, 'ca.pem'), cert: join(dir, 'device.pem'), key: join(dir, 'device.key') };
  await writeFile(files.ca, ca.certPem);
  await writeFile(files.cert, device.certPem);
  await writeFile(files.key, device.keyPem, { mode: 0o600 });
  const fhir = await startFhirServer({ ca: ca.certPem, cert: server.certPem, key: server.keyPem, ...serverOptions });
  return { fhir, files, close: () => fhir.close() };
}

export async function writeDaemonConfig(
  dir: string,
  options: {
    upstream: Upstream;
    instruments: { id: string; path: string; baudRate?: number }[];
    dataDir?: string;
    /** More top-level config fields (e.g. `store` limits), merged in as they are. */
    extra?: Record<string, unknown>;
  },
): Promise<string> {
  const config = {
    deviceId: 'labedge-test',
    dataDir: options.dataDir ?? join(dir, 'data'),
    logLevel: 'info',
    timeZone: 'Europe/Berlin',
    uplink: { baseUrl: options.upstream.fhir.url, caFile: options.upstream.files.ca, certFile: options.upstream.files.cert, keyFile: options.upstream.files.key, timeoutMs: 5000 },
    instruments: options.instruments.map((i) => ({
      id: i.id,
      protocol: 'astm',
      transport: { type: 'serial', path: i.path, baudRate: i.baudRate ?? 9600, dataBits: 8, parity: 'none', stopBits: 1 },
    })),
    ...options.extra,
  };
  const file = join(dir, 'labedge.json');
  await writeFile(file, JSON.stringify(config, null, 2));
  return file;
}

export interface DaemonProcess {
  child: ChildProcess;
  /** Everything the daemon wrote to stdout and stderr so far. */
  output(): string;
  /** Resolves when a line containing `text` has been logged. */
  waitFor(text: string, timeoutMs?: number): Promise<void>;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** Runs `labedge run --config FILE` from source in a child process, as an operator would. */
export function spawnDaemon(configFile: string, extraArgs: string[] = []): DaemonProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'gateway/cli/main.ts'), 'run', '--config', configFile, ...extraArgs], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, LABEDGE_LOG_LEVEL: 'debug' },
  });
  let out = '';
  const watchers: { text: string; resolve: () => void }[] = [];
  const onData = (chunk: Buffer) => {
    out += chunk.toString('utf8');
    for (const w of watchers.slice()) {
      if (out.includes(w.text)) {
        watchers.splice(watchers.indexOf(w), 1);
        w.resolve();
      }
    }
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    child,
    output: () => out,
    waitFor(text, timeoutMs = 20_000) {
      if (out.includes(text)) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`daemon did not log "${text}" within ${timeoutMs} ms; output:\n${out.slice(-2000)}`)), timeoutMs);
        watchers.push({ text, resolve: () => (clearTimeout(timer), resolve()) });
        void exited.then(() => {
          clearTimeout(timer);
          if (!out.includes(text)) reject(new Error(`daemon exited before logging "${text}"; output:\n${out.slice(-2000)}`));
        });
      });
    },
    async kill(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill(signal);
        await exited;
      }
    },
  };
}
