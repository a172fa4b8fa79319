import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { createDevCa, issueDeviceCert, issueServerCert, writePki } from './dev-ca.js';
import { isLabedgeError } from '../gateway/core/errors.js';

const exec = promisify(execFile);

const ca = createDevCa({ commonName: 'labedge test CA' });
const server = issueServerCert(ca, { hostnames: ['localhost', 'fhir.lab.test'], ips: ['127.0.0.1', '::1'] });
const device = issueDeviceCert(ca, { deviceId: 'dev-0042' });

async function withPkiDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'labedge-pki-'));
  try {
    return await fn(join(dir, 'pki'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function opensslVerify(caPath: string, certPath: string, purpose: string): Promise<string> {
  const { stdout } = await exec('openssl', ['verify', '-purpose', purpose, '-CAfile', caPath, certPath]);
  return stdout.trim();
}

test('the CA is a self-signed CA allowed to sign certificates', () => {
  const x = new X509Certificate(ca.certPem);
  assert.equal(x.ca, true);
  assert.equal(x.subject.includes('CN=labedge test CA'), true);
  assert.equal(x.checkIssued(x), true);
  assert.equal(x.verify(x.publicKey), true);
});

test('server and device certificates carry the right names and purposes', () => {
  const s = new X509Certificate(server.certPem);
  assert.equal(s.ca, false);
  assert.equal(s.checkHost('localhost'), 'localhost');
  assert.equal(s.checkHost('fhir.lab.test'), 'fhir.lab.test');
  assert.equal(s.checkIP('127.0.0.1'), '127.0.0.1');
  assert.equal(s.checkHost('other.test'), undefined);
  assert.deepEqual(s.keyUsage, ['1.3.6.1.5.5.7.3.1']);
  assert.equal(s.checkIssued(new X509Certificate(ca.certPem)), true);

  const d = new X509Certificate(device.certPem);
  assert.match(d.subject, /CN=dev-0042/);
  assert.deepEqual(d.keyUsage, ['1.3.6.1.5.5.7.3.2']);
  assert.equal(d.verify(new X509Certificate(ca.certPem).publicKey), true);
});

test('openssl verify accepts both certificates for their purpose, and rejects a foreign CA', async () => {
  await withPkiDir(async (dir) => {
    const other = createDevCa({ commonName: 'someone else' });
    const paths = await writePki(dir, { ca, server, device, other });
    assert.match(await opensslVerify(paths.ca!.certPath, paths.server!.certPath, 'sslserver'), /: OK$/);
    assert.match(await opensslVerify(paths.ca!.certPath, paths.device!.certPath, 'sslclient'), /: OK$/);
    await assert.rejects(opensslVerify(paths.other!.certPath, paths.server!.certPath, 'sslserver'));
    // Purpose is enforced: a device certificate is not a server certificate.
    await assert.rejects(opensslVerify(paths.ca!.certPath, paths.device!.certPath, 'sslserver'));
  });
});

test('writePki writes keys 0600 and certificates 0644', async () => {
  await withPkiDir(async (dir) => {
    const paths = await writePki(dir, { device });
    assert.equal((await stat(paths.device!.keyPath)).mode & 0o777, 0o600);
    assert.equal((await stat(paths.device!.certPath)).mode & 0o777, 0o644);
    assert.equal((await stat(dir)).mode & 0o777, 0o700);
    await assert.rejects(writePki(dir, { '../escape': device }), isLabedgeError);
  });
});

test('validity overrides make an expired certificate that openssl rejects', async () => {
  const now = Date.now();
  const expired = issueServerCert(ca, {
    hostnames: ['localhost'],
    notBefore: new Date(now - 3 * 86_400_000),
    notAfter: new Date(now - 86_400_000),
  });
  const x = new X509Certificate(expired.certPem);
  assert.ok(new Date(x.validTo).getTime() < now);
  await withPkiDir(async (dir) => {
    const paths = await writePki(dir, { ca, expired });
    await assert.rejects(opensslVerify(paths.ca!.certPath, paths.expired!.certPath, 'sslserver'), /expired/);
  });
});

test('bad options are rejected with a clear error', () => {
  assert.throws(() => issueDeviceCert(ca, { deviceId: '' }), isLabedgeError);
  assert.throws(() => issueDeviceCert(ca, { deviceId: 'Smith, John' }), isLabedgeError);
  assert.throws(() => issueServerCert(ca, { hostnames: [] }), isLabedgeError);
  assert.throws(() => issueServerCert(ca, { hostnames: ['bad host'] }), isLabedgeError);
  assert.throws(() => issueServerCert(ca, { hostnames: [], ips: ['300.1.1.1'] }), isLabedgeError);
  assert.throws(() => createDevCa({ days: 0 }), isLabedgeError);
});

test('a Node TLS server and client handshake with mutual authentication', async () => {
  const srv = tls.createServer({
    ca: ca.certPem,
    cert: server.certPem,
    key: server.keyPem,
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: 'TLSv1.2',
  });
  const peers: string[] = [];
  srv.on('secureConnection', (socket) => {
    peers.push(String(socket.getPeerCertificate().subject?.CN));
    socket.end('hello');
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address() as AddressInfo;
  try {
    const client = tls.connect({ host: '127.0.0.1', port, ca: ca.certPem, cert: device.certPem, key: device.keyPem, rejectUnauthorized: true });
    await once(client, 'secureConnect');
    assert.equal(client.authorized, true);
    assert.equal(client.getPeerCertificate().subject?.CN, 'localhost');
    const chunks: Buffer[] = [];
    client.on('data', (c: Buffer) => chunks.push(c));
    await once(client, 'end');
    client.destroy();
    assert.equal(Buffer.concat(chunks).toString(), 'hello');
    assert.deepEqual(peers, ['dev-0042']);

    // A client certificate from another CA is refused by the server: Node's TLS server checks
    // the chain after the TLS 1.3 handshake and drops the socket (no alert), so the client
    // sees the connection end (or an error) and never receives data.
    const other = createDevCa({ commonName: 'someone else' });
    const stranger = issueDeviceCert(other, { deviceId: 'dev-9999' });
    const bad = tls.connect({ host: '127.0.0.1', port, ca: ca.certPem, cert: stranger.certPem, key: stranger.keyPem });
    const received: Buffer[] = [];
    bad.on('data', (c: Buffer) => received.push(c));
    bad.on('error', () => undefined);
    await once(bad, 'close');
    assert.equal(received.length, 0);
    assert.deepEqual(peers, ['dev-0042']);
  } finally {
    await new Promise((resolve) => srv.close(resolve));
  }
});
