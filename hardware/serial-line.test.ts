import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SerialPort } from 'serialport';
import { openPtyPair } from './pty-pair.js';
import { SerialLine } from './serial-line.js';
import { silentLogger } from '../gateway/core/logger.js';

async function openPort(path: string): Promise<SerialPort> {
  const port = new SerialPort({ path, baudRate: 9600, autoOpen: false });
  await new Promise<void>((resolve, reject) => port.open((e) => (e ? reject(e) : resolve())));
  return port;
}

async function until(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await sleep(20);
  }
}

test('a serial line survives its port vanishing and reopens it with backoff when it returns', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'labedge-replug-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  let pair = await openPtyPair({ dir });
  const line = new SerialLine({ path: pair.hostPath, baudRate: 9600, dataBits: 8, parity: 'none', stopBits: 1 }, { logger: silentLogger(), minReopenMs: 50, maxReopenMs: 200 });
  const received: string[] = [];
  let opens = 0;
  let closes = 0;
  line.on('data', (d) => received.push(d.toString()));
  line.on('open', () => opens++);
  line.on('close', () => closes++);
  line.start();
  t.after(() => line.stop());
  await until(() => line.isOpen, 'first open');

  let instrument = await openPort(pair.instrumentPath);
  instrument.write('before');
  await until(() => received.join('').includes('before'), 'data before the unplug');
  assert.ok(line.write(Buffer.from('\x06')));

  // Unplug: the pty pair disappears entirely.
  await new Promise((r) => instrument.close(r));
  await pair.close();
  await until(() => closes >= 1, 'the line noticed');
  assert.equal(line.write(Buffer.from('x')), false, 'writes while unplugged are refused, not thrown');
  await sleep(400); // several failed reopen attempts, none of them fatal

  // Re-plug at the same path.
  pair = await openPtyPair({ dir });
  t.after(() => pair.close());
  await until(() => line.isOpen && opens >= 2, 'reopened after re-plug');
  instrument = await openPort(pair.instrumentPath);
  t.after(() => new Promise((r) => instrument.close(r)));
  instrument.write('after');
  await until(() => received.join('').includes('after'), 'data after the re-plug');
});

test('a port path that never existed is retried quietly, and stop() ends the retries', async () => {
  const line = new SerialLine({ path: '/dev/does-not-exist-labedge', baudRate: 9600, dataBits: 8, parity: 'none', stopBits: 1 }, { logger: silentLogger(), minReopenMs: 10, maxReopenMs: 20 });
  let closes = 0;
  line.on('close', () => closes++);
  line.start();
  await until(() => closes >= 3, 'several attempts');
  await line.stop();
  const after = closes;
  await sleep(100);
  assert.equal(closes, after, 'no attempts after stop');
});
