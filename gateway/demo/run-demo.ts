import { createServer } from 'node:net';
import { mkdtemp, mkdir, readFile, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Daemon } from '../daemon/daemon.js';
import { verifyChain } from '../audit/verify.js';
import { createLogger } from '../core/logger.js';
import { defaultKeyFile, systemTimeZone, type LabedgeConfig } from '../config/config.js';
import { readTranscript, countResultRecords } from '../astm/transcript.js';
import { simulateAstmInstrument } from '../sim/astm-instrument.js';
import { openPtyPair, socatAvailable, type PtyPair } from '../../hardware/pty-pair.js';
import { createDevCa, issueDeviceCert, issueServerCert } from '../../provisioning/dev-ca.js';

export interface DemoOptions {
  transcripts: string[];
  dataDir?: string;
  baudRate?: number;
  lines?: number;
  print: (line: string) => void;
}

export interface DemoSummary {
  messagesSent: number;
  messagesAcknowledged: number;
  messagesIngested: number;
  messagesDelivered: number;
  resultRecords: number;
  observations: number;
  resourcesByType: Record<string, number>;
  validationErrors: number;
  queue: { inbound: number; outbound: number; deadLetter: number };
  /** The hash-chained audit trail, verified end to end at the close of the run. */
  audit: { entries: number; ok: boolean; firstBadSeq?: number; provenanceMatched: number };
  errors: number;
  dataDir: string;
  ok: boolean;
}

interface Line {
  id: string;
  /** A pty pair (the real serial path), or a loopback TCP port where socat is missing. */
  pty?: PtyPair;
  tcpPort?: number;
  files: string[];
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return typeof address === 'object' && address ? address.port : 0;
}

/**
 * The whole product on one machine: analyzers replay real transcripts over pty serial
 * lines at real baud timing, the daemon stores, maps and delivers them to a local FHIR
 * server that demands the box's client certificate. Prints only ids, counts and codes.
 */
