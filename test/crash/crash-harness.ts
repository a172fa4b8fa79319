import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { openPtyPair, type PtyPair } from '../../hardware/pty-pair.js';
import { simulateAstmInstrument } from '../../gateway/sim/astm-instrument.js';
import { QueueStore, type StoreAlarm } from '../../gateway/store/queue-store.js';
import { defaultKeyFile } from '../../gateway/config/config.js';
import { spawnDaemon, startUpstream, writeDaemonConfig, type DaemonProcess, type Upstream } from '../harness/daemon-process.js';

/**
 * The crash harness: the real daemon (`labedge run`, a child process) under load from several
 * simulated analyzers on socat pty serial lines, killed with SIGKILL at random moments and
 * restarted, round after round. After each restart: the store opened without an error alarm,
 * and every message acknowledged before the kill reaches the FHIR server. At the end:
 * every acknowledged message delivered exactly once (resources counted by identifier), in
 * order per analyzer (the server reports commits in order; the order key is the message's
 * sequence number in its specimen id), nothing refused reported delivered, and the store
 * reopens clean and empty.
 */
export interface CrashOptions {
  rounds: number;
  instruments?: number;
  baudRate?: number;
  /** The kill comes this long after the daemon is ready: uniformly in [min, max]. */
  killAfterMs?: [number, number];
  /** Per-round wait for the acknowledged messages to arrive upstream. */
  deliveryTimeoutMs?: number;
  log?: (line: string) => void;
}

export interface CrashReport {
  rounds: number;
  /** Messages whose final frame the daemon acknowledged. */
  acked: number;
  /** Distinct messages that reached the server (acknowledged, or in flight at a kill). */
  delivered: number;
  /** Extra copies of resources, counted by business identifier. */
  duplicates: number;
  /** Acknowledged messages that never reached the server. */
  lost: number;
  /** Per analyzer, messages whose first commit upstream came after a later message's. */
  reordered: number;
  /** Messages the daemon refused (NAK) that nevertheless reached the server. */
  refusedButDelivered: number;
  /** Restarts whose store opened with an error alarm, and the final open's problems. */
  problems: string[];
}

const RESULTS_PER_MESSAGE = 2;

export const specimenOf = (line: number, n: number): string => `CRASH-${line}-${String(n).padStart(6, '0')}`;

/** A result message whose specimen id carries its analyzer and sequence number. */
export function crashMessage(line: number, n: number): string[] {
  const spec = specimenOf(line, n);
  return [
    'H|\\^&|||CrashSim^1.0|||||||P|LIS2-A2|20261203101500',
    `P|1|CRPID-${line}-${n}`,
    `O|1|${spec}||^^^GLU\\^^^NA|R`,
    `R|1|^^^GLU|${5 + (n % 50) / 10}|mmol/L|3.9-6.1|N||F||||20261203101000`,
    `R|2|^^^NA|${130 + (n % 15)}|mmol/L|135-145|N||F||||20261203101000`,
    'L|1|N',
  ];
}

function parseSpecimen(value: string): { line: number; n: number } | undefined {
  const m = /^CRASH-(\d+)-(\d+)$/.exec(value);
  return m ? { line: Number(m[1]), n: Number(m[2]) } : undefined;
}

interface Resource {
  resourceType?: string;
  identifier?: Array<{ value?: string }>;
}

/** What the server committed, in commit order: the first commit of each specimen per line. */
class UpstreamOrder {
  readonly firstSeen = new Set<string>();
  readonly maxN = new Map<number, number>();
  reordered = 0;

  onCommitted = (bundle: unknown): void => {
    for (const entry of (bundle as { entry?: Array<{ resource?: Resource }> }).entry ?? []) {
      if (entry.resource?.resourceType !== 'Specimen') continue;
      for (const id of entry.resource.identifier ?? []) {
        const parsed = id.value === undefined ? undefined : parseSpecimen(id.value);
        if (!parsed || !id.value || this.firstSeen.has(id.value)) continue;
        this.firstSeen.add(id.value);
        const max = this.maxN.get(parsed.line) ?? -1;
        if (parsed.n < max) this.reordered += 1;
        else this.maxN.set(parsed.line, parsed.n);
      }
    }
  };
}

/** One analyzer sending message after message, like a real one, until stopped; outcomes recorded. */
function runInstrument(line: PtyPair, lineNo: number, baudRate: number, state: { stopped: boolean }, outcome: Map<string, string>): Promise<void> {
  return (async () => {
    let n = 0;
    while (!state.stopped) {
      const first = n;
      const batch = Array.from({ length: 4 }, (_, i) => crashMessage(lineNo, first + i));
      n += batch.length;
      await simulateAstmInstrument({
        settings: { path: line.instrumentPath, baudRate, dataBits: 8, parity: 'none', stopBits: 1 },
        messages: batch,
        replyTimeoutMs: 700,
        onMessage: (i, ok, reason) => outcome.set(specimenOf(lineNo, first + i), ok ? 'ack' : (reason ?? 'failed')),
      }).catch(() => sleep(100)); // the port can be briefly unavailable; the next batch tries again
    }
  })();
}

