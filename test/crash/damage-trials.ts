import { spawn } from 'node:child_process';
import { open, readdir, rm, stat, truncate, mkdtemp } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isLabedgeError } from '../../gateway/core/errors.js';
import { QueueStore, INTEGRITY_REASON, type StoreAlarm } from '../../gateway/store/queue-store.js';

/**
 * File damage: a store with inbound, outbound and dead-lettered records is closed, one of
 * its record files (.ldb table or .log write-ahead log) is truncated or has bits flipped, and
 * the store is opened again. Every record written must then be either there, quarantined
 * (an integrity dead letter naming it), or covered by an alarm (repair, dropped log bytes,
 * records missing below the commit witness); or the open must fail with a clear error.
 * A record that is simply gone with nothing said is silent loss.
 */
export interface DamageReport {
  trials: number;
  /** Opened with every record intact (the damage hit nothing that matters). */
  intact: number;
  /** Opened with records quarantined or an alarm raised. */
  detected: number;
  /** The open failed with a LabedgeError (a clear error). */
  refused: number;
  /** Records lost with neither quarantine nor alarm (or a store every open of which aborted). */
  silent: number;
  /** Opens LevelDB aborted (SIGABRT) before a fresh process handled the damage. */
  aborts: number;
  /** Records gone in all trials that opened (each under some alarm, or the trial is silent). */
  missing: number;
  /** Of those, the ones an alarm names by id (the audit trail still knew them), so the lab can have them sent again. */
  named: number;
  details: string[];
}

type Rand = () => number;

/** A small seeded generator, so a failing trial can be replayed from its seed. */
export function seeded(seed: number): Rand {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 0x100000000;
  };
}

const seqOfId = (id: string): number | undefined => {
  const m = /^[io]-(?:[0-9a-f]{8}-)?([0-9a-f]{16})$/.exec(id);
  return m?.[1] ? parseInt(m[1], 16) : undefined;
};
const seqOfDetail = (detail: string): number | undefined => {
  const m = /at [ior]!(?:[0-9a-f]{8}!)?([0-9a-f]{16}) /.exec(detail); // r!: its archived payload failed
  return m?.[1] ? parseInt(m[1], 16) : undefined;
};

/** Writes a store across three sessions, so there are tables and a log. Returns every record's sequence number. */
async function buildStore(dataDir: string, keyFile: string, rand: Rand): Promise<number[]> {
  const seqs: number[] = [];
  for (let session = 0; session < 3; session++) {
    const store = await QueueStore.open({ dataDir, keyFile });
    const ids: string[] = [];
    for (let n = 0; n < 25; n++) {
      ids.push(await store.commitInbound({ sourceId: `analyzer-${n % 3}`, raw: Buffer.from(`H|\\^&\rP|1||P-${session}-${n}\rR|1|^^^GLU|${n}\rL|1|N\r`.repeat(3)), receivedAt: n }));
    }
    for (const id of ids) {
      const r = rand();
      if (r < 0.3) await store.transformed(id, { sourceId: `analyzer-${seqs.length % 3}`, bundle: { resourceType: 'Bundle', n: id } });
      else if (r < 0.4) await store.rejected(id, { reasonCode: 'mapping-error', detail: 'R.3' });
      seqs.push(seqOfId(id) ?? -1);
    }
    await store.close();
  }
  return seqs;
}

async function damage(dir: string, rand: Rand): Promise<string> {
  const names = (await readdir(dir)).filter((n) => n.endsWith('.ldb') || n.endsWith('.log'));
  const withSize = [];
  for (const n of names) {
    const size = (await stat(join(dir, n))).size;
    if (size > 0) withSize.push({ n, size });
  }
  const target = withSize[Math.floor(rand() * withSize.length)];
  if (!target) return 'no record file';
  const file = join(dir, target.n);
  if (rand() < 0.5) {
    const to = Math.floor(rand() * target.size);
    await truncate(file, to);
    return `truncated ${target.n} ${target.size}→${to}`;
  }
  const flips = 1 + Math.floor(rand() * 4);
  const h = await open(file, 'r+');
  try {
    for (let i = 0; i < flips; i++) {
      const at = Math.floor(rand() * target.size);
      const b = Buffer.alloc(1);
      await h.read(b, 0, 1, at);
      b[0] = (b[0] ?? 0) ^ (1 << Math.floor(rand() * 8));
      await h.write(b, 0, 1, at);
    }
  } finally {
    await h.close();
  }
  return `flipped ${flips} bit(s) in ${target.n}`;
}

/** Everything the reopened store still knows about, by sequence number; and the quarantined ones. */
async function survey(store: QueueStore): Promise<{ present: Set<number>; quarantined: Set<number>; damagedLetters: number }> {
  const present = new Set<number>();
  const quarantined = new Set<number>();
  let damagedLetters = 0;
  for (const r of await store.listInbound(100_000)) present.add(seqOfId(r.id) ?? -1);
  for (let heads = await store.outboundHeads(); heads.length > 0; heads = await store.outboundHeads()) {
    for (const h of heads) {
      present.add(seqOfId(h.id) ?? -1);
      await store.delivered(h.id);
    }
  }
  for (const d of await store.listDeadLetters(100_000)) {
    if (d.reasonCode === INTEGRITY_REASON) {
      const seq = seqOfDetail(d.detail ?? '');
      if (seq !== undefined) quarantined.add(seq);
      else damagedLetters += 1; // a dead letter that itself fails authentication: listed as such, origin unknown
    } else if (d.originId) present.add(seqOfId(d.originId) ?? -1);
  }
  return { present, quarantined, damagedLetters };
}

