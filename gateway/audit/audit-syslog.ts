import type { AuditEntry } from './audit-types.js';
import { isFailure, projectBody } from './audit-projection.js';

/**
 * Audit entries as RFC 5424 syslog messages, ready for an ATNA Audit Record Repository
 * (RFC 5425 TLS transport frames each as `<length> <message>`; see syslogFrame).
 *
 *   <PRI>1 TIMESTAMP HOSTNAME labedge - MSGID [labedge@32473 seq=".." kind=".." hash=".." prev=".."] BOM{json}
 *
 * Facility 13 (log audit); severity 6 (informational), or 4 (warning) for failures.
 * HOSTNAME is the device id; MSGID the entry kind; the structured data carries the chain
 * fields so a repository can check order and continuity; MSG is the PHI-free body as JSON.
 * 32473 is the documentation enterprise number (RFC 5612), to be replaced by ours.
 */
const FACILITY_LOG_AUDIT = 13;
const SD_ID = 'labedge@32473';
const BOM = '\ufeff';

/** PRINTUSASCII without space, at most `max` characters (RFC 5424 header fields). */
function headerField(value: string, max: number): string {
  const clean = value.replace(/[^\x21-\x7e]/g, '_').slice(0, max);
  return clean === '' ? '-' : clean;
}

/** SD-PARAM values escape `"`, `\` and `]`. */
function paramValue(value: string): string {
  return value.replace(/[\\"\]]/g, (c) => `\\${c}`);
}

export function toSyslog(entry: AuditEntry, ctx: { deviceId: string }): string {
  const severity = isFailure(entry) ? 4 : 6;
  const pri = FACILITY_LOG_AUDIT * 8 + severity;
  const timestamp = new Date(entry.time).toISOString();
  const params = { seq: String(entry.seq), kind: entry.kind, hash: entry.hash, prev: entry.prev };
  const sd = `[${SD_ID} ${Object.entries(params)
    .map(([k, v]) => `${k}="${paramValue(v)}"`)
    .join(' ')}]`;
  const msgid = headerField(entry.kind.toUpperCase(), 32);
  return `<${pri}>1 ${timestamp} ${headerField(ctx.deviceId, 255)} labedge - ${msgid} ${sd} ${BOM}${JSON.stringify(projectBody(entry))}`;
}

/** RFC 5425 octet-counting frame for a TLS transport: `MSG-LEN SP SYSLOG-MSG`. */
export function syslogFrame(message: string): Buffer {
  const bytes = Buffer.from(message, 'utf8');
  return Buffer.concat([Buffer.from(`${bytes.length} `, 'ascii'), bytes]);
}
