/**
 * What a hospital's server ends up holding after delivery, in `transaction` and in `batch`
 * mode: every reference between the entries of a Bundle resolved to a stored resource (no
 * urn:uuid left dangling), and one Provenance per message targeting exactly the resources the
 * message wrote, naming the box's Device and the SHA-256 of the raw message as received.
 * Real parts: the encrypted store, the transform step, the DeliveryWorker, the mTLS client and
 * the harness FHIR server.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Provenance, Resource } from '@medplum/fhirtypes';
import { createDevCa, issueDeviceCert, issueServerCert } from '../../provisioning/dev-ca.js';
import { startFhirServer } from '../harness/fhir-server.js';
import { QueueStore } from '../../gateway/store/queue-store.js';
import { createTransformStep, messageDigest } from '../../gateway/daemon/transform-worker.js';
import { DeliveryWorker } from '../../gateway/daemon/delivery-worker.js';
import { WorkLoop } from '../../gateway/daemon/work-loop.js';
import type { DaemonEvents } from '../../gateway/daemon/events.js';
import { FhirUplinkClient, type BundleType } from '../../gateway/uplink/fhir-client.js';
import { DEVICE_IDENTIFIER_SYSTEM, MESSAGE_DIGEST_SYSTEM } from '../../gateway/fhir/provenance.js';
import { softwareVersion } from '../../gateway/uplink/software-version.js';
import { silentLogger } from '../../gateway/core/logger.js';

const ca = createDevCa({ commonName: 'references CA' });
const serverCert = issueServerCert(ca, { hostnames: ['localhost'], ips: ['127.0.0.1'] });
const device = issueDeviceCert(ca, { deviceId: 'box-refs' });

const RAW = [
  ['H|\\^&|||Chem^c311^1.0|||||||P|LIS2-A2', 'P|1|REF-PID-1', 'O|1|REF-SPEC-1||^^^GLU\\^^^CREA|R', 'R|1|^^^GLU|5.5|mmol/L|3.9-6.1|N||F||||20261203101000', 'R|2|^^^CREA|71|umol/L|45-90|N||F||||20261203101000', 'L|1|N'],
  ['H|\\^&|||Chem^c311^1.0|||||||P|LIS2-A2', 'P|1|REF-PID-2', 'O|1|REF-SPEC-2||^^^GLU|R', 'R|1|^^^GLU|7.1|mmol/L|3.9-6.1|H||F||||20261203102000', 'L|1|N'],
].map((lines) => Buffer.from(lines.join('\r'), 'latin1'));

/** Every literal reference (`Type/id`) in a resource, contained and `#` references left out. */
function referencesIn(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) for (const v of value) referencesIn(v, out);
  else if (typeof value === 'object' && value !== null) {
    for (const [k, v] of Object.entries(value)) {
      if (k === 'reference' && typeof v === 'string' && !v.startsWith('#')) out.push(v);
      else if (k !== 'contained') referencesIn(v, out);
    }
  }
  return out;
}

for (const bundleType of ['transaction', 'batch'] as BundleType[]) {
  test(`${bundleType}: references resolve to stored resources; one Provenance per message with device, digest, time and version`, async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'labedge-refs-'));
    const server = await startFhirServer({ ca: ca.certPem, cert: serverCert.certPem, key: serverCert.keyPem });
    const store = await QueueStore.open({ dataDir: join(dir, 'data'), keyFile: join(dir, 'keys', 'kek') });
    const client = new FhirUplinkClient({ baseUrl: server.url, ca: ca.certPem, cert: device.certPem, key: device.keyPem, bundleType, timeoutMs: 10_000 });
    const events = new EventEmitter<DaemonEvents>();
    const worker: DeliveryWorker = new DeliveryWorker({ store, client, events, logger: silentLogger(), wake: () => loop.wake(), baseDelayMs: 20, capDelayMs: 200 });
    const loop: WorkLoop = new WorkLoop(worker.step, (e) => assert.fail(e as Error));
    t.after(async () => {
      await worker.stop();
      await loop.stop();
      await client.close();
      await server.close();
      await store.close();
      await rm(dir, { recursive: true, force: true });
    });
    for (const raw of RAW) await store.commitInbound({ sourceId: 'chem-1', raw, receivedAt: Date.now() });
    const transform = createTransformStep({ store, instruments: new Map(), events, provenance: { deviceId: 'box-refs' } });
    while (await transform());
    loop.wake();
    const deadline = Date.now() + 30_000;
    while ((await store.stats()).outbound > 0) {
      assert.ok(Date.now() < deadline, 'not delivered');
      await sleep(20);
    }
    assert.equal((await store.stats()).deadLetter, 0);

    const stored = new Map<string, Resource>();
    for (const type of ['Patient', 'Specimen', 'ServiceRequest', 'Observation', 'DiagnosticReport', 'Device', 'Provenance']) {
      for (const r of await server.search(type, '_count=1000')) stored.set(`${r.resourceType}/${r.id}`, r);
    }
    // No dangling references: every literal reference names a resource the server holds.
    for (const [key, r] of stored) {
      for (const ref of referencesIn(r)) assert.ok(stored.has(ref.replace(/\/_history\/.*$/, '')), `${key} refers to ${ref}, which is not on the server`);
    }
    const observations = [...stored.values()].filter((r) => r.resourceType === 'Observation');
    assert.equal(observations.length, 3);
    for (const o of observations) assert.match(String((o as { subject?: { reference?: string } }).subject?.reference), /^Patient\//);

    const provenances = [...stored.values()].filter((r): r is Provenance => r.resourceType === 'Provenance');
    assert.equal(provenances.length, RAW.length, 'one Provenance per message');
    const digests = provenances.map((p) => p.entity?.[0]?.what.identifier);
    assert.deepEqual(new Set(digests.map((d) => `${d?.system}|${d?.value}`)), new Set(RAW.map((raw) => `${MESSAGE_DIGEST_SYSTEM}|${messageDigest(raw)}`)));
    const targeted = new Set<string>();
    for (const p of provenances) {
      assert.deepEqual(p.agent[0]?.who?.identifier, { system: DEVICE_IDENTIFIER_SYSTEM, value: 'box-refs' });
      assert.deepEqual((p.contained?.[0] as { version?: unknown }).version, [{ value: softwareVersion() }]);
      assert.ok(Math.abs(Date.parse(p.recorded) - Date.now()) < 10 * 60_000, 'recorded is the time the box built the bundle');
      for (const target of p.target) {
        assert.match(String(target.reference), /^[A-Za-z]+\/[^/]+/, 'a literal reference, resolved on the server');
        targeted.add(String(target.reference));
      }
    }
    // Together the Provenances cover every result the messages wrote.
    for (const o of observations) assert.ok(targeted.has(`Observation/${o.id}`), `Observation/${o.id} has no Provenance`);
  });
}
