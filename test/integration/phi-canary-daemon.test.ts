import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SerialPort } from 'serialport';
import { openPtyPair } from '../../hardware/pty-pair.js';
import { readTranscript } from '../../gateway/astm/transcript.js';
import { simulateAstmInstrument } from '../../gateway/sim/astm-instrument.js';
import { messageDigest } from '../../gateway/audit/message-digest.js';
import { tokenDigest } from '../../gateway/audit/operator-auth.js';
import { startUpstream, writeDaemonConfig, spawnDaemon, type DaemonProcess } from '../harness/daemon-process.js';
import { CANARIES, canaryInputs } from '../harness/canary.js';
import { PhiWitness, runInProcess, runLabedge } from '../harness/phi-scan.js';
import { auditCommand } from '../../gateway/cli/cmd-audit.js';

const TOKEN = 'phi-suite-operator-token-7f3a9c';

/**
 * The PHI canary suite over the daemon, the crash test and the bad-input test at once: canary
 * PHI in good messages, malformed messages, failing frames and a raw framed capture; an
 * upstream that answers with canary text (422, 500) and refuses our credentials once; a kill -9
 * while work is pending. Debug logs, every CLI output and every store file are searched;
 * the audit chain must survive the kill, record the auth alarm, and trace the canary message
 * through all three stages with the digest the Provenance upstream carries.
 */
