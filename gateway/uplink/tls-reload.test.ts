/**
 * Device certificate renewal without dropping work, against the mutual-TLS harness server
 * (which records the client certificate's serial per request).
 */
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createDevCa, issueDeviceCert, issueServerCert, type CertAndKey } from '../../provisioning/dev-ca.js';
import { startFhirServer, type FhirTestServer } from '../../test/harness/fhir-server.js';
import { silentLogger } from '../core/logger.js';
import { isLabedgeError } from '../core/errors.js';
import { FhirUplinkClient } from './fhir-client.js';
import { openUplink } from './open-uplink.js';

const ca = createDevCa({ commonName: 'renewal test CA' });
const serverCert = issueServerCert(ca, { hostnames: ['localhost'], ips: ['127.0.0.1'] });
const serialOf = (c: CertAndKey): string => new X509Certificate(c.certPem).serialNumber;
const bundle = { resourceType: 'Bundle', type: 'transaction', entry: [{ fullUrl: 'urn:uuid:9a1b5c2e-0000-4000-8000-000000000002', resource: { resourceType: 'Device', identifier: [{ system: 'urn:x', value: 'd' }] }, request: { method: 'POST', url: 'Device', ifNoneExist: 'identifier=urn:x|d' } }] };

describe('device certificate renewal', () => {
  let server: FhirTestServer;
  let dir: string;
  before(async () => {
    server = await startFhirServer({ ca: ca.certPem, cert: serverCert.certPem, key: serverCert.keyPem });
    dir = await mkdtemp(join(tmpdir(), 'labedge-renew-'));
  });
  after(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });
  beforeEach(() => server.clear());

  test('reloadTls: requests in flight finish on the old certificate, new ones use the new certificate', async () => {
    const old = issueDeviceCert(ca, { deviceId: 'box-1' });
    const renewed = issueDeviceCert(ca, { deviceId: 'box-1' });
    const client = new FhirUplinkClient({ baseUrl: server.url, ca: ca.certPem, cert: old.certPem, key: old.keyPem });
    try {
      server.faults.push({ kind: 'delay', ms: 700 }, { kind: 'delay', ms: 700 }, { kind: 'delay', ms: 700 });
      const slow = [0, 1, 2].map(() => client.postBundle(bundle));
      while (server.requests.length < 3) await sleep(10); // all three are on the server, waiting
      client.reloadTls({ ca: ca.certPem, cert: renewed.certPem, key: renewed.keyPem });
      const fresh = await Promise.all([0, 1, 2].map(() => client.postBundle(bundle)));
      assert.deepEqual(fresh.map((r) => r.outcome), ['ok', 'ok', 'ok']);
      assert.deepEqual((await Promise.all(slow)).map((r) => r.outcome), ['ok', 'ok', 'ok'], 'in-flight requests were not dropped');
      const bySerial = (fault: boolean) => server.requests.filter((r) => (r.fault === 'delay') === fault).map((r) => r.clientSerial);
      assert.deepEqual(bySerial(true), Array(3).fill(serialOf(old)));
      assert.deepEqual(bySerial(false), Array(3).fill(serialOf(renewed)));
      assert.ok(server.requests.every((r) => r.clientCn === 'box-1'));
      assert.equal((await server.countByType()).Device, 1);
      assert.throws(() => client.reloadTls({ ca: ca.certPem, cert: renewed.certPem, key: old.keyPem }), isLabedgeError, 'a mismatched pair is refused');
    } finally {
      await client.close();
    }
  });

  test('openUplink watches the files: a renewal written to disk is picked up; a half-written pair waits for its key', async () => {
    const files = { caFile: join(dir, 'ca.pem'), certFile: join(dir, 'device.pem'), keyFile: join(dir, 'device.key') };
    const first = issueDeviceCert(ca, { deviceId: 'box-2' });
    await writeFile(files.caFile, ca.certPem);
    await writeFile(files.certFile, first.certPem);
    await writeFile(files.keyFile, first.keyPem, { mode: 0o600 });
    const renewals: { serial: string; certSha256: string }[] = [];
    const uplink = await openUplink({ baseUrl: server.url, ...files, timeoutMs: 5000 }, { logger: silentLogger(), onRenewed: (c) => renewals.push(c) });
    const lastSerial = async (): Promise<string | undefined> => {
      assert.equal((await uplink.client.postBundle(bundle)).outcome, 'ok');
      return server.requests.at(-1)?.clientSerial;
    };
    try {
      assert.equal(await lastSerial(), serialOf(first));
      const second = issueDeviceCert(ca, { deviceId: 'box-2' });
      // The certificate lands first (its key is not there yet): not applied, delivery goes on.
      await writeFile(`${files.certFile}.tmp`, second.certPem);
      await rename(`${files.certFile}.tmp`, files.certFile);
      await sleep(600);
      assert.equal(await lastSerial(), serialOf(first));
      await writeFile(`${files.keyFile}.tmp`, second.keyPem, { mode: 0o600 });
      await rename(`${files.keyFile}.tmp`, files.keyFile);
      let serial: string | undefined;
      for (let i = 0; i < 50 && serial !== serialOf(second); i++) {
        await sleep(100);
        serial = await lastSerial();
      }
      assert.equal(serial, serialOf(second));
      assert.equal(await uplink.reload(), false, 'nothing new to apply');
      // Reported once, for the audit trail's renewal entry: by serial and digest, never content.
      assert.deepEqual(renewals.map((r) => r.serial), [serialOf(second)]);
      assert.match(renewals[0]?.certSha256 ?? '', /^[0-9a-f]{64}$/);
    } finally {
      await uplink.close();
    }
  });
});
