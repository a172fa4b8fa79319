/**
 * A listener that cannot bind never leaves the box half started (listening and acknowledging
 * while nothing is delivered): `labedge run` stops what it started, releases the store and
 * exits 2 with one line naming the instrument and the address. Two instruments on one port
 * are refused by the config check before anything starts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnDaemon, startUpstream } from '../harness/daemon-process.js';

test('a port held by another program: run exits 2 naming the instrument and port, with nothing left running; the next start takes no stale lease', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'labedge-bind-'));
  const upstream = await startUpstream(join(dir, 'pki'));
  const squatter = createServer();
  await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
  const held = (squatter.address() as AddressInfo).port;
  t.after(async () => {
    squatter.close();
    await upstream.close();
    await rm(dir, { recursive: true, force: true });
  });
  const config = (instruments: object[]) => ({
    deviceId: 'labedge-test',
    dataDir: join(dir, 'data'),
    uplink: { baseUrl: upstream.fhir.url, caFile: upstream.files.ca, certFile: upstream.files.cert, keyFile: upstream.files.key },
    instruments,
  });
  const astm = { id: 'chem-tcp', protocol: 'astm', transport: { type: 'tcp', host: '127.0.0.1', port: 0 } };
  const hl7 = (port: number) => ({ id: 'lab-mllp', protocol: 'hl7', transport: { type: 'mllp', host: '127.0.0.1', port, allowPlaintext: true } });
  const file = join(dir, 'labedge.json');

  for (const [name, instruments] of [
    ['HL7 over MLLP', [astm, hl7(held)]],
    ['ASTM over TCP', [{ ...astm, transport: { type: 'tcp', host: '127.0.0.1', port: held } }, hl7(0)]],
  ] as const) {
    await writeFile(file, JSON.stringify(config([...instruments])));
    const daemon = spawnDaemon(file);
    const [code] = (await once(daemon.child, 'exit')) as [number | null];
    const out = daemon.output();
    assert.equal(code, 2, `${name}: ${out.slice(-1500)}`);
    assert.match(out, new RegExp(`labedge: instrument (lab-mllp|chem-tcp): cannot listen on 127\\.0\\.0\\.1:${held} \\(EADDRINUSE\\)`), name);
    assert.doesNotMatch(out, /labedge started/, `${name}: never reported as started`);
  }

  // The store was closed and its lease released: a good config starts without a stale-lease takeover.
  await writeFile(file, JSON.stringify(config([astm, hl7(0)])));
  const daemon = spawnDaemon(file);
  await daemon.waitFor('labedge started', 30_000);
  assert.doesNotMatch(daemon.output(), /stale lease/);
  await daemon.kill('SIGTERM');
});

test('two instruments on one listening port are a config error (exit 2), before anything starts', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'labedge-dupport-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'labedge.json');
  await writeFile(
    file,
    JSON.stringify({
      deviceId: 'labedge-test',
      dataDir: join(dir, 'data'),
      uplink: { baseUrl: 'https://fhir.test/R4', caFile: 'ca.pem', certFile: 'device.pem', keyFile: 'device.key' },
      instruments: [
        { id: 'a', protocol: 'hl7', transport: { type: 'mllp', port: 42576, allowPlaintext: true } },
        { id: 'b', protocol: 'astm', transport: { type: 'tcp', host: '127.0.0.1', port: 42576 } },
      ],
    }),
  );
  const daemon = spawnDaemon(file);
  const [code] = (await once(daemon.child, 'exit')) as [number | null];
  assert.equal(code, 2);
  assert.match(daemon.output(), /instruments\[1\]\.transport\.port is already the listening port of instruments\[0\]/);
});
