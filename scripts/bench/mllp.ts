/**
 * MLLP throughput with ACK-after-commit: 10 concurrent senders (one connection each, one message
 * in flight, as analyzers behave) send the 28-OBX NIST ORU (10 kB, a unique MSH-10 per message)
 * and count acknowledgements per second. labedge commits every message to the encrypted store
 * (fsync'd group commit, dedupe entry, audit entry) before its AA or CA. Non-persisting peers:
 * node-hl7-server (one connection per message: on a kept connection it re-delivers every earlier
 * message with each new one, node-hl7-server#102) and a minimal listener that answers
 * @medplum/core's Hl7Message.buildAck(); `bare` writes a fixed ACK (the ceiling, not a peer).
 * A reply counts only when it is positive and its MSA-2 is the control id just sent. Each server
 * runs in its own process; servers alternate over rounds after a warm-up.
 *
 *   npm run bench -- mllp [rounds=3] [secondsPerSample=2] [senders=10]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MllpClient, type MllpClientTls } from '../../hardware/mllp-client.js';

const rounds = Number(process.argv[2] ?? 3);
const seconds = Number(process.argv[3] ?? 2);
const senders = Number(process.argv[4] ?? 10);
const here = fileURLToPath(new URL('.', import.meta.url));
const oru = readFileSync(fileURLToPath(new URL('../../test/fixtures/hl7/fhirconverter-ORU_R01-nist-lri-cbc.hl7', import.meta.url)), 'utf8')
  .replace(/^\uFEFF/, '')
  .trim()
  .replaceAll('\n', '\r');
const [mshHead, ...mshRest] = oru.split('|NIST-LRI-NG-002.00|');
if (mshRest.length !== 1) throw new Error('bench message: MSH-10 not found');
let seq = 0;
const nextId = (): string => `BENCH-${process.pid}-${++seq}`;
const messageFor = (id: string): string => `${mshHead}|${id}|${mshRest[0]}\r`;

interface Running {
  kind: string;
  child: ChildProcess;
  port: number;
  tls?: MllpClientTls;
}

/** node-hl7-server takes a port picked at random, which may be taken: a server that fails to start is tried again. */
async function startServer(kind: string): Promise<Running> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startServerOnce(kind);
    } catch (e) {
      if (attempt >= 3) throw e;
    }
  }
}

