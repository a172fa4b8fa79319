import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { TcpClientLine } from './tcp-client-line.js';
import { silentLogger } from '../gateway/core/logger.js';

async function until(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await sleep(10);
  }
}

function listen(port = 0): Promise<{ server: Server; port: number; sockets: Socket[]; received: Buffer[] }> {
  const sockets: Socket[] = [];
  const received: Buffer[] = [];
  const server = createServer((s) => {
    sockets.push(s);
    s.on('data', (d) => received.push(d));
    s.on('error', () => undefined);
  });
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve({ server, port: (server.address() as AddressInfo).port, sockets, received })));
}

const close = (server: Server, sockets: Socket[]) =>
  new Promise<void>((resolve) => {
    for (const s of sockets) s.destroy();
    server.close(() => resolve());
  });

test('the box as TCP client: connects out, carries bytes both ways, reconnects with backoff after the peer goes away', async (t) => {
  let peer = await listen();
  const port = peer.port;
  const line = new TcpClientLine({ host: '127.0.0.1', port, logger: silentLogger(), minReconnectMs: 20, maxReconnectMs: 100 });
  const data: string[] = [];
  let opens = 0;
  let closes = 0;
  line.on('data', (d) => data.push(d.toString('latin1')));
  line.on('open', () => opens++);
  line.on('close', () => closes++);
  line.start();
  t.after(() => line.stop());
  await until(() => opens === 1 && peer.sockets.length === 1, 'connected');
  assert.equal(line.write(Buffer.of(0x05)), true);
  await until(() => Buffer.concat(peer.received).equals(Buffer.of(0x05)), 'ENQ arrived');
  peer.sockets[0]?.write('\x06');
  await until(() => data.join('') === '\x06', 'ACK arrived');

  // The instrument restarts: its listener vanishes, then comes back on the same port.
  await close(peer.server, peer.sockets);
  await until(() => closes === 1, 'the drop was noticed');
  assert.equal(line.write(Buffer.of(0x05)), false, 'writes while disconnected are refused, not thrown');
  await sleep(150); // several failed attempts, none fatal
  peer = await listen(port);
  t.after(() => close(peer.server, peer.sockets));
  await until(() => opens === 2 && peer.sockets.length === 1, 'reconnected', 3000);
  assert.equal(line.isConnected, true);
});

test('stop() ends the reconnect attempts', async () => {
  const probe = await listen();
  const port = probe.port;
  await close(probe.server, probe.sockets); // a port nobody listens on
  const line = new TcpClientLine({ host: '127.0.0.1', port, logger: silentLogger(), minReconnectMs: 5, maxReconnectMs: 10 });
  line.start();
  await sleep(60);
  await line.stop();
  const late = await listen(port).catch(() => undefined);
  if (!late) return; // the port was taken meanwhile: nothing to check
  await sleep(80);
  assert.equal(late.sockets.length, 0, 'no connection after stop');
  await close(late.server, late.sockets);
});
