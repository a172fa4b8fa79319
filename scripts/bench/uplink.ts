/**
 * Uplink throughput: a backlog of mapped messages (ASTM → FHIR transaction Bundle + Provenance)
 * spread over several sources in the real encrypted store, drained by the real DeliveryWorker
 * and FhirUplinkClient (mutual TLS, per-source order, bounded in flight) to the local harness
 * server, beside the raw undici POST rate of the same bodies to the same server with the same
 * TLS and the same concurrency, in the same run (raw → uplink → raw; the ratio uses the mean
 * of the two raw runs).
 *
 * The server runs in `sink` mode by default: TLS with client certificates as always, the body
 * parsed and a transaction-response returned, nothing validated or stored. The in-memory FHIR
 * repository is far slower than the client (its conditional searches scan every resource), so
 * against it both sides would just measure the harness; `--server fhir` runs that way anyway
 * (use a small count: it slows down as it fills).
 *
 *   npm run bench -- uplink [--messages 100000] [--sources 10] [--in-flight 8] [--server sink|fhir]
 */
import { EventEmitter } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { createDevCa, issueDeviceCert, issueServerCert } from '../../provisioning/dev-ca.js';
import { startFhirServer } from '../../test/harness/fhir-server.js';
import { QueueStore } from '../../gateway/store/queue-store.js';
import { convertAstm } from '../../gateway/fhir/astm-to-fhir.js';
import { withProvenance } from '../../gateway/fhir/provenance.js';
import { messageDigest } from '../../gateway/daemon/transform-worker.js';
import { DeliveryWorker } from '../../gateway/daemon/delivery-worker.js';
import { WorkLoop } from '../../gateway/daemon/work-loop.js';
import type { DaemonEvents } from '../../gateway/daemon/events.js';
import { FhirUplinkClient } from '../../gateway/uplink/fhir-client.js';
import { silentLogger } from '../../gateway/core/logger.js';

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '100000' },
    sources: { type: 'string', default: '10' },
    'in-flight': { type: 'string', default: '8' },
    server: { type: 'string', default: 'sink' },
  },
});
const MESSAGES = Number(values.messages);
const SOURCES = Number(values.sources);
const IN_FLIGHT = Number(values['in-flight']);
const SINK = values.server !== 'fhir';

function rawMessage(n: number): Buffer {
  const source = n % SOURCES;
  return Buffer.from(
    [
      `H|\\^&|||Cobas^c311^1.0|||||||P|LIS2-A2|2026120310${String(n % 60).padStart(2, '0')}00`,
      `P|1||PAT-${n % 5000}||Doe^Jane||19700101|F`,
      `O|1|SPEC-${source}-${n}||^^^GLU\\^^^CREA\\^^^ALT|R|202612030955|||||||||SER`,
      `R|1|^^^GLU|${(4 + (n % 30) / 10).toFixed(1)}|mmol/L|3.9-6.1|N||F||||20261203101000`,
      `R|2|^^^CREA|${60 + (n % 40)}|umol/L|45-90|N||F||||20261203101000`,
      `R|3|^^^ALT|${10 + (n % 50)}|U/L|0-45|${n % 50 > 35 ? 'H' : 'N'}||F||||20261203101000`,
      'L|1|N',
    ].join('\r'),
    'latin1',
  );
}

