import { EventEmitter } from 'node:events';
import { parseCommandArgs, usageError } from './args.js';
import { loadConfigFile } from './load-config.js';
import { QueueStore } from '../store/queue-store.js';
import { DeliveryWorker } from '../daemon/delivery-worker.js';
import { WorkLoop } from '../daemon/work-loop.js';
import type { DaemonEvents } from '../daemon/events.js';
import { openUplink } from '../uplink/open-uplink.js';
import { LabedgeError, describeError } from '../core/errors.js';
import { silentLogger } from '../core/logger.js';
import { RateMeter, renderBar, renderLine, type DrainSnapshot } from './drain-progress.js';
import { operatorOpen } from './operator-open.js';

const TTY_EVERY_MS = 250;
const LINE_EVERY_MS = 2000;

/**
 * `labedge queue drain --config FILE [--data-dir DIR] [--progress] [--max-in-flight N] [--max-seconds N]`
 *
 * Runs the delivery worker alone against the store (the daemon must be stopped: the store's
 * lease refuses a second writer) until the outbound queue is empty: per source in order, at
 * most `--max-in-flight` bundles in flight (default `uplink.maxInFlight`), with the daemon's
 * retry policy. `--progress` shows a bar with rate and ETA on stderr when it is a terminal,
 * plain lines every 2 s otherwise. Ends with one summary line on stdout (counts only).
 * Exit codes: 0 drained; 1 the server refused our credentials (auth alarm), or time ran out;
 * 2 usage or configuration error.
 */
export async function queueDrainCommand(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs(
    argv,
    {
      config: { type: 'string' },
      'data-dir': { type: 'string' },
      'key-file': { type: 'string' },
      progress: { type: 'boolean', default: false },
      'max-in-flight': { type: 'string' },
      'max-seconds': { type: 'string' },
    },
    false,
  );
  if (!values.config) throw usageError('queue drain needs --config FILE (it holds the uplink settings)');
  const config = await loadConfigFile(values.config, { dataDir: values['data-dir'] });
  const maxInFlight = values['max-in-flight'] === undefined ? (config.uplink.maxInFlight ?? 8) : positiveInt(values['max-in-flight'], '--max-in-flight');
  const maxSeconds = values['max-seconds'] === undefined ? Infinity : positiveInt(values['max-seconds'], '--max-seconds');

  const store = await QueueStore.open({ dataDir: config.dataDir, keyFile: values['key-file'] ?? config.keyFile, ...operatorOpen('queue drain') });
  let uplink;
  try {
    uplink = await openUplink({ ...config.uplink, maxInFlight }, { logger: silentLogger() });
  } catch (e) {
    await store.close();
    throw e;
  }
  store.audit.setServer(config.uplink.baseUrl);

  const events = new EventEmitter<DaemonEvents>();
  const counts = { delivered: 0, deadLettered: 0 };
  let state: string | undefined;
  let refused: string | undefined;
  type Outcome = 'drained' | 'refused' | 'timeout' | 'signal';
  // Set once the wait below starts: an auth refusal ends the drain at once, before the paused
  // record's backoff could let it through and hide the refusal from the operator.
  let finish = (outcome: Outcome): void => void outcome;
  events.on('delivered', () => {
    counts.delivered++;
    state = undefined;
  });
  events.on('dead-lettered', () => counts.deadLettered++);
  events.on('delivery-failed', (e) => {
    state = `retrying: ${e.outcome}${e.status ? ` ${e.status}` : ''}`;
  });
  events.on('uplink-alarm', (e) => {
    if (e.kind === 'auth' && e.active) {
      refused = `upstream refused our credentials (${e.status ?? e.code ?? 'TLS'})`;
      finish('refused');
    }
    if (e.kind === 'circuit-open') state = e.active ? 'server unreachable: probing' : undefined;
  });

  const worker: DeliveryWorker = new DeliveryWorker({ store, client: uplink.client, events, logger: silentLogger(), wake: () => loop.wake(), maxInFlight });
  const loop: WorkLoop = new WorkLoop(worker.step, (e) => {
    state = `store error ${describeError(e)}`;
    store.noteFailure(e);
  });

  const start = await store.stats();
  const total = start.outbound;
  const startedAt = Date.now();
  const meter = new RateMeter();
  const tty = process.stderr.isTTY === true;
  const snapshot = (): DrainSnapshot => {
    const done = counts.delivered + counts.deadLettered;
    const snap: DrainSnapshot = { done, total, ...counts, rate: meter.sample(Date.now(), done) };
    if (state) snap.state = state;
    return snap;
  };
  let lastLine = 0;
  const show = (final = false): void => {
    if (!values.progress) return;
    const s = snapshot();
    if (tty) process.stderr.write(`\r\x1b[2K${renderBar(s, 30)}${final ? '\n' : ''}`);
    else if (final || Date.now() - lastLine >= LINE_EVERY_MS) {
      lastLine = Date.now();
      process.stderr.write(`${renderLine(s)}\n`);
    }
  };

  let stopTicking = (): void => undefined;
  let onSignal = (): void => undefined;
  let outcome: Outcome = 'drained';
  try {
    if (start.inbound > 0) process.stderr.write(`labedge: ${start.inbound} inbound message(s) are not mapped yet (the daemon maps them); drain delivers what is mapped\n`);
    loop.wake();
    outcome = await new Promise<Outcome>((resolve) => {
      finish = resolve;
      onSignal = () => resolve('signal');
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      // A ref'd timer: it keeps the process alive while deliveries wait on (unref'd) backoff timers.
      const tick = setInterval(() => {
        show();
        if (refused) return resolve('refused');
        if ((Date.now() - startedAt) / 1000 > maxSeconds) return resolve('timeout');
        store.stats().then(
          (s) => {
            if (s.outbound === 0 && worker.inFlightCount === 0) resolve('drained');
          },
          () => undefined,
        );
      }, TTY_EVERY_MS);
      stopTicking = () => clearInterval(tick);
    });
  } finally {
    stopTicking();
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    show(true);
    await worker.stop();
    await loop.stop();
    await uplink.close();
    const left = (await store.stats()).outbound;
    await store.close();
    const seconds = (Date.now() - startedAt) / 1000;
    const rate = seconds > 0 ? Math.round((counts.delivered + counts.deadLettered) / seconds) : 0;
    process.stdout.write(`drained ${counts.delivered} delivered, ${counts.deadLettered} dead-lettered, ${left} left in ${seconds.toFixed(1)} s (${rate} bundles/s)\n`);
  }
  if (outcome === 'drained') return 0;
  if (outcome === 'refused') throw new LabedgeError('LABEDGE_ERR_UPLINK_AUTH', `${refused}: fix the device certificate or SMART client, then drain again`);
  throw new LabedgeError('LABEDGE_ERR_UPLINK_TRANSIENT', outcome === 'timeout' ? `--max-seconds ${maxSeconds} reached with bundles left` : 'interrupted with bundles left');
}

function positiveInt(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw usageError(`${flag} must be a positive integer`);
  return n;
}
