import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { openPtyPair } from '../../hardware/pty-pair.js';
import { Daemon } from '../../gateway/daemon/daemon.js';
import { silentLogger } from '../../gateway/core/logger.js';
import { defaultKeyFile } from '../../gateway/config/config.js';
import { simulateAstmInstrument } from '../../gateway/sim/astm-instrument.js';
import { startUpstream } from '../harness/daemon-process.js';

function message(spec: string): string[] {
  return ['H|\\^&|||FaultSim|||||||P|LIS2-A2', `P|1|FPID-${spec}`, `O|1|${spec}||^^^GLU|R`, 'R|1|^^^GLU|5.5|mmol/L|3.9-6.1|N||F||||20261203101000', 'L|1|N'];
}

test('upstream faults: retried until delivered once; data errors dead-lettered without blocking; auth failures pause, never dead-letter', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'labedge-faults-'));
  const upstream = await startUpstream(join(dir, 'pki'));
  const line = await openPtyPair();
  const dataDir = join(dir, 'data');
  const daemon = new Daemon({
    logger: silentLogger(),
    retryBaseMs: 50,
    config: {
      deviceId: 'labedge-test',
      dataDir,
      keyFile: defaultKeyFile(dataDir),
      logLevel: 'silent',
      uplink: { baseUrl: upstream.fhir.url, caFile: upstream.files.ca, certFile: upstream.files.cert, keyFile: upstream.files.key, timeoutMs: 1000 },
      instruments: [{ id: 'faulty-1', protocol: 'astm', encoding: 'auto', timeZone: 'UTC', transport: { type: 'serial', path: line.hostPath, baudRate: 115200, dataBits: 8, parity: 'none', stopBits: 1 } }],
    },
  });
  const outcomes: string[] = [];
  daemon.on('delivered', () => outcomes.push('delivered'));
  daemon.on('delivery-failed', (e) => outcomes.push(`${e.outcome}:${e.status ?? 'net'}`));
  daemon.on('dead-lettered', (e) => outcomes.push(`dead-letter:${e.status}`));
  t.after(async () => {
    await daemon.stop();
    await upstream.close();
    await line.close();
    await rm(dir, { recursive: true, force: true });
  });
  await daemon.start();
  await sleep(300); // the port opens asynchronously

  const send = (...specs: string[]) =>
    simulateAstmInstrument({ settings: { path: line.instrumentPath, baudRate: 115200, dataBits: 8, parity: 'none', stopBits: 1 }, messages: specs.map(message) });
  const waitFor = async (n: number, what: string) => {
    const deadline = Date.now() + 15_000;
    while (outcomes.filter((o) => o === what).length < n) {
      assert.ok(Date.now() < deadline, `timed out waiting for ${n} × ${what}; saw ${outcomes.join(', ')}`);
      await sleep(50);
    }
  };
  const specimens = async () => (await upstream.fhir.search('Specimen', '_count=100')).length;

  // Transient faults, including a reset after the server committed: retried, stored once.
  upstream.fhir.faults.push({ kind: 'status', status: 503, retryAfter: '1' }, { kind: 'reset', afterCommit: true }, { kind: 'status', status: 500 }, { kind: 'status', status: 429 });
  await send('FLT-1');
  await waitFor(1, 'delivered');
  assert.deepEqual(outcomes.slice(0, 4), ['transient:503', 'transient:net', 'transient:500', 'transient:429']);
  assert.equal(await specimens(), 1);
  assert.equal((await upstream.fhir.countByType()).Observation, 1, 'the replay after the reset did not duplicate');

  // A data error: dead-lettered with its status, and the next message still goes through.
  upstream.fhir.faults.push({ kind: 'status', status: 422, body: { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'invalid' }] } });
  await send('FLT-2', 'FLT-3');
  await waitFor(2, 'delivered');
  assert.ok(outcomes.includes('dead-letter:422'));
  const stats = await daemon.queue.stats();
  assert.equal(stats.deadLetter, 1);
  assert.equal((await daemon.queue.listDeadLetters())[0]?.reasonCode, 'upstream-422');

  // Credentials refused: delivery pauses and retries; the data is never dead-lettered.
  upstream.fhir.faults.push({ kind: 'status', status: 401 }, { kind: 'status', status: 403 });
  await send('FLT-4');
  await waitFor(3, 'delivered');
  assert.ok(outcomes.includes('auth:401') && outcomes.includes('auth:403'));
  assert.equal((await daemon.queue.stats()).deadLetter, 1, 'nothing more dead-lettered');
  assert.equal(await specimens(), 3);
});
