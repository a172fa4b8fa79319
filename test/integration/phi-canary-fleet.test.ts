import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readTranscript } from '../../gateway/astm/transcript.js';
import { simulateAstmInstrument } from '../../gateway/sim/astm-instrument.js';
import { auditCommand } from '../../gateway/cli/cmd-audit.js';
import { startUpstream, writeDaemonConfig, spawnDaemon, type DaemonProcess } from '../harness/daemon-process.js';
import { canaryInputs } from '../harness/canary.js';
import { PhiWitness, runInProcess } from '../harness/phi-scan.js';
import { collect, connectClient, createFleetPki, freePort, startMosquitto } from '../harness/mosquitto.js';

/**
 * The PHI canary suite over the fleet link: the real daemon (`labedge run`) publishes to a
 * real Mosquitto broker while an instrument sends canary messages (good and malformed), the
 * upstream answers with canary text and refuses our credentials once (an uplink alarm).
 * Every MQTT payload the monitor receives, and the daemon's debug log, are searched for every
 * canary. The shutdown checkpoint that arrives on the events topic must anchor `audit verify`.
 * (Store alarms reach the publisher through the same daemon emitter; their free text is
 * stripped, which gateway/fleet/fleet-publisher.test.ts checks.)
 */
test('fleet link: status, the uplink alarm and the shutdown checkpoint reach the broker, and no canary does', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'labedge-phi-fleet-'));
  const upstream = await startUpstream(join(dir, 'pki'));
  const pki = await createFleetPki(join(dir, 'fleet-pki'), 'labedge-test');
  const broker = await startMosquitto(pki);
  const running: { daemon?: DaemonProcess } = {};
  t.after(async () => {
    await running.daemon?.kill('SIGKILL');
    await broker.stop();
    await upstream.close();
    await rm(dir, { recursive: true, force: true });
  });
  const monitor = await connectClient(broker, pki.files.ca, pki.files.monitor);
  t.after(async () => void (await monitor.endAsync()));
  const seen = await collect(monitor, 'labedge/#');
  const port = await freePort();
  const configFile = await writeDaemonConfig(dir, {
    upstream,
    instruments: [],
    extra: {
      instruments: [{ id: 'canary-line', protocol: 'astm', transport: { type: 'tcp', host: '127.0.0.1', port } }],
      fleet: { brokerUrl: broker.url, caFile: pki.files.ca, certFile: pki.files.device.cert, keyFile: pki.files.device.key },
    },
  });
  const dataDir = (JSON.parse(await readFile(configFile, 'utf8')) as { dataDir: string }).dataDir;
  const daemon = spawnDaemon(configFile);
  running.daemon = daemon;
  await daemon.waitFor('labedge started');
  const status = (m: { topic: string; text: string }, state: string) => m.topic === 'labedge/labedge-test/status' && m.text.includes(`"state":"${state}"`);
  await seen.waitFor((m) => status(m, 'online'), 'online status');

  // Refused once (an uplink alarm, raised then cleared), then rejected and failing with canary text.
  upstream.fhir.faults.push({ kind: 'status', status: 401 }, { kind: 'status', status: 422, body: canaryInputs.upstreamRejection }, { kind: 'status', status: 500, body: canaryInputs.upstreamError });
  const messages = [canaryInputs.transcripts.allFields, canaryInputs.transcripts.classic, canaryInputs.transcripts.malformed];
  for (const file of messages) {
    await simulateAstmInstrument({ settings: { tcp: { host: '127.0.0.1', port }, baudRate: 115200 }, messages: readTranscript(await readFile(file)), replyTimeoutMs: 2000, busyDelayMs: 100 });
  }
  const event = (type: string) => (m: { topic: string; text: string }) => m.topic === 'labedge/labedge-test/events' && m.text.includes(`"type":"${type}"`);
  await seen.waitFor(event('uplink-alarm'), 'uplink alarm (401)');
  await daemon.waitFor('dead-lettered', 30_000);
  await daemon.kill('SIGTERM');
  const checkpoint = await seen.waitFor(event('audit-checkpoint'), 'shutdown checkpoint');
  await seen.waitFor((m) => status(m, 'offline'), 'offline status at shutdown');

  // The published checkpoint anchors verification of the box's chain.
  const cpFile = join(dir, 'published-checkpoint.json');
  await writeFile(cpFile, JSON.stringify((JSON.parse(checkpoint.text) as { checkpoint: unknown }).checkpoint));
  const verify = await runInProcess(auditCommand, ['verify', '--data-dir', dataDir, '--from-checkpoint', cpFile]);
  assert.equal(verify.code, 0, `${verify.stdout}${verify.stderr}`);

  const witness = new PhiWitness();
  for (const m of seen.messages) witness.add(`MQTT ${m.topic}`, `${m.topic}\n${m.text}`);
  witness.add('daemon log', daemon.output());
  witness.add('verify', verify.stdout + verify.stderr);
  assert.ok(seen.messages.length >= 5, 'the broker received status and events');
  assert.match(daemon.output(), /message committed and acknowledged/, 'canary messages went through the pipeline');
  if (process.env.LABEDGE_FLEET_DEBUG) t.diagnostic(seen.messages.map((m) => `${m.topic} ${m.text}`).join('\n'));
  assert.deepEqual(await witness.leaks(), []);
});
