import { appendFileSync } from 'node:fs';
import { open, rm } from 'node:fs/promises';
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

/** The newest alarms raised again; older ones are counted (a command run in a loop on a damaged store). */
const RAISED_MAX = 100;
/** Read from the end of the file: a huge one (planted, or years of commands) costs no more. */
const READ_MAX_BYTES = 256 * 1024;

/** Printable text only, bounded: the file sits in a directory others may write to. */
const isControl = (c: number): boolean => c < 0x20 || (c >= 0x7f && c <= 0x9f) || c === 0x200e || c === 0x200f || (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069);
const clean = (s: string, max: number): string => Array.from(s.slice(0, max), (ch) => (isControl(ch.charCodeAt(0)) ? ' ' : ch)).join('');

/** The alarms kept by earlier commands, as the daemon raises them (newest last); the file is removed. */
export async function takeRelayedAlarms(dataDir: string): Promise<StoreAlarm[]> {
  const file = join(dataDir, RELAYED_ALARMS_FILE);
  let text: string;
  try {
    const h = await open(file, 'r');
    try {
      const { size } = await h.stat();
      const length = Math.min(size, READ_MAX_BYTES);
      const { buffer } = await h.read(Buffer.alloc(length), 0, length, size - length);
      text = buffer.toString('utf8');
    } finally {
      await h.close();
    }
  } catch {
    return []; // none kept
  }
  const valid: StoreAlarm[] = [];
  for (const line of text.split('\n')) {
    let r: Partial<Relayed>;
    try {
      r = JSON.parse(line) as Partial<Relayed>;
    } catch {
      continue; // a line cut short (a full disk, or the read's first line)
    }
    if (typeof r.message !== 'string' || typeof r.by !== 'string' || typeof r.at !== 'string' || !isErrorCode(r.code)) continue;
    valid.push({ code: r.code, severity: r.severity === 'warning' ? 'warning' : 'error', message: `raised by \`${clean(r.by, 80)}\` at ${clean(r.at, 30)}: ${clean(r.message, 4000)}` });
  }
  await rm(file, { force: true });
  const skipped = valid.length - RAISED_MAX;
  const newest = valid.slice(-RAISED_MAX);
  if (skipped > 0) newest.unshift({ code: 'LABEDGE_ERR_STORE_DAMAGED', severity: 'warning', message: `${skipped} older alarm(s) operators' commands raised are not repeated here; the newest ${RAISED_MAX} follow` });
  return newest;
}
