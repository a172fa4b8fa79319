import type { ArchivedPayload } from './audit-codec.js';
import { messageDigest } from './message-digest.js';
import { projectBody } from './audit-projection.js';
import type { AuditEntry, JsonValue } from './audit-types.js';
import type { Journey } from './trace.js';

/** Printable text of a raw message for an authorised operator: CR/LF as line breaks, other control bytes as <XX>. */
export function payloadLines(raw: Buffer): string[] {
  let text = '';
  for (const b of raw) {
    const visible = b === 0x0a || b === 0x0d || (b >= 0x20 && b !== 0x7f);
    text += visible ? String.fromCharCode(b) : `<${b.toString(16).padStart(2, '0')}>`;
  }
  return text.split(/\r\n|\r|\n/).filter((l, i, all) => l !== '' || i < all.length - 1);
}

const list = (v: JsonValue | undefined): string[] => (Array.isArray(v) ? v.map(String) : []);

function describeStage(e: AuditEntry): string[] {
  const b = projectBody(e);
  switch (e.kind) {
    case 'ingest': {
      const link = Object.entries((b.link as Record<string, JsonValue> | undefined) ?? {}).map(([k, v]) => `${k}=${String(v)}`);
      return [`${b.bytes} bytes from ${b.sourceId}${link.length ? ` (${link.join(' ')})` : ''}, sha256 ${b.digest}, payload ${b.payloadRef}`];
    }
    case 'transform': {
      const lines = [`→ ${b.outboundId}: ${b.resources} resources, FHIR sha256 ${b.fhirDigest}${b.digest ? `, raw sha256 ${b.digest}` : ''}`];
      const unmapped = list(b.unmapped);
      lines.push(`  unmapped: ${unmapped.length ? unmapped.join(' ') : 'nothing'}`);
      for (const w of list(b.warnings)) lines.push(`  warning: ${w}`);
      return lines;
    }
    case 'reject':
      return [`dead-lettered as ${b.deadLetterId}: ${b.reasonCode}${b.detail ? ` (${b.detail})` : ''}`];
    case 'deliver': {
      const resources = Array.isArray(b.resources) ? b.resources.map((r) => String((r as Record<string, JsonValue>).location ?? (r as Record<string, JsonValue>).status ?? '?')) : [];
      const lines = [`${b.server ?? 'upstream'} answered HTTP ${b.status ?? '?'}: ${resources.length} resource(s)`];
      for (const r of resources) lines.push(`  ${r}`);
      return lines;
    }
    case 'dead-letter':
      return [`rejected upstream (HTTP ${b.status ?? '?'}${list(b.issues).length ? `, issues ${list(b.issues).join(' ')}` : ''}): dead-lettered as ${b.deadLetterId}, ${b.reasonCode}`];
    case 'dlq-access':
      return [`operator ${b.operator} ${String(b.action).replace('dlq-', '')}: ${list(b.ids).join(' → ')}`];
    default:
      return [JSON.stringify(b)];
  }
}

/** A journey as text lines (or one JSON line); the payload only when an operator was authenticated. */
export function renderJourney(j: Journey, o: { json: boolean; payload?: ArchivedPayload | 'expired' | 'unreadable' }): string[] {
  if (o.json) {
    const stages = j.stages.map((s) => ({ seq: s.seq, time: new Date(s.time).toISOString(), kind: s.kind, hash: s.hash, ...projectBody(s) }));
    const payload = o.payload === undefined ? undefined : typeof o.payload === 'string' ? o.payload : { bytes: o.payload.raw.length, sha256: messageDigest(o.payload.raw), text: o.payload.raw.toString('latin1') };
    return [JSON.stringify({ inboundId: j.inboundId, digest: j.digest, digestsAgree: j.digestsAgree, complete: j.complete, stages, ...(payload !== undefined ? { payload } : {}) })];
  }
  const lines = [`message ${j.inboundId}  sha256 ${j.digest ?? '(unknown)'}`];
  for (const s of j.stages) {
    const [first, ...rest] = describeStage(s);
    lines.push(`  seq ${s.seq}  ${new Date(s.time).toISOString()}  ${s.kind.padEnd(11)} ${first ?? ''}`);
    for (const r of rest) lines.push(`  ${' '.repeat(String(s.seq).length + 4)}  ${' '.repeat(24)}  ${' '.repeat(11)} ${r}`);
  }
  lines.push(`  digests ${j.digestsAgree ? 'agree' : 'DIFFER'} across stages; journey ${j.complete ? 'complete' : 'in progress'}`);
  if (o.payload === 'expired') lines.push('  payload: expired (past the retention window) or never archived');
  else if (o.payload === 'unreadable') lines.push('  payload: fails authentication (damaged)');
  else if (o.payload) {
    const ok = messageDigest(o.payload.raw) === j.digest;
    lines.push(`  payload: ${o.payload.raw.length} bytes, sha256 ${ok ? 'matches' : 'DOES NOT MATCH'} the ingest digest`);
    for (const l of payloadLines(o.payload.raw)) lines.push(`  | ${l}`);
  }
  return lines;
}
