/**
 * A server for scripts/bench/mllp.ts, run in its own process so server and senders do not share
 * an event loop. `labedge` = Hl7Channel with the real encrypted store (ACK after the synced commit,
 * dedupe index, audit entry); `labedge-tls` = the same over mutual TLS; `node-hl7-server` = the
 * peer library answering AA without persisting anything (it re-delivers every earlier message of a
 * connection with each new one, node-hl7-server#102, so the bench gives it one connection per
 * message); `medplum` = a minimal listener written here that parses each message with @medplum/core
 * Hl7Message and answers its buildAck(), persisting nothing (the Medplum agent minus its queue);
 * `bare` = finds the end block and writes a fixed ACK (the ceiling for a Node MLLP listener);
 * `labedge-nostore` = the same Hl7Channel with a store stub that keeps nothing (not a peer: it
 * separates the cost of HL7 intake from the cost of the durable commit). Prints `PORT n`.
 */
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Server } from 'node-hl7-server';
import { Hl7Message } from '@medplum/core';
import { silentLogger } from '../../gateway/core/logger.js';
import { Hl7Channel } from '../../gateway/daemon/hl7-channel.js';
import type { DaemonEvents } from '../../gateway/daemon/events.js';
import { QueueStore } from '../../gateway/store/queue-store.js';
import { makePki } from '../../test/integration/hl7-kit.js';

const kind = process.argv[2] ?? 'labedge';
const stops: Array<() => Promise<void>> = [];

async function main(): Promise<number> {
  if (kind === 'bare') {
    const ack = Buffer.from('\x0bMSH|^~\\&|R|R|S|S|20240101||ACK^R01^ACK|1|P|2.5.1\rMSA|AA|1\r\x1c\r', 'latin1');
    const server = createServer((socket) => {
      socket.setNoDelay(true);
      socket.on('data', (chunk: Buffer) => {
        for (let at = chunk.indexOf(0x1c); at >= 0; at = chunk.indexOf(0x1c, at + 1)) socket.write(ack);
      });
      socket.on('error', () => {});
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    stops.push(() => new Promise((r) => server.close(() => r())));
    const a = server.address();
    return typeof a === 'object' && a ? a.port : 0;
  }
  if (kind === 'medplum') {
    const server = createServer((socket) => {
      socket.setNoDelay(true);
      let pending: Buffer = Buffer.alloc(0);
      socket.on('data', (chunk: Buffer) => {
        pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
        for (;;) {
          const start = pending.indexOf(0x0b);
          const end = pending.indexOf(0x1c, start + 1);
          if (start < 0 || end < 0 || end + 1 >= pending.length) break;
          const text = pending.toString('utf8', start + 1, end);
          pending = pending.subarray(end + 2);
          const ack = Hl7Message.parse(text).buildAck();
          socket.write(`\x0b${ack.toString()}\x1c\r`);
        }
      });
      socket.on('error', () => {});
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    stops.push(() => new Promise((r) => server.close(() => r())));
    const a = server.address();
    return typeof a === 'object' && a ? a.port : 0;
  }
  if (kind === 'node-hl7-server') {
    const port = 20000 + Math.floor(Math.random() * 20000);
    const server = new Server({ bindAddress: '127.0.0.1' });
    const inbound = server.createInbound({ port }, async (_req, res) => {
      await res.sendResponse('AA');
    });
    await new Promise((r) => setTimeout(r, 200));
    stops.push(async () => {
      await inbound.close();
    });
    return port;
  }
  if (kind === 'labedge-nostore') {
    let n = 0;
    const stub = {
      dedupeKey: (text: string): string => `h!${createHash('sha256').update(text).digest('hex')}`,
      dedupeKeys: (): Promise<string[]> => Promise.resolve([]),
      readDedupe: (): Promise<Buffer | undefined> => Promise.resolve(undefined),
      commitInbound: (): Promise<string> => Promise.resolve(`i-${++n}`),
      pruneDedupe: (): Promise<number> => Promise.resolve(0),
    };
    const channel = new Hl7Channel(
      { id: 'bench', protocol: 'hl7', encoding: 'auto', timeZone: 'UTC', transport: { type: 'mllp', host: '127.0.0.1', port: 0, allowPlaintext: true } },
      { store: stub as unknown as QueueStore, events: new EventEmitter<DaemonEvents>(), logger: silentLogger(), onCommitted: () => {} },
    );
    await channel.start();
    stops.push(() => channel.stop());
    return channel.port ?? 0;
  }
  const dir = await mkdtemp(join(tmpdir(), 'labedge-bench-mllp-'));
  const store = await QueueStore.open({ dataDir: join(dir, 'data'), keyFile: join(dir, 'keys', 'kek') });
  const pki = kind === 'labedge-tls' ? await makePki(dir) : undefined;
  const channel = new Hl7Channel(
    {
      id: 'bench',
      protocol: 'hl7',
      encoding: 'auto',
      timeZone: 'UTC',
      transport: pki
        ? { type: 'mllp', host: '127.0.0.1', port: 0, tls: { certFile: pki.files.serverCert, keyFile: pki.files.serverKey, caFile: pki.files.ca } }
        : { type: 'mllp', host: '127.0.0.1', port: 0, allowPlaintext: true },
    },
    { store, events: new EventEmitter<DaemonEvents>(), logger: silentLogger(), onCommitted: () => {} },
  );
  await channel.start();
  stops.push(async () => {
    await channel.stop();
    const s = await store.stats();
    const c = store.commitStats();
    process.stderr.write(`labedge store: ${s.inbound} inbound records committed in ${c.batches} synced batches (${(c.submissions / Math.max(1, c.batches)).toFixed(1)} writes per fsync)\n`);
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  if (pki) process.stdout.write(`PKI ${JSON.stringify({ ca: pki.ca.certPem, cert: pki.client.certPem, key: pki.client.keyPem })}\n`);
  return channel.port ?? 0;
}

const port = await main();
process.stdout.write(`PORT ${port}\n`);
const shutdown = async (): Promise<void> => {
  for (const s of stops) await s();
  process.exit(0);
};
process.stdin.on('end', () => void shutdown());
process.stdin.resume();
process.on('SIGTERM', () => void shutdown());
