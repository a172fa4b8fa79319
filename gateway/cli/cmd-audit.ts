import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseCommandArgs, usageError } from './args.js';
import { loadConfigFile } from './load-config.js';
import { QueueStore } from '../store/queue-store.js';
import { defaultKeyFile, type LabedgeConfig } from '../config/config.js';
import { LabedgeError, describeError } from '../core/errors.js';
import { verifyChain } from '../audit/verify.js';
import { parseCheckpoint, keyFingerprint } from '../audit/checkpoint.js';
import { exportEntries, exportLines, parseSince, type ExportFormat } from '../audit/audit-export.js';
import { parseSyslogUrl, sendSyslogTls } from '../audit/syslog-sender.js';
import { renderJourney } from '../audit/trace-render.js';
import { traceMessage } from '../audit/trace.js';
import { authenticateOperator } from '../audit/operator-auth.js';
import type { AuditCheckpoint } from '../audit/audit-types.js';
import { operatorOpen } from './operator-open.js';

const USAGE = 'audit takes verify [--from-checkpoint FILE] | export --since T [--until T] [--format jsonl|fhir|syslog] [--to tls://host:port --config FILE [--syslog-ca FILE]] | trace ID [--operator-token-file FILE] | checkpoints [--last]';

/** Where a command's lines go (stdout; tests capture them in-process). */
export interface CommandIo {
  out(line: string): void;
  err(line: string): void;
}

const STDIO: CommandIo = {
  out: (line) => void process.stdout.write(`${line}\n`),
  err: (line) => void process.stderr.write(`${line}\n`),
};

/**
 * `labedge audit verify|export|trace|checkpoints`: the operator's view of the audit trail.
 * Everything printed is PHI-free (ids, digests, codes, positions) except a trace's payload,
 * which needs an operator credential and is itself audited.
 */
