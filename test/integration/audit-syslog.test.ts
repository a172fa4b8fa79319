import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type TLSSocket } from 'node:tls';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { auditStoreKit, fillChain, type AuditStoreKit } from '../harness/audit-kit.js';
import { CANARIES, canariesIn } from '../harness/canary.js';
import { runInProcess } from '../harness/phi-scan.js';
import { auditCommand } from '../../gateway/cli/cmd-audit.js';
import { createDevCa, issueDeviceCert, issueServerCert, writePki, type DevCa } from '../../provisioning/dev-ca.js';
import { parseSyslogUrl } from '../../gateway/audit/syslog-sender.js';

/** A real audit record repository stand-in: syslog over TLS (RFC 5425) that demands a client certificate. */
interface Repository {
  port: number;
  messages: string[];
  clients: string[];
  close(): Promise<void>;
}

async function startRepository(ca: DevCa, server = issueServerCert(ca, { hostnames: ['localhost'], ips: ['127.0.0.1'] })): Promise<Repository> {
  const messages: string[] = [];
  const clients: string[] = [];
  const tls: Server = createServer({ ca: ca.certPem, cert: server.certPem, key: server.keyPem, requestCert: true, rejectUnauthorized: true }, (socket: TLSSocket) => {
    clients.push(String(socket.getPeerCertificate().subject?.CN ?? ''));
    let buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      // Octet counting: MSG-LEN SP SYSLOG-MSG.
      for (;;) {
        const space = buffer.indexOf(0x20);
        if (space < 0) break;
        const length = Number(buffer.subarray(0, space).toString('ascii'));
        if (buffer.length < space + 1 + length) break;
        messages.push(buffer.subarray(space + 1, space + 1 + length).toString('utf8'));
        buffer = buffer.subarray(space + 1 + length);
      }
    });
    socket.on('error', () => undefined);
  });
  tls.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve) => tls.listen(0, '127.0.0.1', resolve));
  const address = tls.address();
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    messages,
    clients,
    close: () => new Promise((resolve) => tls.close(() => resolve())),
  };
}

describe('audit export to a syslog repository over TLS (RFC 5425)', () => {
  let kit: AuditStoreKit;
  let ca: DevCa;
  let config = '';
  before(async () => {
    kit = await auditStoreKit('labedge-audit-syslog-');
    const store = await kit.open();
    try {
      await fillChain(store, 120, 60);
    } finally {
      await store.close();
    }
    ca = createDevCa();
    const pki = await writePki(join(kit.dir, 'pki'), { device: issueDeviceCert(ca, { deviceId: 'labedge-syslog' }) });
    await writeFile(join(kit.dir, 'ca.pem'), ca.certPem);
    config = join(kit.dir, 'labedge.json');
    await writeFile(
      config,
      JSON.stringify({
        deviceId: 'labedge-syslog',
        dataDir: kit.dataDir,
        uplink: { baseUrl: 'https://fhir.test/R4', caFile: join(kit.dir, 'ca.pem'), certFile: pki.device?.certPath, keyFile: pki.device?.keyPath },
        instruments: [],
      }),
    );
  });
  after(() => kit.cleanup());

  it('sends every entry in an octet-counted RFC 5424 frame over mutual TLS, and audits the export', async () => {
    const repo = await startRepository(ca);
    try {
      const r = await runInProcess(auditCommand, ['export', '--since', '1d', '--format', 'syslog', '--config', config, '--to', `tls://localhost:${repo.port}`]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, '', 'nothing on stdout: the entries went to the repository');
      assert.match(r.stderr, /120 audit entries sent to localhost:\d+ \(syslog over TLS\)/);
      assert.equal(repo.messages.length, 120);
      assert.deepEqual(repo.clients, ['labedge-syslog'], 'the box authenticated with its device certificate');
      for (const m of repo.messages) assert.match(m, /^<11[04]>1 \S+ labedge-syslog labedge - \S+ \[labedge@32473 seq="\d+" kind="[a-z-]+" hash="[0-9a-f]{64}" prev="[0-9a-f]{64}"\] \ufeff\{/);
      assert.deepEqual(CANARIES.filter((c) => repo.messages.some((m) => m.includes(c))), []);
    } finally {
      await repo.close();
    }
    const after = await runInProcess(auditCommand, ['export', '--since', '1d', '--format', 'jsonl', '--data-dir', kit.dataDir]);
    const last = JSON.parse(after.stdout.trim().split('\n').at(-1) ?? '{}') as { kind?: string };
    assert.equal(last.kind, 'audit-access', 'the export to the repository is itself in the trail');
  });

  it('refuses a repository whose certificate the pinned CA did not sign, and says so without sending anything', async () => {
    const rogue = createDevCa({ commonName: 'rogue CA' });
    const repo = await startRepository(ca, issueServerCert(rogue, { hostnames: ['localhost'], ips: ['127.0.0.1'] }));
    try {
      const r = await runInProcess(auditCommand, ['export', '--since', '1d', '--format', 'syslog', '--config', config, '--to', `tls://localhost:${repo.port}`]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /cannot open syslog over TLS to localhost:\d+ \((UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)\)/);
      assert.equal(repo.messages.length, 0);
      assert.deepEqual(canariesIn(r.stderr), []);
    } finally {
      await repo.close();
    }
  });

  it('--to is checked before anything is opened', async () => {
    assert.equal((await runInProcess(auditCommand, ['export', '--since', '1d', '--format', 'jsonl', '--config', config, '--to', 'tls://localhost:1'])).code, 2);
    assert.equal((await runInProcess(auditCommand, ['export', '--since', '1d', '--format', 'syslog', '--data-dir', kit.dataDir, '--to', 'tls://localhost:1'])).code, 2, 'needs --config for the device certificate');
    assert.equal((await runInProcess(auditCommand, ['export', '--since', '1d', '--format', 'syslog', '--config', config, '--to', 'udp://localhost:514'])).code, 2);
    assert.deepEqual(parseSyslogUrl('tls://ar.hospital.example'), { host: 'ar.hospital.example', port: 6514 });
  });
});
