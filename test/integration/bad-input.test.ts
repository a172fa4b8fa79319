import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { SerialPort } from 'serialport';
import fc from 'fast-check';
import { openPtyPair } from '../../hardware/pty-pair.js';
import { readTranscript } from '../../gateway/astm/transcript.js';
import { simulateAstmInstrument } from '../../gateway/sim/astm-instrument.js';
import { frameChecksum, formatChecksum } from '../../gateway/astm/checksum.js';
import { startUpstream, writeDaemonConfig, spawnDaemon } from '../harness/daemon-process.js';
import { canariesIn } from '../harness/canary.js';

function frame(fn: number, text: string, end = 0x03, checksum?: string): Buffer {
  const body = Buffer.concat([Buffer.from(String(fn % 8)), Buffer.from(text, 'latin1'), Buffer.from([end])]);
  const sum = checksum ?? formatChecksum(frameChecksum(body, 0, body.length));
  return Buffer.concat([Buffer.from([0x02]), body, Buffer.from(sum), Buffer.from('\r\n')]);
}

const ENQ = Buffer.from([0x05]);
const EOT = Buffer.from([0x04]);

test('garbage, truncated frames, bad checksums and records before H never crash the daemon', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'labedge-bad-'));
  const upstream = await startUpstream(join(dir, 'pki'));
  const line = await openPtyPair();
  t.after(async () => {
    await upstream.close();
    await line.close();
    await rm(dir, { recursive: true, force: true });
  });
  const config = await writeDaemonConfig(dir, { upstream, instruments: [{ id: 'fuzzed-1', path: line.hostPath, baudRate: 115200 }] });
  const daemon = spawnDaemon(config);
  t.after(() => daemon.kill('SIGTERM'));
  await daemon.waitFor('labedge started');
  await daemon.waitFor(line.hostPath);

  const port = new SerialPort({ path: line.instrumentPath, baudRate: 115200, autoOpen: false });
  await new Promise<void>((resolve, reject) => port.open((e) => (e ? reject(e) : resolve())));
  const send = async (bytes: Buffer) => {
    await new Promise<void>((resolve) => port.write(bytes, () => port.drain(() => resolve())));
    await sleep(20);
  };

  const attacks: Buffer[] = [
    randomBytes(8192),
    Buffer.concat([ENQ, frame(1, 'H|\\^&|||X\r', 0x17).subarray(0, 9), EOT]), // truncated frame
    Buffer.concat([ENQ, frame(1, 'H|\\^&\rL|1|N\r', 0x03, '00'), EOT]), // bad checksum
    Buffer.concat([ENQ, frame(1, 'H|\\^&\r', 0x17, 'zz'), EOT]), // non-hex checksum
    Buffer.concat([ENQ, frame(3, 'H|\\^&\rL|1|N\r'), EOT]), // wrong frame number
    Buffer.concat([ENQ, frame(1, 'P|1|X\rO|1|Y\rR|1|^^^Z|1\rL|1|N\r'), EOT]), // records before H: stored, then dead-lettered or mapped
    Buffer.concat([ENQ, frame(1, '\x00\x01\x10\x11junk\rL|1|N\r'), EOT]), // restricted characters
    Buffer.concat([ENQ, Buffer.from([0x02]), randomBytes(70_000), EOT]), // oversize frame
    Buffer.concat([ENQ, ENQ, ENQ, EOT, EOT, Buffer.from([0x06, 0x15, 0x17, 0x03])]),
  ];
  for (const bytes of attacks) await send(bytes);
  // Random frames that look almost right: the most likely way a parser falls over.
  const frames = fc.sample(fc.tuple(fc.integer({ min: 0, max: 7 }), fc.string({ maxLength: 300 }), fc.constantFrom(0x03, 0x17)), { numRuns: 60, seed: 4242 });
  for (const [fn, text, end] of frames) await send(Buffer.concat([ENQ, frame(fn, text, end), EOT]));
  await new Promise<void>((resolve) => port.close(() => resolve()));
  await sleep(200);
  assert.equal(daemon.child.exitCode, null, 'daemon still running');

  // And it still does its job: a real message right after.
  const messages = readTranscript(await readFile(new URL('../fixtures/canary/canary-result.astm', import.meta.url)));
  const result = await simulateAstmInstrument({
    settings: { path: line.instrumentPath, baudRate: 115200, dataBits: 8, parity: 'none', stopBits: 1 },
    messages,
  });
  assert.equal(result.acknowledged, 1);
  const deadline = Date.now() + 20_000;
  while ((await upstream.fhir.search('Specimen', 'identifier=CANSPEC-55121')).length === 0) {
    assert.ok(Date.now() < deadline, 'the valid message was delivered');
    await sleep(100);
  }
  assert.equal(daemon.child.exitCode, null, 'daemon still running');
  assert.deepEqual(canariesIn(daemon.output()), []);
});
