/**
 * One ASTM instrument channel over a real TCP socket into a real encrypted store, then the real
 * transform step: a host query is committed (invariant 1), answered on the same connection
 * with "no information" (no uplink here) within its deadline, and then leaves the store without
 * going to the dead-letter queue; a non-ASTM payload nobody can read is committed and
 * quarantined with its reason, never NAKed; a Spotchem payload is read by its adapter.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { connect, createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { QueueStore } from '../../gateway/store/queue-store.js';
import { InstrumentChannel } from '../../gateway/daemon/instrument-channel.js';
import { createTransformStep } from '../../gateway/daemon/transform-worker.js';
import type { DaemonEvents } from '../../gateway/daemon/events.js';
import type { InstrumentConfig } from '../../gateway/config/config.js';
import { silentLogger } from '../../gateway/core/logger.js';
import { frame } from '../harness/e1381-kit.js';
import { escapeWire, unescapeWire } from '../harness/astm-fixtures.js';
import { loadFhirDefinitions } from '../harness/fhir-validate.js';
import { parseSearchRequest } from '@medplum/core';
import { MemoryRepository } from '@medplum/fhir-router';
import type { Patient, ServiceRequest, Specimen } from '@medplum/fhirtypes';
import { FhirSearch } from '../../gateway/uplink/fhir-search.js';
import { systemClock } from '../../gateway/core/clock.js';

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function until(check: () => boolean | Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await sleep(20);
  }
}

test('host query answered on the line and not dead-lettered; unknown payload quarantined; adapter payload mapped', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'labedge-astm-channel-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const store = await QueueStore.open({ dataDir: join(dir, 'data'), keyFile: join(dir, 'keys', 'kek') });
  t.after(() => store.close());
  const events = new EventEmitter<DaemonEvents>();
  const port = await freePort();
  const instrument: InstrumentConfig = {
    id: 'cobas-1',
    protocol: 'astm',
    encoding: 'auto',
    timeZone: 'Europe/Berlin',
    profile: 'roche-cobas-e411',
    overrides: { payloadAdapter: 'spotchem-el' },
    transport: { type: 'tcp', host: '127.0.0.1', port },
  };
  const channel = new InstrumentChannel(instrument, { store, events, logger: silentLogger(), onCommitted: () => undefined });
  channel.start();
  t.after(() => channel.stop());
  const queries: string[] = [];
  events.on('host-query', (e) => queries.push(`${e.outcome}/${e.lookup}/${e.specimens}/${e.found}`));

  let socket: Socket | undefined;
  await until(async () => {
    socket = await new Promise<Socket | undefined>((resolve) => {
      const s = connect(port, '127.0.0.1', () => resolve(s));
      s.once('error', () => resolve(undefined));
    });
    return socket !== undefined;
  }, 'the channel listens');
  const sock = socket as Socket;
  t.after(() => sock.destroy());
  const received: number[] = [];
  sock.on('data', (d) => received.push(...d));
  const seen = () => escapeWire(Buffer.from(received));
  const send = (b: Buffer) => new Promise<void>((r) => sock.write(b, () => r()));

  // 1. A host query (cobas TSREQ), as the instrument sends it.
  await send(Buffer.of(0x05));
  await until(() => seen() === '<ACK>', 'ENQ answered');
  await send(frame(1, 'H|\\^&|||cobas-e411^1|||||host|TSREQ^REAL|P|1\rQ|1|^^SMPL9^40^0^5^^S1^SC||ALL||||||||O\rL|1|N\r'));
  await until(() => seen() === '<ACK><ACK>', 'final frame ACKed after commit');
  await send(Buffer.of(0x04));
  // 2. The box now sends its reply as the sender: ENQ, frames, EOT.
  await until(() => seen().endsWith('<ENQ>'), 'the box asks for the line');
  await send(Buffer.of(0x06));
  for (let f = 0; f < 4; f++) {
    const before = received.length;
    await until(() => received.length > before && received.at(-1) === 0x0a, 'a frame');
    await send(Buffer.of(0x06));
  }
  await until(() => seen().endsWith('<EOT>'), 'the box ends its session');
  const reply = seen().replace(/^<ACK><ACK><ENQ>/, '');
  assert.match(reply, /^<STX>1H\|\\\^&\|\|\|labedge\^1\|\|\|\|\|cobas-e411\|TSDWN\^REPLY\|P\|1<CR><ETX>[0-9A-F]{2}<CR><LF>/);
  assert.match(reply, /<STX>3O\|1\|SMPL9\|40\^0\^5\^\^S1\^SC\|\|R\|\|\|\|\|\|A\|\|\|\|1\|\|\|\|\|\|\|\|\|\|O<CR><ETX>/, 'no orders known: the O without tests, sequence/carrier/position echoed');
  await until(() => queries.includes('sent/none/1/0'), 'the outcome is reported');

  // 3. A non-ASTM payload nobody claims, then a Spotchem printout (the adapter overridden in).
  received.length = 0;
  await send(Buffer.from('\x02SOME DEVICE TEXT THAT IS NOT ASTM 1 2 3\x03'));
  await sleep(2300); // the idle time that ends an unknown payload
  await send(unescapeWire((await readFile(new URL('../fixtures/astm/senaite-arkray-spotchem-el-raw.astm', import.meta.url), 'latin1')).trim()));
  await until(async () => (await store.stats()).inbound >= 3, 'all three committed');
  assert.equal(seen(), '', 'payloads are not answered, so never NAK-stormed');

  // 4. The transform step: the query leaves quietly, the unknown payload is quarantined, Spotchem maps.
  const transformed: string[] = [];
  events.on('transformed', (e) => transformed.push(e.inboundId));
  const step = createTransformStep({ store, instruments: new Map([[instrument.id, instrument]]), events });
  await step();
  const stats = await store.stats();
  assert.equal(stats.inbound, 0);
  assert.equal(stats.deadLetter, 1, 'only the unknown payload');
  assert.equal(stats.outbound, 1, 'the Spotchem results');
  const [dead] = await store.listDeadLetters();
  assert.equal(dead?.reasonCode, 'unknown-payload');
  assert.equal(dead?.raw?.toString('latin1').startsWith('\x02SOME DEVICE'), true, 'kept, encrypted, for an operator');
  assert.equal(transformed.length, 1);
});

test('the box as TCP client: it connects out to a listening instrument and the same E1381 link runs over the socket', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'labedge-astm-client-'));
  const store = await QueueStore.open({ dataDir: join(dir, 'data'), keyFile: join(dir, 'keys', 'kek') });
  // The instrument listens (E1381-02 over TCP, or a serial-to-Ethernet converter in server mode).
  const accepted: Socket[] = [];
  const server = createServer((s) => {
    s.on('error', () => undefined); // the box resets the connection when it stops
    accepted.push(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  const instrument: InstrumentConfig = {
    id: 'analyzer-tcp-client',
    protocol: 'astm',
    encoding: 'auto',
    timeZone: 'UTC',
    profile: 'abbott-afinion2',
    transport: { type: 'tcp', host: '127.0.0.1', port, role: 'client' },
  };
  const channel = new InstrumentChannel(instrument, { store, events: new EventEmitter<DaemonEvents>(), logger: silentLogger(), onCommitted: () => undefined });
  channel.start();
  // One teardown, in order: the box stops first, so nothing reconnects while the server closes.
  t.after(async () => {
    await channel.stop();
    for (const s of accepted) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  await until(() => accepted.length > 0, 'the box connects out');
  const sock = accepted[0] as Socket;
  const received: number[] = [];
  sock.on('data', (d) => received.push(...d));
  const seen = () => escapeWire(Buffer.from(received));
  sock.write(Buffer.of(0x05));
  await until(() => seen() === '<ACK>', 'ENQ answered over the socket');
  sock.write(Buffer.concat([frame(1, 'H|\\^&|||Afinion 2\rP|1\rO|1|S-TCP-1\r', { end: 'ETB' }), frame(2, 'R|1|^^^HbA1c|5.9|%||||F\rL|1|N\r')]));
  await until(() => seen() === '<ACK><ACK><ACK>', 'both frames ACKed, the last after commit');
  sock.write(Buffer.of(0x04));
  assert.equal((await store.stats()).inbound, 1, 'committed before its ACK');
});

test('push mode: the channel downloads new active orders from upstream unasked, as the sender on the line', async (t) => {
  loadFhirDefinitions();
  const dir = await mkdtemp(join(tmpdir(), 'labedge-astm-push-'));
  const store = await QueueStore.open({ dataDir: join(dir, 'data'), keyFile: join(dir, 'keys', 'kek') });
  // Upstream: the real FHIR search engine of the harness server, reached without the network hop
  // (the mTLS path of these searches is covered by astm-host-query-e2e.test.ts).
  const repo = new MemoryRepository();
  const patient = await repo.createResource<Patient>({ resourceType: 'Patient', name: [{ family: 'Pushkin' }] });
  const specimen = await repo.createResource<Specimen>({ resourceType: 'Specimen', identifier: [{ system: 'urn:hosp:acc', value: 'PUSH-1' }], subject: { reference: `Patient/${patient.id}` } });
  await repo.createResource<ServiceRequest>({ resourceType: 'ServiceRequest', status: 'active', intent: 'order', subject: { reference: `Patient/${patient.id}` }, specimen: [{ reference: `Specimen/${specimen.id}` }], code: { coding: [{ system: 'http://loinc.org', code: '4548-4' }] } });
  const search = new FhirSearch({ get: async (q) => ({ status: 200, text: JSON.stringify(await repo.search(parseSearchRequest(q) as Parameters<MemoryRepository['search']>[0])) }) }, systemClock());
  const port = await freePort();
  const instrument: InstrumentConfig = {
    id: 'worklist-1',
    protocol: 'astm',
    encoding: 'auto',
    timeZone: 'UTC',
    profile: 'abbott-afinion2',
    // A short interval: a round that ran before the instrument connected is lost with the old link (failed) and runs again.
    overrides: { orders: { mode: 'push', pushSearch: 'status=active', pushIntervalMs: 500 } },
    transport: { type: 'tcp', host: '127.0.0.1', port },
  };
  const pushes: string[] = [];
  const events = new EventEmitter<DaemonEvents>();
  events.on('order-push', (e) => pushes.push(`${e.outcome}/${e.orders}`));
  const channel = new InstrumentChannel(instrument, { store, events, logger: silentLogger(), onCommitted: () => undefined, search });
  let sock: Socket | undefined;
  t.after(async () => {
    sock?.destroy();
    await channel.stop();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  channel.start();
  await until(async () => {
    sock = await new Promise<Socket | undefined>((resolve) => {
      const s = connect(port, '127.0.0.1', () => resolve(s));
      s.once('error', () => resolve(undefined));
    });
    return sock !== undefined;
  }, 'the channel listens');
  const received: number[] = [];
  const s = sock as Socket;
  // The instrument ACKs the box's ENQ and every frame it sends.
  s.on('data', (d) => {
    received.push(...d);
    if (d.includes(0x05) || d.at(-1) === 0x0a) s.write(Buffer.of(0x06));
  });
  await until(() => pushes.includes('sent/1'), 'a push round that reaches the instrument', 20_000);
  await until(() => pushes.at(-1) === 'nothing-new/0', 'a later round with nothing new', 20_000);
  assert.deepEqual(pushes.filter((p) => p !== 'failed/1' && p !== 'nothing-new/0'), ['sent/1'], 'sent once, never again while unchanged');
  const all = escapeWire(Buffer.from(received));
  const wire = all.slice(all.lastIndexOf('<ENQ>')); // the session of the round that was sent
  assert.match(wire, /^<ENQ><STX>1H\|\\\^&\|\|\|labedge\|/);
  assert.match(wire, /<STX>3O\|1\|PUSH-1\|\|\^\^\^HbA1c\|R\|/, 'the LOINC order in the instrument\'s own code');
  assert.match(wire, /<EOT>$/);
});
