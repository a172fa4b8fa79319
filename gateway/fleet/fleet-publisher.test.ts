import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { signCheckpoint } from '../audit/checkpoint.js';
import { createLogger, silentLogger } from '../core/logger.js';
import type { DaemonEvents } from '../daemon/events.js';
import { createDevCa } from '../../provisioning/dev-ca.js';
import { collect, connectClient, createFleetPki, mosquittoMissing, startMosquitto, type FleetPki, type Mosquitto } from '../../test/harness/mosquitto.js';
import { FleetPublisher } from './fleet-publisher.js';

/**
 * The fleet publisher against a real Mosquitto broker (TLS 1.2+, client certificates
 * required, per-device topic ACL). A second client, `fleet-monitor`, reads what arrives.
 */
const DEVICE = 'box-0042';
const fast = { baseMs: 100, capMs: 1000 };

async function setup(t: { after(fn: () => Promise<void>): void }, brokerOptions: { persistent?: boolean } = {}): Promise<{ pki: FleetPki; broker: Mosquitto; events: EventEmitter<DaemonEvents>; publisher: FleetPublisher }> {
  const dir = await mkdtemp(join(tmpdir(), 'labedge-fleet-'));
  const pki = await createFleetPki(dir, DEVICE);
  const broker = await startMosquitto(pki, brokerOptions);
  const events = new EventEmitter<DaemonEvents>();
  const config = { brokerUrl: broker.url, caFile: pki.files.ca, certFile: pki.files.device.cert, keyFile: pki.files.device.key, topicPrefix: 'labedge' };
  const publisher = new FleetPublisher({ config, deviceId: DEVICE, events, logger: silentLogger(), version: '0.1.0', backoff: fast });
  t.after(async () => {
    await publisher.stop();
    await broker.stop();
    await rm(dir, { recursive: true, force: true });
  });
  return { pki, broker, events, publisher };
}

const json = (text: string) => JSON.parse(text) as Record<string, unknown>;

// Real parts: without Mosquitto these tests fail (with this reason first), they do not skip.
test('a Mosquitto broker is installed (apt-get install mosquitto; .ci/run does)', () => {
  assert.equal(mosquittoMissing(), undefined);
});

test('events arrive on labedge/<id>/events, status is retained online, and the last will says offline', async (t) => {
  const { pki, broker, events, publisher } = await setup(t);
  const monitor = await connectClient(broker, pki.files.ca, pki.files.monitor);
  t.after(async () => void (await monitor.endAsync()));
  const seen = await collect(monitor, 'labedge/#');
  await publisher.start();
  await seen.waitFor((m) => m.topic === `labedge/${DEVICE}/status` && json(m.text).state === 'online', 'online status');

  const keyPem = await readFile(pki.files.device.key, 'utf8');
  const cp = signCheckpoint({ deviceId: DEVICE, head: { seq: 12, hash: 'a'.repeat(64) }, time: 1_700_000_000_000, previous: { seq: 5, hash: 'b'.repeat(64) }, keyPem });
  events.emit('audit-checkpoint', cp);
  events.emit('uplink-alarm', { kind: 'auth', active: true, status: 401, code: 'LABEDGE_ERR_UPLINK_AUTH' });
  events.emit('store-alarm', { code: 'LABEDGE_ERR_STORE_FULL', severity: 'error', message: 'free text stays on the box', cleared: false });
  const onEvents = (type: string) => (m: { topic: string; text: string }) => m.topic === `labedge/${DEVICE}/events` && json(m.text).type === type;
  const checkpoint = await seen.waitFor(onEvents('audit-checkpoint'), 'checkpoint event');
  assert.deepEqual(json(checkpoint.text).checkpoint, JSON.parse(JSON.stringify(cp)), 'the signed checkpoint as is');
  assert.equal(checkpoint.retain, false);
  const alarm = json((await seen.waitFor(onEvents('uplink-alarm'), 'uplink alarm')).text);
  assert.deepEqual({ ...alarm, at: 0 }, { v: 1, at: 0, type: 'uplink-alarm', kind: 'auth', active: true, status: 401, code: 'LABEDGE_ERR_UPLINK_AUTH' });
  const store = json((await seen.waitFor(onEvents('store-alarm'), 'store alarm')).text);
  assert.deepEqual({ ...store, at: 0 }, { v: 1, at: 0, type: 'store-alarm', code: 'LABEDGE_ERR_STORE_FULL', severity: 'error', cleared: false }, 'no free-text message');

  // A late subscriber gets the status as a retained message.
  const late = await connectClient(broker, pki.files.ca, pki.files.monitor);
  t.after(async () => void (await late.endAsync()));
  const lateSeen = await collect(late, `labedge/${DEVICE}/status`);
  const retained = await lateSeen.waitFor(() => true, 'retained status');
  assert.equal(retained.retain, true);
  assert.deepEqual({ ...json(retained.text), since: 0 }, { state: 'online', deviceId: DEVICE, version: '0.1.0', since: 0, dropped: 0 });

  // The box vanishes (socket destroyed, no DISCONNECT): the broker publishes the last will.
  const before = seen.messages.length;
  publisher.connection?.stream.destroy();
  await seen.waitFor((m) => seen.messages.indexOf(m) >= before && m.topic === `labedge/${DEVICE}/status` && json(m.text).state === 'offline', 'offline via last will');
  // ...and it comes back by itself.
  await seen.waitFor((m) => seen.messages.indexOf(m) >= before && m.topic === `labedge/${DEVICE}/status` && json(m.text).state === 'online', 'online again');
});

