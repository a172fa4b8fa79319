/**
 * Upstream faults through the real pipeline minus the serial line: raw ASTM committed to the
 * encrypted store → transform (with Provenance) → DeliveryWorker → FhirUplinkClient (mTLS,
 * files watched for renewal) → the harness FHIR server. Complements uplink-faults.test.ts
 * (which drives 500, 503 + Retry-After, 429, resets, 422 and 401/403 through the daemon) with
 * the faults it does not cover: slow responses past the timeout, bad server certificates,
 * a client certificate the server does not accept, renewal while bundles are in flight, and
 * a correction replacing its result. Every test ends with: nothing lost (all delivered or
 * dead-lettered on purpose), nothing duplicated (resources counted by identifier).
 */
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createDevCa, issueDeviceCert, issueServerCert, type CertAndKey, type DevCa } from '../../provisioning/dev-ca.js';
import { startFhirServer, type FhirTestServer } from '../harness/fhir-server.js';
import { CANARIES } from '../harness/canary.js';
import { QueueStore } from '../../gateway/store/queue-store.js';
import { createTransformStep } from '../../gateway/daemon/transform-worker.js';
import { DeliveryWorker } from '../../gateway/daemon/delivery-worker.js';
import { WorkLoop } from '../../gateway/daemon/work-loop.js';
import type { DaemonEvents } from '../../gateway/daemon/events.js';
import { openUplink, type OpenedUplink } from '../../gateway/uplink/open-uplink.js';
import { silentLogger } from '../../gateway/core/logger.js';
import type { UplinkConfig } from '../../gateway/config/config.js';

interface Rig {
  dir: string;
  ca: DevCa;
  server: FhirTestServer;
  store: QueueStore;
  uplink: OpenedUplink;
  events: EventEmitter<DaemonEvents>;
  log: string[];
  files: { caFile: string; certFile: string; keyFile: string };
  /** Commits raw messages and lets transform + delivery run. */
  send(sourceId: string, ...specs: { specimen: string; value?: string; status?: 'F' | 'C' }[]): Promise<void>;
  until(what: string, done: () => boolean | Promise<boolean>, ms?: number): Promise<void>;
  writeDevice(cert: CertAndKey): Promise<void>;
  restartServer(cert: CertAndKey): Promise<void>;
}

function message(spec: { specimen: string; value?: string; status?: 'F' | 'C' }): Buffer {
  return Buffer.from(
    ['H|\\^&|||Chem|||||||P|LIS2-A2', `P|1|${CANARIES[2]}`, `O|1|${spec.specimen}||^^^GLU|R`, `R|1|^^^GLU|${spec.value ?? '5.5'}|mmol/L|3.9-6.1|N||${spec.status ?? 'F'}||||20261203101000`, 'L|1|N'].join('\r'),
    'latin1',
  );
}

// RSA key generation is the slow part of a rig: one CA and one set of certificates for the file.
const sharedCa = createDevCa({ commonName: 'uplink integration CA' });
const goodServer = issueServerCert(sharedCa, { hostnames: ['localhost'], ips: ['127.0.0.1'] });
const goodDevice = issueDeviceCert(sharedCa, { deviceId: 'box-it' });

