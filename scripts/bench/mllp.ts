/**
 * MLLP throughput with ACK-after-commit: 10 concurrent senders (one connection each, one message
 * in flight, as analyzers behave) send the 28-OBX NIST ORU (10 kB, a unique MSH-10 per message)
 * and count acknowledgements per second. labedge commits every message to the encrypted store
 * (fsync'd group commit, dedupe entry, audit entry) before its AA; node-hl7-server answers AA
 * without persisting anything; `bare` is a minimal listener writing a fixed ACK (the ceiling).
 * Each server runs in its own process; servers alternate over rounds after a warm-up.
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
const nextMessage = (): string => `${mshHead}|BENCH-${process.pid}-${++seq}|${mshRest[0]}\r`;

interface Running {
  child: ChildProcess;
  port: number;
  tls?: MllpClientTls;
}

function startServer(kind: string): Promise<Running> {
  const child = spawn(process.execPath, ['--import', 'tsx', `${here}/_mllp-server.ts`, kind], { stdio: ['pipe', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    let tls: MllpClientTls | undefined;
    child.stdout?.on('data', (c: Buffer) => {
      out += c.toString();
      const pki = /^PKI (.*)$/m.exec(out);
      if (pki?.[1]) tls = JSON.parse(pki[1]) as MllpClientTls;
      const m = /PORT (\d+)/.exec(out);
      if (m) resolve({ child, port: Number(m[1]), ...(tls ? { tls } : {}) });
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

/** Messages acknowledged per second over `ms`, with `n` senders; every reply must be positive. */
async function measure(r: Running, ms: number, n: number): Promise<{ rate: number; bad: number }> {
  const clients = await Promise.all(Array.from({ length: n }, () => MllpClient.connect({ host: '127.0.0.1', port: r.port, ackTimeoutMs: 30_000, ...(r.tls ? { tls: { ...r.tls, servername: 'localhost' } } : {}) })));
  let acked = 0;
  let bad = 0;
  const start = performance.now();
  const end = start + ms;
  await Promise.all(
    clients.map(async (c) => {
      while (performance.now() < end) {
        const reply = await c.send(nextMessage());
        if (reply.code === 'AA' || reply.code === 'CA') acked++;
        else bad++;
      }
    }),
  );
  const elapsed = performance.now() - start;
  await Promise.all(clients.map((c) => c.close()));
  return { rate: (acked * 1000) / elapsed, bad };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

const kinds = ['labedge', 'node-hl7-server', 'bare', 'labedge-tls'];
const samples: Record<string, number[]> = Object.fromEntries(kinds.map((k) => [k, []]));
const single: Record<string, number> = {};
let badReplies = 0;
for (let round = 0; round < rounds; round++) {
  const order = round % 2 === 0 ? kinds : [...kinds].reverse();
  for (const kind of order) {
    const server = await startServer(kind);
    try {
      await measure(server, 500, senders); // warm-up
      const r = await measure(server, seconds * 1000, senders);
      samples[kind]?.push(r.rate);
      badReplies += r.bad;
      if (round === 0) single[kind] = (await measure(server, 1000, 1)).rate;
    } finally {
      await stopServer(server);
    }
  }
}

console.log(`MLLP, 28-OBX ORU (${Buffer.byteLength(nextMessage())} B), msg/s acknowledged, median of ${rounds} × ${seconds} s; one message in flight per sender`);
console.log(`${'server'.padEnd(52)}${`${senders} senders`.padStart(12)}${'1 sender'.padStart(12)}`);
const label: Record<string, string> = {
  labedge: 'labedge (ACK after fsync commit, plaintext opt-in)',
  'labedge-tls': 'labedge over mutual TLS (ACK after fsync commit)',
  'node-hl7-server': 'node-hl7-server 2.5.0 (AA, persists nothing)',
  bare: 'bare net listener (fixed ACK, persists nothing)',
};
for (const k of kinds) {
  console.log(`${(label[k] ?? k).padEnd(52)}${Math.round(median(samples[k] ?? [])).toLocaleString('en').padStart(12)}${Math.round(single[k] ?? 0).toLocaleString('en').padStart(12)}`);
}
if (badReplies > 0) console.log(`WARNING: ${badReplies} replies were not AA/CA`);
const ours = median(samples.labedge ?? []);
const peer = median(samples['node-hl7-server'] ?? []);
const bare = median(samples.bare ?? []);
console.log(`labedge / node-hl7-server: ${(ours / peer).toFixed(2)}; labedge / bare listener: ${(ours / bare).toFixed(2)}; TLS / plaintext: ${(median(samples['labedge-tls'] ?? []) / ours).toFixed(2)}`);
console.log(JSON.stringify({ bench: 'mllp', metric: 'mllp_commit_vs_nonpersisting_peer', value: Number((ours / peer).toFixed(2)), target: 1.0 }));
