import { appendFileSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { isErrorCode } from '../core/errors.js';
import type { StoreAlarm } from './queue-types.js';

/**
 * Alarms an operator's command raised on the store (damage it found and repaired while it
 * opened the store, say) reach the operator's terminal, but fleet monitoring hears only the
 * daemon. So they are also kept beside the store, one JSON line each, and the daemon raises
 * them at its next open, then removes the file. Alarm texts are PHI-free by construction
 * (ids, codes, counts, times), so nothing here is sensitive.
 */
export const RELAYED_ALARMS_FILE = 'alarms-for-daemon.jsonl';

interface Relayed {
  at: string;
  by: string;
  code: StoreAlarm['code'];
  severity: StoreAlarm['severity'];
  message: string;
}

/** Keeps an alarm for the daemon (warnings and errors; not what clears or merely informs). */
export function relayAlarm(dataDir: string, by: string, a: StoreAlarm, now = new Date()): void {
  if (a.severity === 'info' || a.cleared) return;
  const line: Relayed = { at: now.toISOString(), by, code: a.code, severity: a.severity, message: a.message };
  try {
    appendFileSync(join(dataDir, RELAYED_ALARMS_FILE), `${JSON.stringify(line)}\n`, { mode: 0o600 });
  } catch {
    // The operator saw it on the terminal; a read-only or full disk must not fail the command too.
  }
}

/** The alarms kept by earlier commands, as the daemon raises them; the file is removed. */
export async function takeRelayedAlarms(dataDir: string): Promise<StoreAlarm[]> {
  const file = join(dataDir, RELAYED_ALARMS_FILE);
  const text = await readFile(file, 'utf8').catch(() => '');
  if (text === '') return [];
  const out: StoreAlarm[] = [];
  for (const line of text.split('\n').slice(0, 1000)) {
    let r: Partial<Relayed>;
    try {
      r = JSON.parse(line) as Partial<Relayed>;
    } catch {
      continue; // a line cut short by a full disk
    }
    if (typeof r.message !== 'string' || typeof r.by !== 'string' || typeof r.at !== 'string' || !isErrorCode(r.code)) continue;
    out.push({ code: r.code, severity: r.severity === 'warning' ? 'warning' : 'error', message: `raised by \`${r.by.slice(0, 80)}\` at ${r.at.slice(0, 30)}: ${r.message.slice(0, 4000)}` });
  }
  await rm(file, { force: true });
  return out;
}