function startServerOnce(kind: string): Promise<Running> {
  const child = spawn(process.execPath, ['--import', 'tsx', `${here}/_mllp-server.ts`, kind], { stdio: ['pipe', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    let tls: MllpClientTls | undefined;
    child.stdout?.on('data', (c: Buffer) => {
      out += c.toString();
      const pki = /^PKI (.*)$/m.exec(out);
      if (pki?.[1]) tls = JSON.parse(pki[1]) as MllpClientTls;
      const m = /PORT (\d+)/.exec(out);
      if (m) resolve({ kind, child, port: Number(m[1]), ...(tls ? { tls } : {}) });
    });
    child.once('exit', (code) => reject(new Error(`${kind} server exited (${code})`)));
  });
}

async function stopServer(r: Running): Promise<void> {
  await new Promise<void>((resolve) => {
    r.child.once('exit', () => resolve());
    r.child.stdin?.end();
    setTimeout(() => r.child.kill('SIGKILL'), 10_000).unref();
  });
}

/** Messages acknowledged per second over `ms`, with `n` senders; `reconnect`: one connection per message. */
async function measure(r: Running, ms: number, n: number, reconnect = false): Promise<{ rate: number; bad: number }> {
  const open = (): Promise<MllpClient> => MllpClient.connect({ host: '127.0.0.1', port: r.port, ackTimeoutMs: 30_000, ...(r.tls ? { tls: { ...r.tls, servername: 'localhost' } } : {}) });
  let acked = 0;
  let bad = 0;
  const start = performance.now();
  const end = start + ms;
  await Promise.all(
    Array.from({ length: n }, async () => {
      let c = await open();
      while (performance.now() < end) {
        const id = nextId();
        const reply = await c.send(messageFor(id));
        // The bare listener's fixed ACK names no control id: it is a ceiling, not a correct peer.
        if ((reply.code === 'AA' || reply.code === 'CA') && (reply.controlId === id || r.kind === 'bare')) acked++;
        else bad++;
        if (reply.controlId !== id && !reconnect && r.kind !== 'bare') break; // replies out of step: stop counting this sender
        if (reconnect) {
          await c.close();
          c = await open();
        }
      }
      await c.close();
    }),
  );
  const elapsed = performance.now() - start;
  return { rate: (acked * 1000) / elapsed, bad };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

const kinds = ['labedge', 'medplum', 'node-hl7-server', 'bare', 'labedge-tls', 'labedge-nostore'];
const peers = ['medplum', 'node-hl7-server'];
const reconnects = (k: string): boolean => k === 'node-hl7-server';
const bad: Record<string, number> = Object.fromEntries(kinds.map((k) => [k, 0]));
const samples: Record<string, number[]> = Object.fromEntries(kinds.map((k) => [k, []]));
const single: Record<string, number> = {};
for (let round = 0; round < rounds; round++) {
  const order = round % 2 === 0 ? kinds : [...kinds].reverse();
  for (const kind of order) {
    const server = await startServer(kind);
    try {
      await measure(server, 500, senders, reconnects(kind)); // warm-up
      const r = await measure(server, seconds * 1000, senders, reconnects(kind));
      samples[kind]?.push(r.rate);
      bad[kind] = (bad[kind] ?? 0) + r.bad;
      if (round === 0) single[kind] = (await measure(server, 1000, 1, reconnects(kind))).rate;
    } finally {
      await stopServer(server);
    }
  }
}

console.log(`MLLP, 28-OBX ORU (${Buffer.byteLength(messageFor(nextId()))} B), msg/s acknowledged, median of ${rounds} × ${seconds} s; one message in flight per sender`);
console.log(`${'server'.padEnd(52)}${`${senders} senders`.padStart(12)}${'1 sender'.padStart(12)}`);
const label: Record<string, string> = {
  labedge: 'labedge (ACK after fsync commit, plaintext opt-in)',
  'labedge-tls': 'labedge over mutual TLS (ACK after fsync commit)',
  'node-hl7-server': 'node-hl7-server 2.5.0 (AA, persists nothing; 1 conn/msg)',
  medplum: '@medplum/core parse + buildAck (persists nothing)',
  bare: 'bare net listener (fixed ACK, persists nothing)',
  'labedge-nostore': 'labedge intake, store stubbed out (not a peer)',
};
for (const k of kinds) {
  console.log(`${(label[k] ?? k).padEnd(52)}${Math.round(median(samples[k] ?? [])).toLocaleString('en').padStart(12)}${Math.round(single[k] ?? 0).toLocaleString('en').padStart(12)}`);
}
for (const k of kinds) if ((bad[k] ?? 0) > 0) console.log(`${k}: ${bad[k]} replies were negative or acknowledged another control id (not counted)`);
const ours = median(samples.labedge ?? []);
// The fastest peer whose every reply was right.
const correctPeers = peers.filter((k) => (bad[k] ?? 0) === 0);
const fastest = correctPeers.reduce((best, k) => (median(samples[k] ?? []) > median(samples[best] ?? []) ? k : best), correctPeers[0] ?? 'medplum');
const peer = median(samples[fastest] ?? []);
const bare = median(samples.bare ?? []);
console.log(`fastest correct non-persisting peer: ${fastest}; labedge / it: ${(ours / peer).toFixed(2)}; labedge / bare listener: ${(ours / bare).toFixed(2)}; TLS / plaintext: ${(median(samples['labedge-tls'] ?? []) / ours).toFixed(2)}`);
// Where the time goes: the same intake without the durable commit, against the same peer.
console.log(`labedge intake without the store / fastest peer: ${(median(samples['labedge-nostore'] ?? []) / peer).toFixed(2)} (the rest of the gap is the encrypted, audited, fsync'd commit)`);
console.log(JSON.stringify({ bench: 'mllp', metric: 'mllp_commit_vs_nonpersisting_peer', value: Number((ours / peer).toFixed(2)), target: 1.0 }));
