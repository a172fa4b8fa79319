/**
 * `labedge queue drain` as an operator runs it: a child process against a store with a
 * backlog from several sources and the mutual-TLS harness server.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createDevCa, issueDeviceCert, issueServerCert } from '../../provisioning/dev-ca.js';
import { startFhirServer, type FhirTestServer } from '../harness/fhir-server.js';
import { canariesIn } from '../harness/canary.js';
import { QueueStore } from '../../gateway/store/queue-store.js';
import { createTransformStep } from '../../gateway/daemon/transform-worker.js';
import type { DaemonEvents } from '../../gateway/daemon/events.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function labedge(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'gateway/cli/main.ts'), ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

async function setup(messages: number): Promise<{ dir: string; config: string; dataDir: string; server: FhirTestServer; close(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'labedge-drain-'));
  const ca = createDevCa();
  const serverCert = issueServerCert(ca, { hostnames: ['localhost'], ips: ['127.0.0.1'] });
  const device = issueDeviceCert(ca, { deviceId: 'box-drain' });
  const server = await startFhirServer({ ca: ca.certPem, cert: serverCert.certPem, key: serverCert.keyPem });
  await writeFile(join(dir, 'ca.pem'), ca.certPem);
  await writeFile(join(dir, 'device.pem'), device.certPem);
  await writeFile(join(dir, 'device.key'), device.keyPem, { mode: 0o600 });
  const dataDir = join(dir, 'data');
  const config = join(dir, 'labedge.json');
  await writeFile(config, JSON.stringify({ deviceId: 'box-drain', dataDir, uplink: { baseUrl: server.url, caFile: 'ca.pem', certFile: 'device.pem', keyFile: 'device.key', timeoutMs: 5000, maxInFlight: 4 }, instruments: [] }));
  // A backlog as an outage leaves it: mapped bundles from three instruments.
  const store = await QueueStore.open({ dataDir, keyFile: join(dir, 'data-keys', 'kek') });
  for (let n = 0; n < messages; n++) {
    const source = `analyzer-${n % 3}`;
    const raw = ['H|\\^&|||Chem|||||||P|LIS2-A2', `P|1|CANARY-PID-93817`, `O|1|CANSPEC-${n}||^^^GLU|R`, `R|1|^^^GLU|${n}|mmol/L|3.9-6.1|N||F||||20261203101000`, 'L|1|N'].join('\r');
    await store.commitInbound({ sourceId: source, raw: Buffer.from(raw), receivedAt: Date.now() });
  }
  const step = createTransformStep({ store, instruments: new Map(), events: new EventEmitter<DaemonEvents>(), provenance: { deviceId: 'box-drain' } });
  while (await step());
  assert.equal((await store.stats()).outbound, messages);
  await store.close();
  return { dir, config, dataDir, server, close: async () => { await server.close(); await rm(dir, { recursive: true, force: true }); } };
}

test('queue drain --progress empties a backlog from several sources, in order, without duplicates', async (t) => {
  const s = await setup(24);
  t.after(() => s.close());
  const r = await labedge(['queue', 'drain', '--progress', '--data-dir', s.dataDir, '--config', s.config]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^drained 24 delivered, 0 dead-lettered, 0 left in [\d.]+ s \(\d+ bundles\/s\)\n$/);
  // Not a terminal: plain progress lines on stderr, the last one complete.
  const lines = r.stderr.trim().split('\n');
  assert.match(lines.at(-1) ?? '', /^drain: 24\/24 \(100%\), \d+ bundles\/s, ETA 0 s, delivered=24, dead-lettered=0$/);
  assert.deepEqual(canariesIn(r.stdout + r.stderr), []);
  const counts = await s.server.countByType();
  assert.equal(counts.Observation, 24);
  assert.equal(counts.Provenance, 24);
  const specimens = (await s.server.search('Specimen', '_count=100')).map((x) => JSON.stringify((x as { identifier?: unknown }).identifier));
  assert.equal(new Set(specimens).size, 24);
  // Per source, results reached the server in the order they were received.
  const observations = (await s.server.search('Observation', '_count=100')) as { identifier?: { system?: string }[]; valueQuantity?: { value?: number }; meta?: { lastUpdated?: string } }[];
  for (const source of ['analyzer-0', 'analyzer-1', 'analyzer-2']) {
    const mine = observations.filter((o) => o.identifier?.[0]?.system?.includes(source)).sort((a, b) => String(a.meta?.lastUpdated).localeCompare(String(b.meta?.lastUpdated)));
    const values = mine.map((o) => o.valueQuantity?.value ?? -1);
    assert.equal(values.length, 8);
    assert.deepEqual(values, [...values].sort((a, b) => a - b), source);
  }
  const again = await labedge(['queue', 'drain', '--data-dir', s.dataDir, '--config', s.config]);
  assert.equal(again.code, 0);
  assert.match(again.stdout, /^drained 0 delivered/);
});

test('queue drain stops with exit 1 when the server refuses our credentials, and keeps the data', async (t) => {
  const s = await setup(3);
  t.after(() => s.close());
  s.server.faults.push({ kind: 'status', status: 401 });
  const r = await labedge(['queue', 'drain', '--data-dir', s.dataDir, '--config', s.config]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^labedge: upstream refused our credentials \(401\)/);
  // The refused bundle is kept (other sources' bundles may have gone through before the pause).
  const m = /^drained (\d) delivered, 0 dead-lettered, (\d) left/.exec(r.stdout);
  assert.ok(m && Number(m[2]) >= 1 && Number(m[1]) + Number(m[2]) === 3, r.stdout);
  assert.equal((await labedge(['queue', 'drain', '--data-dir', s.dataDir])).code, 2, '--config is required');
});