export async function auditCommand(argv: string[], io: CommandIo = STDIO): Promise<number> {
  const out = io.out;
  const { values, positionals } = parseCommandArgs(argv, {
    'data-dir': { type: 'string' },
    'key-file': { type: 'string' },
    config: { type: 'string' },
    json: { type: 'boolean', default: false },
    'from-checkpoint': { type: 'string' },
    since: { type: 'string' },
    until: { type: 'string' },
    format: { type: 'string', default: 'jsonl' },
    'operator-token-file': { type: 'string' },
    last: { type: 'boolean', default: false },
    to: { type: 'string' },
    'syslog-ca': { type: 'string' },
  });
  const [sub, id, ...extra] = positionals;
  if (extra.length > 0 || (sub !== 'trace' && id !== undefined)) throw usageError(USAGE);
  if (sub !== 'verify' && sub !== 'export' && sub !== 'trace' && sub !== 'checkpoints') throw usageError(USAGE);
  const format = values.format as ExportFormat;
  if (!['jsonl', 'fhir', 'syslog'].includes(format)) throw usageError('--format must be jsonl, fhir or syslog');
  if (sub === 'export' && values.since === undefined) throw usageError('audit export needs --since T (ISO 8601 time, or an age like 24h or 7d)');
  // Only an id of the expected shape is echoed back: anything else might be what an operator should not have typed (a name).
  if (sub === 'trace' && (!id || !/^(?:[iod]-[0-9a-f-]{16,26}|[0-9a-f]{64})$/.test(id))) throw usageError('audit trace needs an id: i-…, o-…, d-… or a message digest (sha256 hex)');
  if (values.to !== undefined && (sub !== 'export' || format !== 'syslog')) throw usageError('--to is for audit export --format syslog (an audit record repository over TLS)');
  if (values.to !== undefined && !values.config) throw usageError('audit export --to needs --config FILE: the device certificate authenticates the box to the repository');
  const syslogTo = values.to === undefined ? undefined : parseSyslogUrl(values.to);
  const since = values.since === undefined ? undefined : parseSince(values.since, Date.now());
  const until = values.until === undefined ? undefined : parseSince(values.until, Date.now());
  const fileCheckpoints = values['from-checkpoint'] ? await readCheckpointFile(values['from-checkpoint']) : [];

  let config: LabedgeConfig | undefined;
  let dataDir = resolve(values['data-dir'] ?? './data');
  let keyFile = values['key-file'] ?? defaultKeyFile(dataDir);
  if (values.config) {
    config = await loadConfigFile(values.config, { dataDir: values['data-dir'] });
    dataDir = config.dataDir;
    keyFile = values['key-file'] ?? config.keyFile;
  }
  const store = await QueueStore.open({ dataDir, keyFile, ...operatorOpen(`audit ${sub}`) });
  const audit = store.audit;
  try {
    const deviceId = config?.deviceId ?? (await audit.latestCheckpoint())?.deviceId ?? 'labedge';
    switch (sub) {
      case 'verify': {
        const report = await verifyChain(audit, { extraCheckpoints: fileCheckpoints });
        if (values.json) out(JSON.stringify(report));
        else {
          out(`audit chain: ${report.entries} entries verified (seq ${report.firstSeq}..${report.head.seq}), ${report.checkpoints} checkpoint(s) checked, head ${report.head.hash.slice(0, 16)}…`);
          for (const cp of fileCheckpoints) out(`  checkpoint from file: seq ${cp.seq}, device ${cp.deviceId}, key ${keyFingerprint(cp.publicKey)}`);
          out(report.ok ? 'OK: no edited, deleted, reordered, inserted or truncated entries' : `BROKEN at seq ${report.firstBreak?.seq} (${report.firstBreak?.kind}): ${report.firstBreak?.detail}`);
        }
        if (report.firstBreak) {
          const b = report.firstBreak;
          throw new LabedgeError('LABEDGE_ERR_AUDIT_BROKEN', `audit chain broken at seq ${b.seq} (${b.kind}): ${b.detail}`);
        }
        return 0;
      }
      case 'checkpoints': {
        let last: AuditCheckpoint | undefined;
        for await (const { key, checkpoint } of audit.checkpoints()) {
          if (!checkpoint) {
            if (!values.last) io.err(`labedge: checkpoint ${key} cannot be read`);
            continue;
          }
          if (values.last) last = checkpoint;
          else out(JSON.stringify(checkpoint));
        }
        if (values.last && last) out(JSON.stringify(last));
        return 0;
      }
      case 'export': {
        const window = { format, since: since ?? 0, until, deviceId };
        let count: number;
        if (syslogTo && config) {
          const target = { ...syslogTo, ...(await readSyslogTls(config, values['syslog-ca'])) };
          count = await sendSyslogTls(target, exportLines(audit.entries(), window));
          io.err(`labedge: ${count} audit entries sent to ${syslogTo.host}:${syslogTo.port} (syslog over TLS)`);
        } else {
          count = await exportEntries(audit.entries(), { ...window, write: out });
        }
        await audit.append({ kind: 'audit-access', body: { action: 'export', since: new Date(since ?? 0).toISOString(), format, count, ...(syslogTo && { to: `${syslogTo.host}:${syslogTo.port}` }) } });
        return 0;
      }
      case 'trace': {
        const traceId = id as string;
        let operator: string | undefined;
        if (values['operator-token-file']) {
          try {
            operator = (await authenticateOperator(values['operator-token-file'], config?.operators ?? [])).name;
          } catch (e) {
            await audit.append({ kind: 'operator-auth-failure', body: { action: 'audit trace', reason: describeError(e).split(':')[0] ?? 'error' } });
            throw e;
          }
        }
        const journeys = await traceMessage(() => audit.entries(), traceId);
        if (journeys.length === 0) throw new LabedgeError('LABEDGE_ERR_STORE_NOT_FOUND', `no audit entries for ${traceId}`);
        for (const j of journeys) {
          const payload = operator ? await audit.readPayload(String(j.stages.find((s) => s.kind === 'ingest')?.body.payloadRef ?? '')) : undefined;
          for (const line of renderJourney(j, { json: values.json, payload })) out(line);
        }
        if (operator) {
          await audit.append({ kind: 'payload-access', body: { operator, ids: journeys.map((j) => j.inboundId), digests: journeys.map((j) => j.digest ?? '') } });
        } else {
          await audit.append({ kind: 'audit-access', body: { action: 'trace', id: traceId, count: journeys.length } });
        }
        return 0;
      }
    }
  } finally {
    await store.close();
  }
}

/** Mutual TLS to the repository: the uplink's device certificate and key; its CA unless --syslog-ca names another. */
async function readSyslogTls(config: LabedgeConfig, caFile: string | undefined): Promise<{ ca: string; cert: string; key: string }> {
  const read = async (file: string, what: string): Promise<string> => {
    try {
      return await readFile(file, 'utf8');
    } catch {
      throw usageError(`cannot read the ${what} file ${file}`);
    }
  };
  return { ca: await read(caFile ?? config.uplink.caFile, 'syslog CA'), cert: await read(config.uplink.certFile, 'device certificate'), key: await read(config.uplink.keyFile, 'device key') };
}

/** A checkpoint file: one JSON checkpoint, a JSON array of them, or JSON lines (`audit checkpoints`). */
async function readCheckpointFile(file: string): Promise<AuditCheckpoint[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw usageError(`cannot read checkpoint file ${file}`);
  }
  let items: unknown[];
  try {
    const parsed: unknown = JSON.parse(text);
    items = Array.isArray(parsed) ? parsed : [parsed];
  } catch {
    try {
      items = text.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as unknown);
    } catch {
      throw usageError(`checkpoint file ${file} is not JSON`);
    }
  }
  const checkpoints = items.map(parseCheckpoint);
  if (checkpoints.length === 0 || checkpoints.some((c) => c === undefined)) throw usageError(`checkpoint file ${file} does not hold audit checkpoints`);
  return checkpoints as AuditCheckpoint[];
}
