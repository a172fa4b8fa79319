/**
 * The uplink's TLS policy against real servers: TLS 1.2 or newer only, and trust limited to the
 * pinned CA unless the configuration adds the system roots (`trustSystemCas`).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rootCertificates } from 'node:tls';
import { createDevCa, issueDeviceCert, issueServerCert } from '../../provisioning/dev-ca.js';
import { FhirUplinkClient } from './fhir-client.js';
import { readTlsMaterial } from './tls-files.js';

const ca = createDevCa({ commonName: 'tls policy CA' });
const serverCert = issueServerCert(ca, { hostnames: ['localhost'], ips: ['127.0.0.1'] });
const device = issueDeviceCert(ca, { deviceId: 'dev-tls-policy' });

/** An HTTPS server that speaks only the given TLS versions and counts the requests it gets. */
async function legacyServer(minVersion: 'TLSv1' | 'TLSv1.1', maxVersion: 'TLSv1' | 'TLSv1.1'): Promise<{ url: string; requests: () => number; close(): Promise<void> }> {
  let requests = 0;
  // SECLEVEL=0: OpenSSL 3 refuses TLS 1.0/1.1 by default, and this server must offer them.
  const server = https.createServer({ cert: serverCert.certPem, key: serverCert.keyPem, minVersion, maxVersion, ciphers: 'DEFAULT@SECLEVEL=0' }, (_req, res) => {
    requests += 1;
    res.writeHead(200, { 'content-type': 'application/fhir+json' });
    res.end('{"resourceType":"Bundle","type":"transaction-response","entry":[]}');
  });
  server.on('tlsClientError', () => undefined);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://127.0.0.1:${port}/fhir/R4`,
    requests: () => requests,
    close: () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      return closed;
    },
  };
}

const bundle = { resourceType: 'Bundle', type: 'transaction', entry: [] };

describe('uplink TLS policy', () => {
  for (const version of ['TLSv1', 'TLSv1.1'] as const) {
    test(`a server that offers at most ${version} is refused before any request: auth, not transient`, async () => {
      const server = await legacyServer(version, version);
      const client = new FhirUplinkClient({ baseUrl: server.url, ca: ca.certPem, cert: device.certPem, key: device.keyPem, timeoutMs: 5000 });
      try {
        const r = await client.postBundle(bundle);
        assert.equal(r.outcome, 'auth', r.errorCode);
        assert.match(r.errorCode ?? '', /^ERR_SSL_/);
        assert.equal(server.requests(), 0);
      } finally {
        await client.close();
        await server.close();
      }
    });
  }

  describe('trust', () => {
    let dir: string;
    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'labedge-tls-policy-'));
      await writeFile(join(dir, 'ca.pem'), ca.certPem);
      await writeFile(join(dir, 'device.pem'), device.certPem);
      await writeFile(join(dir, 'device.key'), device.keyPem, { mode: 0o600 });
    });
    after(() => rm(dir, { recursive: true, force: true }));
    const files = (extra: { caFile?: string; trustSystemCas?: boolean } = {}) => ({ caFile: join(dir, 'ca.pem'), certFile: join(dir, 'device.pem'), keyFile: join(dir, 'device.key'), ...extra });

    test('by default only the pinned CA is trusted: no system roots', async () => {
      const m = await readTlsMaterial(files());
      assert.deepEqual(m.ca, [ca.certPem.trim()]);
    });

    test('trustSystemCas adds the system roots to the pinned CA, and makes the CA file optional', async () => {
      const both = await readTlsMaterial(files({ trustSystemCas: true }));
      assert.ok(Array.isArray(both.ca));
      assert.equal(both.ca.length, rootCertificates.length + 1);
      assert.ok(both.ca.includes(ca.certPem.trim()));
      const rootsOnly = await readTlsMaterial(files({ caFile: '', trustSystemCas: true }));
      assert.equal(rootsOnly.ca.length, rootCertificates.length);
      await assert.rejects(readTlsMaterial(files({ caFile: '' })), /holds no certificate/);
    });
  });
});