function storeAlarmErrors(output: string): string[] {
  return output
    .split('\n')
    .filter((l) => l.includes('"msg":"store alarm"') && l.includes('"severity":"error"') && !l.includes('"cleared":true'))
    .map((l) => l.slice(0, 300));
}

async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await sleep(100);
  }
}

export async function runCrashHarness(opts: CrashOptions): Promise<CrashReport> {
  const log = opts.log ?? (() => undefined);
  const lineCount = opts.instruments ?? 3;
  const baudRate = opts.baudRate ?? 115200;
  const [killMin, killMax] = opts.killAfterMs ?? [500, 3000];
  const dir = await mkdtemp(join(tmpdir(), 'labedge-crash-harness-'));
  const order = new UpstreamOrder();
  const outcome = new Map<string, string>();
  const problems: string[] = [];
  let upstream: Upstream | undefined;
  const lines: PtyPair[] = [];
  let daemon: DaemonProcess | undefined;
  const state = { stopped: false };
  const senders: Promise<void>[] = [];
  try {
    upstream = await startUpstream(join(dir, 'pki'), { onCommitted: order.onCommitted });
    for (let i = 0; i < lineCount; i++) lines.push(await openPtyPair());
    const dataDir = join(dir, 'data');
    const config = await writeDaemonConfig(dir, {
      upstream,
      dataDir,
      instruments: lines.map((l, i) => ({ id: `line-${i + 1}`, path: l.hostPath, baudRate })),
      extra: { logLevel: 'info', store: { minFreeDiskBytes: 0 } },
    });
    const start = async (): Promise<DaemonProcess> => {
      const d = spawnDaemon(config);
      await d.waitFor('labedge started', 30_000);
      for (const l of lines) await d.waitFor(l.hostPath, 10_000);
      return d;
    };
    const acked = (): string[] => [...outcome].filter(([, o]) => o === 'ack').map(([s]) => s);

    daemon = await start();
    lines.forEach((l, i) => senders.push(runInstrument(l, i + 1, baudRate, state, outcome)));
    for (let round = 1; round <= opts.rounds; round++) {
      await sleep(killMin + Math.random() * (killMax - killMin));
      const ackedBefore = acked();
      await daemon.kill('SIGKILL');
      await sleep(Math.random() * 300);
      daemon = await start();
      for (const p of storeAlarmErrors(daemon.output())) problems.push(`round ${round}: ${p}`);
      const arrived = await waitUntil(() => ackedBefore.every((s) => order.firstSeen.has(s)), opts.deliveryTimeoutMs ?? 30_000);
      const missing = ackedBefore.filter((s) => !order.firstSeen.has(s)).length;
      log(`round ${round}/${opts.rounds}: acked ${ackedBefore.length} before the kill, ${arrived ? 'all delivered' : `${missing} not delivered yet`}`);
    }
    state.stopped = true;
    await Promise.all(senders);
    await waitUntil(() => acked().every((s) => order.firstSeen.has(s)), opts.deliveryTimeoutMs ?? 30_000);
    // Let whatever was in flight at the end land, then stop the daemon cleanly.
    let seen = -1;
    await waitUntil(() => {
      const stable = seen === order.firstSeen.size;
      seen = order.firstSeen.size;
      return stable;
    }, 10_000);
    await sleep(1000);
    await daemon.kill('SIGTERM');
    daemon = undefined;

    // The store reopens clean, with nothing left to do.
    const alarms: StoreAlarm[] = [];
    const store = await QueueStore.open({ dataDir, keyFile: defaultKeyFile(dataDir), onAlarm: (a) => alarms.push(a) });
    const stats = await store.stats();
    await store.close();
    for (const a of alarms.filter((x) => x.severity === 'error')) problems.push(`final open: ${a.code} ${a.message}`);
    if (stats.inbound + stats.outbound > 0) problems.push(`final open: ${stats.inbound} inbound and ${stats.outbound} outbound records left`);

    const counts = await upstream.fhir.countByType();
    const delivered = order.firstSeen.size;
    const duplicates = Math.max(0, (counts.Specimen ?? 0) - delivered) + Math.max(0, (counts.Observation ?? 0) - RESULTS_PER_MESSAGE * delivered);
    const ackedSet = acked();
    const lost = ackedSet.filter((s) => !order.firstSeen.has(s)).length;
    const refusedButDelivered = [...order.firstSeen].filter((s) => outcome.get(s) === 'retries-exhausted').length;
    if (upstream.fhir.validationErrors.length > 0) problems.push(`${upstream.fhir.validationErrors.length} FHIR validation errors`);
    return { rounds: opts.rounds, acked: ackedSet.length, delivered, duplicates, lost, reordered: order.reordered, refusedButDelivered, problems };
  } finally {
    state.stopped = true;
    await daemon?.kill('SIGKILL');
    await Promise.allSettled(senders);
    await upstream?.close();
    await Promise.all(lines.map((l) => l.close()));
    await rm(dir, { recursive: true, force: true });
  }
}

export function crashLine(r: Pick<CrashReport, 'rounds' | 'acked' | 'delivered' | 'duplicates' | 'lost' | 'reordered'>): string {
  return `crash rounds=${r.rounds} acked=${r.acked} delivered=${r.delivered} duplicates=${r.duplicates} lost=${r.lost} reordered=${r.reordered}`;
}
