import { resolve } from 'node:path';
import { parseCommandArgs, usageError } from './args.js';
import { loadConfigFile } from './load-config.js';
import { QueueStore, type DeadLetter, type OperatorAccessEvent } from '../store/queue-store.js';
import { defaultKeyFile, type LabedgeConfig } from '../config/config.js';
import { describeError, isLabedgeError } from '../core/errors.js';
import { describeLease, leaseIsFresh, readLease } from '../store/store-lease.js';
import { authenticateOperator, type Operator } from '../audit/operator-auth.js';
import { parseSince } from '../audit/audit-export.js';
import { operatorOpen } from './operator-open.js';

const USAGE = 'queue takes stats | list | dlq list | dlq show ID | dlq replay ID [--to inbound|outbound] | dlq purge [--older-than AGE]';

const out = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

/**
 * Operator view of the queue. `stats`, `list` and `dlq list` print counts and opaque ids
 * only. `dlq show` prints a dead letter's content (the raw message or the bundle), and
 * `dlq replay` / `dlq purge` change the queue: all three need an operator credential
 * (`--operator-token-file`, checked against the config's `operators`) and are written to the
 * audit trail before they take effect; a failed credential is audited too.
 */
export async function queueCommand(argv: string[]): Promise<number> {
  if (argv[0] === 'drain') return (await import('./cmd-queue-drain.js')).queueDrainCommand(argv.slice(1));
  const { values, positionals } = parseCommandArgs(argv, {
    'data-dir': { type: 'string' },
    'key-file': { type: 'string' },
    config: { type: 'string' },
    json: { type: 'boolean', default: false },
    'operator-token-file': { type: 'string' },
    to: { type: 'string' },
    'older-than': { type: 'string' },
  });
  const [sub, sub2, id, ...extra] = positionals;
  if (extra.length > 0) throw usageError(USAGE);
  const operatorAction = sub === 'dlq' && (sub2 === 'show' || sub2 === 'replay' || sub2 === 'purge');
  if (operatorAction && sub2 !== 'purge' && !id) throw usageError(`queue dlq ${sub2} needs a dead-letter id (d-…)`);
  if (values.to !== undefined && values.to !== 'inbound' && values.to !== 'outbound') throw usageError('--to must be inbound or outbound');
  // An age (30d, 12h) or a time: dead letters from before it are purged.
  const now = Date.now();
  const olderThanMs = values['older-than'] === undefined ? undefined : now - parseSince(values['older-than'], now);
  if (operatorAction && !values['operator-token-file']) throw usageError(`queue dlq ${sub2} needs --operator-token-file FILE (and --config FILE with "operators")`);

  let config: LabedgeConfig | undefined;
  let dataDir = resolve(values['data-dir'] ?? './data');
  let keyFile = values['key-file'] ?? defaultKeyFile(dataDir);
  if (values.config) {
    config = await loadConfigFile(values.config, { dataDir: values['data-dir'] });
    dataDir = config.dataDir;
    keyFile = values['key-file'] ?? config.keyFile;
  }
  // Every operator access lands in the store's own audit trail before it takes effect.
  const onOperatorAccess = async (e: OperatorAccessEvent): Promise<void> => {
    await store.audit.append({ kind: 'dlq-access', body: { operator: e.operator, action: e.action, ids: e.ids } });
  };
  let store: QueueStore;
  try {
    store = await QueueStore.open({ dataDir, keyFile, onOperatorAccess, ...operatorOpen(['queue', sub, sub2].filter(Boolean).join(' ')) });
  } catch (e) {
    // The daemon holds the store: its lease carries its counts (renewed every 10 s).
    if (sub === 'stats' && isLabedgeError(e) && e.code === 'LABEDGE_ERR_STORE_LOCKED') return statsFromLease(dataDir, values.json, e);
    throw e;
  }
  try {
    if (sub === 'stats') {
      const stats = await store.stats();
      out(values.json ? JSON.stringify(stats) : `inbound ${stats.inbound}\noutbound ${stats.outbound}\ndead-letter ${stats.deadLetter}`);
      return 0;
    }
    if (sub === 'list') {
      for (const r of await store.listInbound(1000)) out(`inbound ${r.id} source=${r.sourceId} bytes=${r.raw.length} received=${new Date(r.receivedAt).toISOString()}`);
      for (const r of await store.outboundHeads()) out(`outbound-head ${r.id} source=${r.sourceId} attempts=${r.attempts}`);
      return 0;
    }
    if (sub === 'dlq' && sub2 === 'list') {
      for (const d of await store.listDeadLetters(1000)) out(`dead-letter ${d.id} source=${d.sourceId} stage=${d.stage} reason=${d.reasonCode} at=${new Date(d.at).toISOString()}`);
      return 0;
    }
    if (!operatorAction) throw usageError(USAGE);

    let operator: Operator;
    try {
      operator = await authenticateOperator(values['operator-token-file'] ?? '', config?.operators ?? []);
    } catch (e) {
      await store.audit.append({ kind: 'operator-auth-failure', body: { action: `queue dlq ${sub2}`, reason: describeError(e).split(':')[0] ?? 'error' } });
      throw e;
    }
    if (sub2 === 'show') {
      printDeadLetter(await store.dlq.show(id ?? '', operator), values.json);
      return 0;
    }
    if (sub2 === 'replay') {
      const target = values.to === 'inbound' || values.to === 'outbound' ? values.to : undefined;
      const newId = await store.dlq.replay(id ?? '', operator, target);
      out(`replayed ${id} as ${newId}`);
      return 0;
    }
    const purged = await store.dlq.purge(operator, olderThanMs);
    out(`purged ${purged} dead letter(s)`);
    return 0;
  } finally {
    await store.close();
  }
}

/** `queue stats` while the daemon runs: the counts its lease reports, and how old they are. */
async function statsFromLease(dataDir: string, json: boolean, locked: unknown): Promise<number> {
  const lease = await readLease(dataDir);
  // Counts from a lease nobody renews are not the store's: say it is locked, and by whom.
  if (!lease?.status || !leaseIsFresh(lease)) throw locked;
  const { inbound, outbound, deadLetter, full } = lease.status;
  const asOf = { from: `pid ${lease.pid} on host ${lease.host}`, renewed: lease.renewed };
  if (json) out(JSON.stringify({ inbound, outbound, deadLetter, ...(full ? { full } : {}), ...asOf }));
  else {
    out(`inbound ${inbound}\noutbound ${outbound}\ndead-letter ${deadLetter}${full ? `\nrefusing new messages: ${full}` : ''}`);
    out(`(reported by the running daemon, ${describeLease(lease)})`);
  }
  return 0;
}

/** A dead letter's content, for an authenticated operator: the raw message (records one per line) or the bundle. */
function printDeadLetter(d: DeadLetter, json: boolean): void {
  if (json) {
    out(JSON.stringify({ ...d, raw: d.raw?.toString('base64') }));
    return;
  }
  out(`dead-letter ${d.id} source=${d.sourceId} stage=${d.stage} reason=${d.reasonCode} at=${new Date(d.at).toISOString()}${d.originId ? ` origin=${d.originId}` : ''}`);
  if (d.detail) out(`detail: ${d.detail}`);
  if (d.raw) {
    out('raw message:');
    for (const line of d.raw.toString('latin1').split(/\r\n|\r|\n/)) if (line !== '') out(`  ${line}`);
  }
  if (d.bundle !== undefined) {
    out('bundle:');
    out(JSON.stringify(d.bundle, null, 2));
  }
}