test('daemon under bad input, upstream echoes and kill -9: no canary escapes, and the audit trail holds', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'labedge-phi-daemon-'));
  const upstream = await startUpstream(join(dir, 'pki'));
  const line = await openPtyPair();
  let daemon: DaemonProcess | undefined;
  t.after(async () => {
    await daemon?.kill('SIGKILL');
    await upstream.close();
    await line.close();
    await rm(dir, { recursive: true, force: true });
  });
  const witness = new PhiWitness();
  const inputs = await mkdtemp(join(tmpdir(), 'labedge-phi-inputs-')); // planted inputs live outside the scanned tree
  t.after(() => rm(inputs, { recursive: true, force: true }));
  const t0 = performance.now();
  const mark = (what: string) => t.diagnostic(`${what} at ${Math.round(performance.now() - t0)} ms`);
  const configFile = await writeDaemonConfig(dir, { upstream, instruments: [{ id: 'canary-line', path: line.hostPath, baudRate: 115200 }] });
  const config = JSON.parse(await readFile(configFile, 'utf8'));
  await writeFile(configFile, JSON.stringify({ ...config, operators: [{ name: 'phi-officer', tokenSha256: tokenDigest(TOKEN) }] }));
  const tokenFile = join(inputs, 'token');
  await writeFile(tokenFile, TOKEN, { mode: 0o600 });
  const dataDir = config.dataDir as string;

  const start = async () => {
    daemon = spawnDaemon(configFile); // LABEDGE_LOG_LEVEL=debug: the most talkative the box gets
    await daemon.waitFor('labedge started');
    await daemon.waitFor(line.hostPath);
  };
  const settings = { path: line.instrumentPath, baudRate: 115200, dataBits: 8 as const, parity: 'none' as const, stopBits: 1 as const };
  const sendRaw = async (chunks: Buffer[]) => {
    const port = new SerialPort({ path: line.instrumentPath, baudRate: 115200, autoOpen: false });
    await new Promise<void>((resolve, reject) => port.open((e) => (e ? reject(e) : resolve())));
    for (const bytes of chunks) {
      await new Promise<void>((resolve) => port.write(bytes, () => port.drain(() => resolve())));
      await sleep(50);
    }
    await new Promise<void>((resolve) => port.close(() => resolve()));
  };

  // Round 1: the server echoes canaries in its errors, then refuses our credentials once.
  await start();
  upstream.fhir.faults.push(
    { kind: 'status', status: 500, body: canaryInputs.upstreamError },
    { kind: 'status', status: 401 },
    { kind: 'status', status: 422, body: canaryInputs.upstreamRejection },
  );
  const allFields = readTranscript(await readFile(canaryInputs.transcripts.allFields));
  const classic = readTranscript(await readFile(canaryInputs.transcripts.classic));
  const malformed = readTranscript(await readFile(canaryInputs.transcripts.malformed));
  const sent = await simulateAstmInstrument({ settings, messages: [...classic, ...malformed] });
  assert.equal(sent.failed, 0);
  await sendRaw(canaryInputs.badFrames());
  await daemon?.waitFor('dead-lettered', 30_000);
  mark('round 1 done');
  // Round 2: the upstream stalls; kill -9 while messages are committed but not delivered.
  upstream.fhir.faults.push({ kind: 'status', status: 503, body: canaryInputs.upstreamError }, { kind: 'status', status: 503 }, { kind: 'status', status: 503 });
  await sendRaw([await canaryInputs.framedCapture()]);
  await simulateAstmInstrument({ settings, messages: allFields });
  witness.add('daemon log before the kill', daemon?.output() ?? '');
  await daemon?.kill('SIGKILL');
  mark('killed');
  upstream.fhir.faults.length = 0;
  await start();
  // The all-fields message is delivered once the upstream holds a Provenance naming its digest.
  const raw = Buffer.from(`${(allFields[0] as string[]).join('\r')}\r`, 'latin1');
  const digest = messageDigest(raw);
  const deadline = Date.now() + 40_000;
  while ((await upstream.fhir.search('Provenance', `_tag=${digest}`)).length === 0) {
    assert.ok(Date.now() < deadline, 'delivered after the restart');
    await sleep(200);
  }
  await sleep(300);
  mark('delivered after restart');
  await daemon?.kill('SIGTERM');
  witness.add('daemon log after the restart', daemon?.output() ?? '');

  // Every operator-facing output, one command at a time (the store has one writer). The
  // audit commands run in this process (the same command code, no process start each).
  const dd = ['--data-dir', dataDir];
  const audit = (args: string[]) => runInProcess(auditCommand, [...args, ...dd]);
  await writeFile(join(inputs, 'canary-config.json'), canaryInputs.configText);
  const [badConfig, stats] = await Promise.all([runLabedge(['run', '--config', join(inputs, 'canary-config.json')]), runLabedge(['queue', 'stats', ...dd])]);
  const outputs = {
    badConfig,
    stats,
    dlq: await runLabedge(['queue', 'dlq', 'list', ...dd]),
    verify: await audit(['verify']),
    jsonl: await audit(['export', '--since', '1h']),
    fhir: await audit(['export', '--since', '1h', '--format', 'fhir']),
    syslog: await audit(['export', '--since', '1h', '--format', 'syslog']),
  };
  for (const [name, r] of Object.entries(outputs)) witness.addCli(name, r);
  mark('cli outputs');
  assert.equal(outputs.verify.code, 0, `the chain survives kill -9: ${outputs.verify.stdout}${outputs.verify.stderr}`);
  assert.equal(outputs.badConfig.code, 2);
  assert.equal(outputs.stats.code, 0, outputs.stats.stderr);
  const records = outputs.jsonl.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  const kinds = new Set(records.map((r) => r.kind));
  for (const k of ['app-start', 'app-stop', 'config-change', 'ingest', 'transform', 'deliver', 'dead-letter', 'uplink-auth-failure']) assert.ok(kinds.has(k), `audit has ${k}`);
  assert.ok(kinds.has('reject') || records.filter((r) => r.kind === 'deliver').length >= 3, 'malformed input was recorded');

  // The canary message's journey, matching the Provenance upstream by digest.
  const ingest = records.find((r) => r.kind === 'ingest' && r.digest === digest);
  assert.ok(ingest, 'the all-fields message was ingested, named by the SHA-256 of its raw bytes');
  const provenance = (await upstream.fhir.search('Provenance', `_tag=${digest}`)) as { entity?: { what?: { identifier?: { value?: string } } }[] }[];
  assert.equal(provenance[0]?.entity?.[0]?.what?.identifier?.value, digest, 'the Provenance upstream names the raw message by the digest the audit recorded');
  const trace = await runLabedge(['audit', 'trace', ingest.digest as string, ...dd]);
  witness.addCli('trace', trace);
  assert.equal(trace.code, 0, trace.stderr);
  assert.match(trace.stdout, / ingest .* transform .* deliver /s);
  assert.match(trace.stdout, /digests agree across stages; journey complete/);

  // An operator may see the payload; that is audited, and the chain still verifies.
  const shown = await runInProcess(auditCommand, ['trace', String(ingest.inboundId), '--config', configFile, '--operator-token-file', tokenFile]);
  assert.equal(shown.code, 0, shown.stderr);
  assert.ok(CANARIES.some((c) => shown.stdout.includes(c)), 'the authorised view shows the message');
  const after = await audit(['export', '--since', '1h']);
  assert.ok(after.stdout.includes('"kind":"payload-access"') && after.stdout.includes('phi-officer'));
  assert.equal((await audit(['verify'])).code, 0);

  witness.addDir(dir);
  assert.deepEqual(await witness.leaks(), []);

});