export async function runDemo(options: DemoOptions): Promise<DemoSummary> {
  const { print } = options;
  const baudRate = options.baudRate ?? 9600;
  const useSerial = await socatAvailable();
  if (!useSerial) print('socat not found: running the same E1381 link protocol over TCP loopback instead of pty serial lines (apt-get install socat for serial)');
  const ownDir = options.dataDir === undefined;
  const root = ownDir ? await mkdtemp(join(tmpdir(), 'labedge-demo-')) : resolve(options.dataDir!, '..');
  const dataDir = ownDir ? join(root, 'data') : resolve(options.dataDir!);
  const pkiDir = `${dataDir}-pki`;
  await mkdir(pkiDir, { recursive: true, mode: 0o700 });

  // A development CA for this run: the server's certificate and the box's device certificate.
  const ca = createDevCa({ commonName: 'labedge demo CA' });
  const server = issueServerCert(ca, { hostnames: ['localhost'], ips: ['127.0.0.1'] });
  const device = issueDeviceCert(ca, { deviceId: 'labedge-demo' });
  const files = { ca: join(pkiDir, 'ca.pem'), cert: join(pkiDir, 'device.pem'), key: join(pkiDir, 'device.key') };
  await writeFile(files.ca, ca.certPem, { mode: 0o644 });
  await writeFile(files.cert, device.certPem, { mode: 0o644 });
  await writeFile(files.key, device.keyPem, { mode: 0o600 });

  const { startFhirServer } = await import('../../test/harness/fhir-server.js');
  const fhir = await startFhirServer({ ca: ca.certPem, cert: server.certPem, key: server.keyPem });

  const lineCount = Math.max(1, Math.min(options.lines ?? 3, options.transcripts.length));
  const lines: Line[] = [];
  for (let i = 0; i < lineCount; i++) {
    const id = `analyzer-${i + 1}`;
    lines.push(useSerial ? { id, pty: await openPtyPair(), files: [] } : { id, tcpPort: await freePort(), files: [] });
  }
  options.transcripts.forEach((file, i) => lines[i % lineCount]!.files.push(file));

  const config: LabedgeConfig = {
    deviceId: 'labedge-demo',
    dataDir,
    keyFile: defaultKeyFile(dataDir),
    logLevel: 'warn',
    uplink: { baseUrl: fhir.url, caFile: files.ca, certFile: files.cert, keyFile: files.key, timeoutMs: 10_000 },
    instruments: lines.map((l) => ({
      id: l.id,
      protocol: 'astm' as const,
      encoding: 'auto' as const,
      timeZone: systemTimeZone(),
      transport: l.pty
        ? { type: 'serial' as const, path: l.pty.hostPath, baudRate, dataBits: 8 as const, parity: 'none' as const, stopBits: 1 as const }
        : { type: 'tcp' as const, host: '127.0.0.1', port: l.tcpPort ?? 0 },
    })),
  };
  const daemon = new Daemon({ config, logger: createLogger({ level: 'warn' }), retryBaseMs: 200 });
  const counts = { ingested: 0, delivered: 0, errors: 0 };
  daemon.on('ingested', (e) => {
    counts.ingested++;
    print(`  [${e.sourceId}] message committed to the store as ${e.id} (${e.bytes} bytes) → ACK`);
  });
  daemon.on('transformed', (e) => print(`  [${e.sourceId}] ${e.inboundId} mapped to a transaction Bundle of ${e.resources} resources`));
  daemon.on('delivered', (e) => {
    counts.delivered++;
    print(`  [${e.sourceId}] ${e.id} delivered over mutual TLS: HTTP ${e.status}`);
  });
  daemon.on('rejected', (e) => {
    counts.errors++;
    print(`  [${e.sourceId}] ${e.id} could not be mapped (${e.reasonCode}): kept in the dead-letter queue`);
  });
  daemon.on('dead-lettered', (e) => {
    counts.errors++;
    print(`  [${e.sourceId}] ${e.id} rejected upstream (HTTP ${e.status ?? '?'}): kept in the dead-letter queue`);
  });
  daemon.on('delivery-failed', (e) => print(`  [${e.sourceId}] ${e.id} delivery failed (${e.outcome}${e.status ? ` ${e.status}` : ''}), retry in ${e.retryInMs} ms`));
  daemon.on('ingest-refused', (e) => {
    counts.errors++;
    print(`  [${e.sourceId}] message refused (NAK): ${e.reason}`);
  });
  daemon.on('link', (e) => print(`  [${e.sourceId}] link: ${e.kind}${e.detail ? ` (${e.detail})` : ''}`));

  const medium = useSerial ? 'pty serial lines (socat)' : 'TCP loopback';
  print(`labedge demo: ${lineCount} analyzer(s) on ${medium} at ${baudRate} baud → labedge → FHIR server ${fhir.url} (mutual TLS)`);
  print(`  data directory ${dataDir} (encrypted; key outside it)`);
  await daemon.start();

  let messagesSent = 0;
  let messagesAcknowledged = 0;
  let resultRecords = 0;
  try {
    await Promise.all(
      lines.map(async (line) => {
        for (const file of line.files) {
          const messages = readTranscript(await readFile(file));
          resultRecords += countResultRecords(messages);
          print(`  [${line.id}] analyzer sends ${basename(file)}: ${messages.length} message(s)`);
          const sent = await simulateAstmInstrument({
            settings: line.pty
              ? { path: line.pty.instrumentPath, baudRate, dataBits: 8, parity: 'none', stopBits: 1 }
              : { tcp: { host: '127.0.0.1', port: line.tcpPort ?? 0 }, baudRate },
            messages,
          });
          messagesSent += messages.length;
          messagesAcknowledged += sent.acknowledged;
          if (sent.failed > 0) {
            counts.errors += sent.failed;
            print(`  [${line.id}] ${sent.failed} message(s) not acknowledged by labedge`);
          }
        }
      }),
    );
    // Wait for the pipeline to drain: everything committed is mapped and delivered.
    const deadline = Date.now() + 60_000;
    for (;;) {
      const stats = await daemon.queue.stats();
      if ((stats.inbound === 0 && stats.outbound === 0 && counts.ingested >= messagesAcknowledged) || Date.now() > deadline) break;
      await sleep(100);
    }
    const queue = await daemon.queue.stats();
    const verified = await verifyChain(daemon.queue.audit);
    // The evidence ties up end to end: each message's raw-bytes digest in the audit trail is the
    // digest its Provenance carries upstream.
    const ingested = new Set<string>();
    for await (const e of daemon.queue.audit.entries()) if (e.kind === 'ingest' && typeof e.body.digest === 'string') ingested.add(e.body.digest);
    const upstreamDigests = (await fhir.search('Provenance', '_count=1000')).map((r) => (r as { entity?: { what?: { identifier?: { value?: string } } }[] }).entity?.[0]?.what?.identifier?.value);
    const provenanceMatched = upstreamDigests.filter((d) => d !== undefined && ingested.has(d)).length;
    const audit = { entries: verified.entries, ok: verified.ok, provenanceMatched, ...(verified.firstBreak ? { firstBadSeq: verified.firstBreak.seq } : {}) };
    const resourcesByType = await fhir.countByType();
    const observations = resourcesByType.Observation ?? 0;
    const validationErrors = fhir.validationErrors.length;
    const ok =
      counts.errors === 0 && validationErrors === 0 && queue.inbound === 0 && queue.outbound === 0 &&
      messagesAcknowledged === messagesSent && observations === resultRecords && audit.ok && provenanceMatched === counts.ingested;
    return {
      messagesSent,
      messagesAcknowledged,
      messagesIngested: counts.ingested,
      messagesDelivered: counts.delivered,
      resultRecords,
      observations,
      resourcesByType,
      validationErrors,
      audit,
      queue,
      errors: counts.errors,
      dataDir,
      ok,
    };
  } finally {
    await daemon.stop();
    await fhir.close();
    await Promise.allSettled(lines.map((l) => l.pty?.close()));
    if (ownDir) await rm(root, { recursive: true, force: true });
  }
}