test('a broker restart: the publisher reconnects; events from while it was down and after arrive, in order', async (t) => {
  // A persistent broker and a monitor with a persistent session (clean: false, QoS 1), so
  // nothing the publisher sends after the restart can slip past the monitor unseen.
  const { pki, broker, events, publisher } = await setup(t, { persistent: true });
  const session = { clientId: 'fleet-monitor-1', clean: false };
  const first = await connectClient(broker, pki.files.ca, pki.files.monitor, session);
  const seenFirst = await collect(first, `labedge/${DEVICE}/events`);
  await publisher.start();
  events.emit('store-alarm', { code: 'BEFORE', severity: 'warning', message: '', cleared: false });
  await seenFirst.waitFor((m) => json(m.text).code === 'BEFORE', 'event before the restart');
  await first.endAsync();

  await broker.stop();
  events.emit('store-alarm', { code: 'WHILE_DOWN', severity: 'warning', message: '', cleared: false });
  await broker.restart();
  events.emit('store-alarm', { code: 'AFTER', severity: 'info', message: '', cleared: true });
  const monitor = await connectClient(broker, pki.files.ca, pki.files.monitor, session);
  t.after(async () => void (await monitor.endAsync()));
  const seen = await collect(monitor, `labedge/${DEVICE}/events`);
  await seen.waitFor((m) => json(m.text).code === 'AFTER', 'event after the restart');
  const codes = seen.messages.map((m) => json(m.text).code);
  assert.deepEqual(codes.filter((c) => c !== 'BEFORE'), ['WHILE_DOWN', 'AFTER'], 'the queued event went out first, once');
  assert.equal(publisher.droppedCount, 0);
});

test('the broker refuses a client without a certificate and one from a foreign CA', async (t) => {
  const { pki, broker } = await setup(t);
  await assert.rejects(connectClient(broker, pki.files.ca), 'no client certificate');
  const foreign = await pki.client('foreign-box', createDevCa({ commonName: 'not the fleet CA' }));
  await assert.rejects(connectClient(broker, pki.files.ca, foreign), 'certificate from a foreign CA');
  // The fleet CA's device certificate is accepted, and the ACL keeps it to its own topics:
  // a publish on another device's topic goes nowhere, the next one on its own arrives.
  const device = await connectClient(broker, pki.files.ca, pki.files.device);
  const monitor = await connectClient(broker, pki.files.ca, pki.files.monitor);
  t.after(async () => void (await Promise.all([device.endAsync(), monitor.endAsync()])));
  const seen = await collect(monitor, 'labedge/#');
  await device.publishAsync('labedge/other-box/events', 'spoofed', { qos: 1 });
  await device.publishAsync(`labedge/${DEVICE}/events`, 'own', { qos: 1 });
  await seen.waitFor((m) => m.text === 'own', 'own topic');
  assert.deepEqual(seen.messages.map((m) => m.topic), [`labedge/${DEVICE}/events`]);
});

test('the publisher refuses a broker it cannot authenticate (wrong CA, wrong host name), queues within its bound, and never throws', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'labedge-fleet-'));
  const pki = await createFleetPki(dir, DEVICE, { brokerNames: ['fleet.elsewhere.example'] });
  const broker = await startMosquitto(pki);
  const other = await createFleetPki(join(dir, 'other'), DEVICE);
  const lines: string[] = [];
  const sink = new PassThrough();
  sink.on('data', (d: Buffer) => lines.push(...d.toString('utf8').trim().split('\n')));
  const publishers: FleetPublisher[] = [];
  t.after(async () => {
    for (const p of publishers) await p.stop();
    await broker.stop();
    await rm(dir, { recursive: true, force: true });
  });
  const events = new EventEmitter<DaemonEvents>();
  const base = { brokerUrl: broker.url, certFile: pki.files.device.cert, keyFile: pki.files.device.key, topicPrefix: 'labedge' };
  // The right CA but a certificate for another host; then the right host but another CA pinned.
  for (const caFile of [pki.files.ca, other.files.ca]) {
    const p = new FleetPublisher({ config: { ...base, caFile }, deviceId: DEVICE, events, logger: createLogger({ level: 'info', destination: sink }), backoff: fast, maxQueued: 3 });
    publishers.push(p);
    await p.start();
  }
  const keyPem = await readFile(pki.files.device.key, 'utf8');
  for (let seq = 1; seq <= 3; seq++) events.emit('audit-checkpoint', signCheckpoint({ deviceId: DEVICE, head: { seq, hash: 'c'.repeat(64) }, time: seq, keyPem }));
  for (let i = 0; i < 5; i++) events.emit('store-alarm', { code: `ALARM_${i}`, severity: 'warning', message: '', cleared: false });
  const deadline = Date.now() + 30_000;
  const refused = (reason: RegExp) => lines.some((l) => l.includes('fleet broker unreachable') && reason.test(l));
  while (!(refused(/ERR_TLS_CERT_ALTNAME_INVALID/) && refused(/SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE/))) {
    assert.ok(Date.now() < deadline, `both publishers report the broker refused; log:\n${lines.join('\n')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(!lines.some((l) => l.includes('fleet broker connected')), 'never connected');
  // Bound 3: one checkpoint (each newer one replaced the queued one) and 5 alarms -> 3 dropped.
  for (const p of publishers) assert.equal(p.droppedCount, 3);
});