async function rig(t: TestContext, opts: { device?: (ca: DevCa) => CertAndKey; server?: (ca: DevCa) => CertAndKey; timeoutMs?: number; uplink?: Partial<UplinkConfig> } = {}): Promise<Rig> {
  const dir = await mkdtemp(join(tmpdir(), 'labedge-uplink-'));
  const ca = sharedCa;
  const files = { caFile: join(dir, 'ca.pem'), certFile: join(dir, 'device.pem'), keyFile: join(dir, 'device.key') };
  const writeDevice = async (cert: CertAndKey): Promise<void> => {
    // As renewal does: new files renamed over the old ones, key first.
    await writeFile(`${files.keyFile}.new`, cert.keyPem, { mode: 0o600 });
    await writeFile(`${files.certFile}.new`, cert.certPem);
    await rename(`${files.keyFile}.new`, files.keyFile);
    await rename(`${files.certFile}.new`, files.certFile);
  };
  await writeFile(files.caFile, ca.certPem);
  await writeDevice(opts.device?.(ca) ?? goodDevice);
  const serverCert = opts.server?.(ca) ?? goodServer;
  let server = await startFhirServer({ ca: ca.certPem, cert: serverCert.certPem, key: serverCert.keyPem });
  const store = await QueueStore.open({ dataDir: join(dir, 'data'), keyFile: join(dir, 'keys', 'kek') });
  const uplink = await openUplink({ baseUrl: server.url, ...files, timeoutMs: opts.timeoutMs ?? 5000, maxInFlight: 4, ...opts.uplink }, { logger: silentLogger() });
  const events = new EventEmitter<DaemonEvents>();
  const log: string[] = [];
  events.on('delivered', () => log.push('delivered'));
  events.on('delivery-failed', (e) => log.push(`${e.outcome}:${e.status ?? 'net'}`));
  events.on('dead-lettered', (e) => log.push(`dead-letter:${e.status}`));
  events.on('uplink-alarm', (e) => log.push(`alarm:${e.kind}:${e.active ? 'on' : 'off'}`));
  const worker = new DeliveryWorker({ store, client: uplink.client, events, logger: silentLogger(), wake: () => deliveryLoop.wake(), baseDelayMs: 20, capDelayMs: 400, maxInFlight: 4 });
  const deliveryLoop: WorkLoop = new WorkLoop(worker.step, (e) => log.push(`error:${String(e)}`));
  const transform = createTransformStep({ store, instruments: new Map(), events, provenance: { deviceId: 'box-it' } });
  const transformLoop = new WorkLoop(async () => {
    const more = await transform();
    deliveryLoop?.wake();
    return more;
  }, (e) => log.push(`error:${String(e)}`));
  t.after(async () => {
    await transformLoop.stop();
    await worker.stop();
    await deliveryLoop?.stop();
    await uplink.close();
    await server.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  const r: Rig = {
    dir, ca, store, uplink, events, log, files, writeDevice,
    get server() {
      return server;
    },
    async send(sourceId, ...specs) {
      for (const spec of specs) await store.commitInbound({ sourceId, raw: message(spec), receivedAt: Date.now() });
      transformLoop.wake();
    },
    async until(what, done, ms = 15_000) {
      const deadline = Date.now() + ms;
      while (!(await done())) {
        assert.ok(Date.now() < deadline, `timed out waiting for ${what}; events: ${log.join(', ')}`);
        await sleep(20);
      }
    },
    async restartServer(cert) {
      const port = server.port;
      await server.close();
      server = await startFhirServer({ ca: ca.certPem, cert: cert.certPem, key: cert.keyPem, port });
    },
  };
  return r;
}

const empty = (store: QueueStore) => async (): Promise<boolean> => {
  const s = await store.stats();
  return s.inbound === 0 && s.outbound === 0;
};

/** Each resource type's identifiers (or Provenance tags) are unique upstream. */
async function assertNoDuplicates(server: FhirTestServer, expectedObservations: number): Promise<void> {
  const counts = await server.countByType();
  for (const type of ['Observation', 'Specimen', 'Patient', 'DiagnosticReport', 'ServiceRequest', 'Device']) {
    const keys = (await server.search(type, '_count=1000')).map((r) => JSON.stringify((r as { identifier?: unknown }).identifier));
    assert.equal(new Set(keys).size, keys.length, `duplicate ${type}`);
  }
  const tags = (await server.search('Provenance', '_count=1000')).map((r) => JSON.stringify(r.meta?.tag));
  assert.equal(new Set(tags).size, tags.length, 'duplicate Provenance');
  assert.equal(counts.Observation ?? 0, expectedObservations);
}

// Each test has its own CA, server, store and client: they run side by side.
describe('uplink delivery faults', { concurrency: true }, () => {
  test('a server slower than the timeout: retried, and the late commit plus the retry leave one copy', async (t) => {
    const r = await rig(t, { timeoutMs: 300 });
    r.server.faults.push({ kind: 'delay', ms: 1500 });
    await r.send('chem-1', { specimen: 'SLOW-1' });
    await r.until('delivered', empty(r.store));
    assert.equal(r.log[0], 'transient:net');
    assert.ok(r.log.includes('delivered'));
    await r.until('the slow request finished on the server', () => r.server.requests[0]?.status === 200);
    await assertNoDuplicates(r.server, 1);
  });

  test('422 with an OperationOutcome: dead-lettered with a PHI-free reason; the next message goes through', async (t) => {
    const r = await rig(t);
    const oo = { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'invalid', expression: ['Observation.valueQuantity'], diagnostics: `rejected ${CANARIES[2]}` }] };
    r.server.faults.push({ kind: 'status', status: 422, body: oo });
    await r.send('chem-1', { specimen: 'BAD-1' }, { specimen: 'GOOD-1' });
    await r.until('both done', empty(r.store));
    assert.deepEqual(r.log, ['dead-letter:422', 'delivered']);
    const [dl] = await r.store.listDeadLetters();
    assert.equal(dl?.reasonCode, 'upstream-422');
    assert.equal(dl?.detail, 'error invalid @Observation.valueQuantity');
    for (const c of CANARIES) assert.ok(!JSON.stringify({ reason: dl?.reasonCode, detail: dl?.detail, log: r.log }).includes(c));
    await assertNoDuplicates(r.server, 1);
  });

  for (const [name, bad] of [
    ['an expired server certificate', (ca: DevCa) => issueServerCert(ca, { hostnames: ['localhost'], ips: ['127.0.0.1'], notBefore: new Date(Date.now() - 2 * 86_400_000), notAfter: new Date(Date.now() - 86_400_000) })],
    ['a server certificate signed by another CA', () => issueServerCert(createDevCa({ commonName: 'rogue CA' }), { hostnames: ['localhost'], ips: ['127.0.0.1'] })],
  ] as const) {
    test(`${name}: auth alarm, delivery paused, nothing dead-lettered; delivered once the server is fixed`, async (t) => {
      const r = await rig(t, { server: bad });
      await r.send('chem-1', { specimen: 'TLS-1' });
      await r.send('chem-2', { specimen: 'TLS-2' });
      await r.until('the auth alarm', () => r.log.includes('alarm:auth:on'));
      await sleep(200);
      assert.ok(r.log.every((e) => e.startsWith('auth:') || e === 'alarm:auth:on'), r.log.join(', '));
      assert.equal(r.server.requests.length, 0);
      await r.restartServer(goodServer);
      await r.until('delivered', empty(r.store));
      assert.ok(r.log.includes('alarm:auth:off'));
      assert.equal((await r.store.stats()).deadLetter, 0);
      await assertNoDuplicates(r.server, 2);
    });
  }

  test('a server that requires a client certificate the box lacks: auth (TLS 1.3 refusal detected); a renewed certificate fixes it', async (t) => {
    const r = await rig(t, { device: () => issueDeviceCert(createDevCa({ commonName: 'foreign CA' }), { deviceId: 'box-it' }) });
    await r.send('chem-1', { specimen: 'MTLS-1' });
    await r.until('the auth alarm', () => r.log.includes('alarm:auth:on'));
    // TLS 1.3: the refusal usually looks like a reset, so it takes the probe's threshold (3)
    // attempts to call it auth; should the server's alert reach the client first, it is auth at once.
    const attempts = r.log.filter((e) => !e.startsWith('alarm'));
    const firstAuth = attempts.indexOf('auth:net');
    assert.ok(firstAuth >= 0 && firstAuth <= 2, attempts.join(', '));
    assert.deepEqual(attempts.slice(0, firstAuth), Array(firstAuth).fill('transient:net'));
    assert.equal(r.server.requests.length, 0);
    assert.ok(r.server.tlsErrors.length >= firstAuth + 1);
    await r.writeDevice(goodDevice);
    await r.until('delivered after renewal', empty(r.store));
    assert.ok(r.log.includes('alarm:auth:off'));
    assert.equal((await r.store.stats()).deadLetter, 0);
    await assertNoDuplicates(r.server, 1);
  });

  test('renewing the device certificate while bundles are in flight: nothing fails, delivery continues on the new certificate', async (t) => {
    const r = await rig(t);
    const oldSerial = new X509Certificate(await readFile(r.files.certFile, 'utf8')).serialNumber;
    const renewed = issueDeviceCert(r.ca, { deviceId: 'box-it' });
    const newSerial = new X509Certificate(renewed.certPem).serialNumber;
    // The first four bundles are held on the server (no timing) until the renewal is in place.
    let release = (): void => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    for (let i = 0; i < 4; i++) r.server.faults.push({ kind: 'hold', until: held });
    for (const source of ['chem-1', 'chem-2', 'chem-3', 'chem-4']) await r.send(source, ...[1, 2, 3].map((n) => ({ specimen: `${source}-S${n}` })));
    await r.until('four bundles in flight', () => r.server.requests.length >= 4);
    await r.writeDevice(renewed);
    // What the file watcher does after its debounce (tls-reload.test.ts covers the watcher);
    // called here so the swap has certainly happened before the held bundles are answered.
    await r.uplink.reload();
    release();
    await r.until('all delivered', empty(r.store));
    assert.deepEqual(r.log.filter((e) => e !== 'delivered'), [], 'no delivery failed because of the swap');
    const serials = r.server.requests.map((q) => q.clientSerial);
    assert.equal(serials.length, 12);
    assert.deepEqual(serials.slice(0, 4), Array(4).fill(oldSerial), 'in-flight bundles finished on the old certificate');
    assert.deepEqual(serials.slice(4), Array(8).fill(newSerial), 'every later bundle used the renewed certificate');
    assert.ok(r.server.requests.every((q) => q.clientCn === 'box-it'));
    await assertNoDuplicates(r.server, 12);
  });

  test('a corrected result (R.9 = C) replaces the final one upstream instead of adding a second', async (t) => {
    const r = await rig(t);
    await r.send('chem-1', { specimen: 'CORR-1', value: '5.5', status: 'F' });
    await r.until('first delivered', empty(r.store));
    await r.send('chem-1', { specimen: 'CORR-1', value: '6.1', status: 'C' });
    await r.until('correction delivered', empty(r.store));
    const [obs] = (await r.server.search('Observation')) as { status?: string; valueQuantity?: { value?: number } }[];
    assert.deepEqual([obs?.status, obs?.valueQuantity?.value], ['corrected', 6.1]);
    await assertNoDuplicates(r.server, 1);
    assert.equal((await r.server.countByType()).Provenance, 2, 'one Provenance per message: the correction has its own');
  });

  test('batch mode end to end: a backlog from three sources with transient faults, delivered once each', async (t) => {
    const r = await rig(t, { uplink: { bundleType: 'batch' } });
    r.server.faults.push({ kind: 'status', status: 500 }, { kind: 'reset', afterCommit: true }, { kind: 'status', status: 429, retryAfter: '0' });
    for (const source of ['chem-1', 'chem-2', 'chem-3']) await r.send(source, { specimen: `${source}-B1` }, { specimen: `${source}-B2` });
    await r.until('all delivered', empty(r.store));
    assert.equal(r.log.filter((e) => e === 'delivered').length, 6);
    assert.equal((await r.store.stats()).deadLetter, 0);
    await assertNoDuplicates(r.server, 6);
  });
});