const fmt = (x: number): string => (x >= 100 ? Math.round(x).toLocaleString('en-US') : x.toFixed(1));

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'labedge-bench-uplink-'));
  const ca = createDevCa({ commonName: 'bench CA' });
  const serverCert = issueServerCert(ca, { hostnames: ['localhost'], ips: ['127.0.0.1'] });
  const device = issueDeviceCert(ca, { deviceId: 'bench-box' });
  const server = await startFhirServer({ ca: ca.certPem, cert: serverCert.certPem, key: serverCert.keyPem, sink: SINK });
  const store = await QueueStore.open({ dataDir: join(dir, 'data'), keyFile: join(dir, 'keys', 'kek') });
  try {
    // The backlog: what a week-long outage leaves behind (setup, not timed).
    let t0 = performance.now();
    const samples: string[] = [];
    let entries = 0;
    const WAVE = 256;
    for (let start = 0; start < MESSAGES; start += WAVE) {
      await Promise.all(
        Array.from({ length: Math.min(WAVE, MESSAGES - start) }, async (_, i) => {
          const n = start + i;
          const sourceId = `analyzer-${n % SOURCES}`;
          const raw = rawMessage(n);
          const digest = messageDigest(raw);
          const { bundle } = convertAstm(raw.toString('latin1'), { sourceId, messageId: digest, timeZone: 'UTC' });
          const withProv = withProvenance(bundle, { sourceId, messageDigest: digest, deviceId: 'bench-box', softwareVersion: '0.0.0', recordedAt: Date.now() });
          entries += withProv.entry?.length ?? 0;
          if (samples.length < 1000) samples.push(JSON.stringify(withProv));
          const id = await store.commitInbound({ sourceId, raw, receivedAt: Date.now() });
          await store.transformed(id, { sourceId, bundle: withProv });
        }),
      );
    }
    const bodyBytes = samples.reduce((a, s) => a + s.length, 0) / samples.length;
    console.log(`backlog: ${fmt(MESSAGES)} messages over ${SOURCES} sources, ${fmt(entries)} resources, ~${fmt(bodyBytes)} B per bundle (built in ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    console.log(`server: harness over mutual TLS, ${SINK ? 'sink mode (parse + transaction-response)' : 'full FHIR repository'}; ${IN_FLIGHT} in flight`);

    // Peer: raw undici POSTs of the same bodies, same TLS, same concurrency.
    const raw = async (count = MESSAGES): Promise<number> => {
      const pool = new Pool(new URL(server.url).origin, { connections: IN_FLIGHT, connect: { ca: ca.certPem, cert: device.certPem, key: device.keyPem, minVersion: 'TLSv1.2' } });
      const path = new URL(server.url).pathname;
      let next = 0;
      const cpu = process.cpuUsage();
      const started = performance.now();
      await Promise.all(
        Array.from({ length: IN_FLIGHT }, async () => {
          while (next < count) {
            const body = samples[next++ % samples.length] ?? '{}';
            const res = await pool.request({ method: 'POST', path, headers: { 'content-type': 'application/fhir+json; charset=utf-8', accept: 'application/fhir+json' }, body });
            const text = await res.body.text();
            if (res.statusCode !== 200) throw new Error(`raw POST got ${res.statusCode}`);
            JSON.parse(text);
          }
        }),
      );
      const rate = (count * 1000) / (performance.now() - started);
      cpuPer.raw.push(cpuMicros(cpu) / count);
      await pool.close();
      return rate;
    };

    const split = { postMs: 0, commitMs: 0, reads: 0, readMs: 0, seconds: 0 };
    // CPU per bundle (this process: client and harness server both) is steadier than rates on a busy machine.
    const cpuPer = { raw: [] as number[], uplink: 0 };
    const cpuMicros = (since: NodeJS.CpuUsage): number => {
      const d = process.cpuUsage(since);
      return d.user + d.system;
    };
    const uplink = async (): Promise<{ bundles: number; resources: number }> => {
      const client = new FhirUplinkClient({ baseUrl: server.url, ca: ca.certPem, cert: device.certPem, key: device.keyPem, connections: IN_FLIGHT, timeoutMs: 30_000 });
      const events = new EventEmitter<DaemonEvents>();
      let delivered = 0;
      let failed = 0;
      let resources = 0;
      events.on('delivered', (e) => {
        delivered++;
        resources += e.resources;
      });
      events.on('delivery-failed', () => failed++);
      events.on('dead-lettered', () => failed++);
      // Where a source's time goes: its next bundle waits for this one's POST and then for
      // its removal to be on disk (fsync), so per source the rate is 1 / (post + commit).
      const timed = async <T>(post: () => Promise<T>): Promise<T> => {
        const t = performance.now();
        try {
          return await post();
        } finally {
          split.postMs += performance.now() - t;
        }
      };
      const timedClient = {
        postBundle: (bundle: object) => timed(() => client.postBundle(bundle)),
        postBundleJson: (json: string, bundle: () => object) => timed(() => client.postBundleJson(json, bundle)),
      };
      const timedStore: typeof store = Object.create(store) as typeof store;
      timedStore.delivered = async (...args: Parameters<typeof store.delivered>) => {
        const t = performance.now();
        try {
          return await store.delivered(...args);
        } finally {
          split.commitMs += performance.now() - t;
        }
      };
      const timedRead = async <T>(read: () => Promise<T>): Promise<T> => {
        const t = performance.now();
        try {
          return await read();
        } finally {
          split.reads += 1;
          split.readMs += performance.now() - t;
        }
      };
      timedStore.outboundHeads = (perSource?: number) => timedRead(() => store.outboundHeads(perSource));
      timedStore.outboundAfter = (cursors, perSource) => timedRead(() => store.outboundAfter(cursors, perSource));
      const worker: DeliveryWorker = new DeliveryWorker({ store: timedStore, client: timedClient, events, logger: silentLogger(), wake: () => loop.wake(), maxInFlight: IN_FLIGHT, baseDelayMs: 50 });
      const loop: WorkLoop = new WorkLoop(worker.step, (e) => console.error('delivery step failed', e));
      const cpu = process.cpuUsage();
      const started = performance.now();
      const done = new Promise<void>((resolve) => {
        events.on('delivered', () => {
          if (delivered === MESSAGES) resolve();
        });
      });
      loop.wake();
      await done;
      const seconds = (performance.now() - started) / 1000;
      cpuPer.uplink = cpuMicros(cpu) / MESSAGES;
      await worker.stop();
      await loop.stop();
      await client.close();
      if (failed > 0) console.log(`  (${failed} failed attempts, retried)`);
      split.seconds = seconds;
      return { bundles: delivered / seconds, resources: resources / seconds };
    };

    await raw(Math.min(MESSAGES, 2000)); // warm-up: JIT, TLS sessions, server paths
    t0 = performance.now();
    const raw1 = await raw();
    const up = await uplink();
    const raw2 = await raw();
    const rawMean = (raw1 + raw2) / 2;
    const left = (await store.stats()).outbound;
    if (left !== 0) throw new Error(`${left} bundles left in the store`);
    console.log(`raw undici POST       ${fmt(raw1)} / ${fmt(raw2)} req/s (before / after)`);
    console.log(`uplink (store→server) ${fmt(up.bundles)} bundles/s, ${fmt(up.resources)} resources/s`);
    console.log(`uplink / raw          ${(up.bundles / rawMean).toFixed(2)}   (measured in ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    const rawCpu = (cpuPer.raw.at(-1)! + cpuPer.raw.at(-2)!) / 2;
    console.log(`CPU per bundle (client + server in this process): raw ${Math.round(rawCpu)} µs, uplink ${Math.round(cpuPer.uplink)} µs`);
    const postMs = split.postMs / MESSAGES;
    const commitMs = split.commitMs / MESSAGES;
    console.log(`per bundle: POST ${postMs.toFixed(2)} ms, removal committed (fsync) ${commitMs.toFixed(2)} ms; read-ahead: ${split.reads} scans, ${fmt(split.readMs)} ms in all`);
    // A source's next bundle goes once the last one is answered; it waits for the last removal's
    // commit as well only when the two share a conditional-update target (a correction).
    console.log(`per-source ceiling: ${SOURCES} sources / POST = ${fmt((SOURCES * 1000) / postMs)} bundles/s; ${fmt((SOURCES * 1000) / (postMs + commitMs))} if every bundle waited for the last removal's commit`);
    console.log(JSON.stringify({ bench: 'uplink', metric: 'uplink_bundles_per_s', value: Math.round(up.bundles) }));
    console.log(JSON.stringify({ bench: 'uplink', metric: 'uplink_resources_per_s', value: Math.round(up.resources) }));
    console.log(JSON.stringify({ bench: 'uplink', metric: 'uplink_vs_raw_undici', value: Number((up.bundles / rawMean).toFixed(2)), target: 0.7 }));
  } finally {
    await store.close();
    await server.close();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
