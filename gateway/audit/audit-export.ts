import { LabedgeError } from '../core/errors.js';
import { toAuditEvent } from './audit-fhir.js';
import { projectEntry } from './audit-projection.js';
import { toSyslog } from './audit-syslog.js';
import type { AuditEntry } from './audit-types.js';

export type ExportFormat = 'jsonl' | 'fhir' | 'syslog';

/**
 * A time for --since/--until: ISO 8601 (`2026-03-01`, `2026-03-01T10:00:00Z`), epoch ms, or
 * an age before `now` (`90s`, `15m`, `24h`, `7d`).
 */
export function parseSince(text: string, now: number): number {
  const age = /^(\d+)([smhd])$/.exec(text);
  if (age) return now - Number(age[1]) * { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[age[2] as 's' | 'm' | 'h' | 'd'];
  if (/^\d{10,}$/.test(text)) return Number(text);
  const t = Date.parse(text);
  if (!/^\d{4}-\d{2}-\d{2}/.test(text) || Number.isNaN(t)) throw new LabedgeError('LABEDGE_ERR_USAGE', `"${text.slice(0, 40)}" is not a time (ISO 8601, epoch ms, or an age like 24h)`);
  return t;
}

/**
 * Streams entries recorded in [since, until) in the chosen format, one line each:
 * `jsonl` the PHI-free projection with chain fields; `fhir` FHIR R4 AuditEvent NDJSON;
 * `syslog` RFC 5424 lines. Returns how many were written.
 */
export async function exportEntries(
  entries: AsyncIterable<AuditEntry>,
  o: ExportWindow & { write: (line: string) => void },
): Promise<number> {
  let count = 0;
  for await (const line of exportLines(entries, o)) {
    o.write(line);
    count += 1;
  }
  return count;
}

export interface ExportWindow {
  format: ExportFormat;
  since: number;
  until?: number | undefined;
  deviceId: string;
}

/** The lines of an export, streamed (for a sender that paces itself, such as syslog over TLS). */
export async function* exportLines(entries: AsyncIterable<AuditEntry>, o: ExportWindow): AsyncGenerator<string> {
  for await (const e of entries) {
    if (e.time < o.since || (o.until !== undefined && e.time >= o.until)) continue;
    yield o.format === 'fhir' ? JSON.stringify(toAuditEvent(e, { deviceId: o.deviceId })) : o.format === 'syslog' ? toSyslog(e, { deviceId: o.deviceId }) : JSON.stringify(projectEntry(e));
  }
}
