/**
 * End to end: analyzers send HL7 over MLLP with mutual TLS to the daemon (a real child process),
 * which stores, maps and delivers to the FHIR test server over mutual TLS. The daemon is killed
 * with SIGKILL mid-stream and restarted; senders resend whatever was not acknowledged, as real
 * analyzers do. Every message a sender saw AA for must be upstream exactly once.
 */
import { strict as assert } from 'node:assert';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { MllpClient } from '../../hardware/mllp-client.js';
import { spawnDaemon, startUpstream, type DaemonProcess } from '../harness/daemon-process.js';
import { canariesIn, canariesInDir } from '../harness/canary.js';
import { makePki, oru } from './hl7-kit.js';

/** Planted PHI (test/harness/canary.ts): must appear upstream and nowhere else. */
const CANARY_PATIENT = { id: 'CANARY-PID-93817', name: 'Zzcanaryfam^Quentessa', birth: '19230817' };

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const a = s.address();
  const port = typeof a === 'object' && a ? a.port : 0;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

test('MLLP over mutual TLS → store → FHIR, SIGKILL mid-stream: every AA is upstream exactly once', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'labedge-hl7-e2e-'));
  const upstream = await startUpstream(join(dir, 'upstream'));
  const pki = await makePki(dir);
  t.after(async () => {
    await upstream.close();
    await rm(dir, { recursive: true, force: true });
  });
  const port = await freePort();
  const config = join(dir, 'labedge.json');
  await writeFile(
    config,
    JSON.stringify({
      deviceId: 'labedge-test',
      dataDir: join(dir, 'data'),
      logLevel: 'info',
      timeZone: 'Europe/Berlin',
      uplink: { baseUrl: upstream.fhir.url, caFile: upstream.files.ca, certFile: upstream.files.cert, keyFile: upstream.files.key, timeoutMs: 5000 },
      instruments: [
        {
          id: 'hl7-chem-1',
          protocol: 'hl7',
          transport: { type: 'mllp', host: '127.0.0.1', port, tls: { certFile: pki.files.serverCert, keyFile: pki.files.serverKey, caFile: pki.files.ca } },
        },
      ],
    }),
  );
  let daemon: DaemonProcess = spawnDaemon(config);
  await daemon.waitFor('labedge started');

  const senders = 3;
  const perSender = 5;
  const acked: string[] = [];
  const deadline = Date.now() + 60_000;
  const send = async (s: number): Promise<void> => {
    let client: MllpClient | undefined;
    for (let i = 0; i < perSender; i++) {
      const id = `E2E-${s}-${i}`;
      for (;;) {
        if (Date.now() > deadline) throw new Error(`sender ${s} gave up at ${id}`);
        try {
          client ??= await MllpClient.connect({ host: '127.0.0.1', port, tls: { ca: pki.ca.certPem, cert: pki.client.certPem, key: pki.client.keyPem }, ackTimeoutMs: 3000 });
          const reply = await client.send(oru(id, { value: '4817.29', patient: CANARY_PATIENT }));
          if (reply.code === 'AA' && reply.controlId === id) {
            acked.push(id);
            break;
          }
        } catch {
          client = undefined; // daemon gone or ACK lost: resend the same message, as analyzers do
        }
        await sleep(100);
      }
      await sleep(20);
    }
    await client?.close();
  };
  const sending = Promise.all(Array.from({ length: senders }, (_, s) => send(s)));

  // Kill once about a third is acknowledged, at a random moment around then.
  while (acked.length < (senders * perSender) / 3 && Date.now() < deadline) await sleep(5);
  await sleep(Math.floor(Math.random() * 40));
  const ackedBeforeKill = acked.length;
  await daemon.kill('SIGKILL');
  const firstRunLog = daemon.output();
  await sleep(300);
  daemon = spawnDaemon(config);
  t.after(() => daemon.kill('SIGTERM'));
  await daemon.waitFor('labedge started');
  await sending;
  assert.ok(ackedBeforeKill > 0, 'some messages were acknowledged before the kill');
  assert.ok(ackedBeforeKill < senders * perSender, 'the kill happened mid-stream');
  assert.equal(new Set(acked).size, senders * perSender);

  const wanted = new Set(acked.map((id) => `PL-${id}`));
  let placers: string[] = [];
  for (const until = Date.now() + 90_000; ; ) {
    const found = (await upstream.fhir.search('ServiceRequest', '_count=1000')) as { identifier?: { value?: string }[] }[];
    placers = found.map((r) => r.identifier?.[0]?.value ?? '');
    if ([...wanted].every((p) => placers.includes(p)) || Date.now() > until) break;
    await sleep(250);
  }
  assert.deepEqual([...wanted].filter((p) => !placers.includes(p)), [], `no acknowledged message lost; daemon log:\n${daemon.output().slice(-6000)}`);
  assert.equal(new Set(placers).size, placers.length, 'no order duplicated upstream');
  await sleep(500);
  const counts = await upstream.fhir.countByType();
  assert.equal(counts.ServiceRequest, wanted.size);
  assert.equal(counts.Observation, 3 * wanted.size, 'three Observations per message, none duplicated');
  assert.equal(counts.DiagnosticReport, wanted.size);
  assert.deepEqual(upstream.fhir.validationErrors, []);
  // The log shows the TLS listener and never the content of a message; the store is opaque at rest.
  assert.match(daemon.output(), /MLLP listener \(TLS, client certificates required\)/);
  const logs = firstRunLog + daemon.output();
  assert.deepEqual(canariesIn(logs), []);
  assert.doesNotMatch(logs, /E2E-/);
  await daemon.kill('SIGTERM');
  assert.deepEqual(await canariesInDir(join(dir, 'data')), []);
});