interface TrialOutcome {
  kind: 'opened' | 'refused';
  code?: string;
  missing: number;
  /** Missing records whose id an alarm names. */
  named?: number;
  quarantined: number;
  alarms: number;
  errorAlarms: number;
}

/** Opens the damaged store and surveys it, in a child: LevelDB may abort the process on damage, as it would abort the daemon. */
export async function openAndSurvey(dataDir: string, keyFile: string, seqs: number[]): Promise<TrialOutcome> {
  const alarms: StoreAlarm[] = [];
  let store: QueueStore;
  try {
    store = await QueueStore.open({ dataDir, keyFile, onAlarm: (a) => alarms.push(a) });
  } catch (e) {
    if (!isLabedgeError(e)) throw e;
    return { kind: 'refused', code: e.code, missing: 0, quarantined: 0, alarms: alarms.length, errorAlarms: 0 };
  }
  try {
    const { present, quarantined, damagedLetters } = await survey(store);
    const gone = seqs.filter((s) => !present.has(s) && !quarantined.has(s));
    const said = alarms.map((a) => a.message).join('\n');
    const named = gone.filter((s) => said.includes(`-${s.toString(16).padStart(16, '0')} (`)).length;
    return { kind: 'opened', missing: gone.length, named, quarantined: quarantined.size + damagedLetters, alarms: alarms.length, errorAlarms: alarms.filter((a) => a.severity === 'error').length };
  } catch (e) {
    if (!isLabedgeError(e)) throw e;
    return { kind: 'refused', code: e.code, missing: 0, quarantined: 0, alarms: alarms.length, errorAlarms: 0 };
  } finally {
    await store.close();
  }
}

const CHILD_SCRIPT = fileURLToPath(new URL('./damage-child.ts', import.meta.url));

/** Like a daemon under a supervisor: an open that aborts the process is tried again by a fresh one. */
async function openInChild(dataDir: string, keyFile: string, seqs: number[]): Promise<{ outcome?: TrialOutcome; aborts: number }> {
  let aborts = 0;
  for (let attempt = 0; attempt < 3; attempt++) {
    const result = await new Promise<{ out: string; signal: NodeJS.Signals | null; code: number | null }>((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', CHILD_SCRIPT], { stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      child.once('exit', (code, signal) => resolve({ out, signal, code }));
      child.stdin.end(JSON.stringify({ dataDir, keyFile, seqs }));
    });
    const line = result.out.split('\n').find((l) => l.startsWith('{"kind"'));
    if (result.code === 0 && line) return { outcome: JSON.parse(line) as TrialOutcome, aborts };
    if (result.signal === null && result.code !== 0) throw new Error(`damage child failed: ${result.out.slice(0, 2000)}`);
    aborts += 1;
  }
  return { aborts };
}

export async function runDamageTrials(trials: number, seed = Date.now(), log: (line: string) => void = () => undefined): Promise<DamageReport> {
  const report: DamageReport = { trials, intact: 0, detected: 0, refused: 0, silent: 0, aborts: 0, missing: 0, named: 0, details: [] };
  for (let t = 0; t < trials; t++) {
    const trialSeed = seed + t;
    const rand = seeded(trialSeed);
    const root = await mkdtemp(join(tmpdir(), 'labedge-damage-'));
    try {
      const dataDir = join(root, 'data');
      const keyFile = join(root, 'keys', 'kek');
      const seqs = await buildStore(dataDir, keyFile, rand);
      const what = await damage(join(dataDir, 'store'), rand);
      const { outcome, aborts } = await openInChild(dataDir, keyFile, seqs);
      report.aborts += aborts;
      const prefix = `damage trial ${t} (seed ${trialSeed}): ${what}${aborts ? ` (LevelDB aborted ${aborts} open(s))` : ''}`;
      if (!outcome) {
        report.silent += 1;
        report.details.push(`${prefix}: every open aborted (a crash loop)`);
        log(`${prefix}: every open aborted`);
      } else if (outcome.kind === 'refused') {
        report.refused += 1;
        log(`${prefix}: refused with ${outcome.code}`);
      } else {
        const { missing, quarantined, errorAlarms } = outcome;
        report.missing += missing;
        report.named += outcome.named ?? 0;
        if (missing === 0 && quarantined === 0 && errorAlarms === 0) report.intact += 1;
        else if (missing === 0 || errorAlarms > 0 || quarantined >= missing) report.detected += 1;
        else {
          report.silent += 1;
          report.details.push(`${prefix}: ${missing} record(s) lost without an alarm`);
        }
        log(`${prefix}: ${missing} missing (${outcome.named ?? 0} named), ${quarantined} quarantined, ${outcome.alarms} alarm(s)`);
      }
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  }
  return report;
}
