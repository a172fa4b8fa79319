import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateFhirResource } from '../../test/harness/fhir-validate.js';
import { CANARIES } from '../../test/harness/canary.js';
import { chainOf } from '../../test/harness/audit-kit.js';
import { exportEntries, parseSince } from './audit-export.js';
import { toAuditEvent } from './audit-fhir.js';
import { toSyslog, syslogFrame } from './audit-syslog.js';
import { EVENT_KINDS, MESSAGE_KINDS, type AuditDraft, type AuditEntry, type AuditKind } from './audit-types.js';

/** One entry of every kind, with canary PHI planted wherever a careless writer might put it. */
function sampleDrafts(): AuditDraft[] {
  const digest = 'a'.repeat(64);
  const phi = CANARIES.join(' ');
  const bodies: Record<AuditKind, AuditDraft['body']> = {
    ingest: { inboundId: 'i-0000000000000001', sourceId: 'sysmex-1', digest, bytes: 300, receivedAt: 1, link: { frames: 2, complete: true, note: phi }, payloadRef: 'r-0000000000000001', patient: phi },
    transform: { inboundId: 'i-0000000000000001', outboundId: 'o-00000001-0000000000000001', sourceId: 'sysmex-1', digest, fhirDigest: 'b'.repeat(64), resources: 4, unmapped: ['P.6', 'C.4'], warnings: ['R.9: no result status; Observation.status unknown'], bundle: phi },
    reject: { inboundId: 'i-0000000000000002', sourceId: 'sysmex-1', digest, reasonCode: 'no-resources', deadLetterId: 'd-0000000000000003', raw: phi },
    deliver: { outboundId: 'o-00000001-0000000000000001', sourceId: 'sysmex-1', server: 'https://fhir.test/R4', status: 200, resources: [{ location: 'Observation/12/_history/1', status: '201 Created' }], response: phi },
    'dead-letter': { outboundId: 'o-00000001-0000000000000004', sourceId: 'sysmex-1', server: 'https://fhir.test/R4', status: 422, reasonCode: 'upstream-422', issues: ['invalid'], deadLetterId: 'd-0000000000000005', outcome: phi },
    'app-start': { deviceId: 'labedge-0042', version: '0.1.0', configDigest: 'c'.repeat(64), instruments: 2 },
    'app-stop': { deviceId: 'labedge-0042', reason: 'shutdown' },
    'config-change': { deviceId: 'labedge-0042', from: null, to: 'c'.repeat(64) },
    'dlq-access': { operator: 'jdoe', action: 'dlq-show', ids: ['d-0000000000000003'], count: 1 },
    'payload-access': { operator: 'jdoe', ids: ['i-0000000000000001'], digests: [digest] },
    'audit-access': { action: 'export', since: '2026-01-01T00:00:00.000Z', format: 'fhir', count: 10 },
    'operator-auth-failure': { action: 'audit trace', reason: 'LABEDGE_ERR_OPERATOR_AUTH' },
    'uplink-auth-failure': { server: 'https://fhir.test/R4', status: 401, outcome: 'raised' },
    integrity: { recordId: 'i-0000000000000009', reasonCode: 'integrity', detail: 'stored value at i!0000000000000009 failed authentication', deadLetterId: 'd-000000000000000a' },
    'payload-expired': { count: 3, firstRef: 'r-0000000000000001', lastRef: 'r-0000000000000003', retentionDays: 30 },
    'retention-purge': { rule: 'dead letters', ids: ['d-0000000000000003'], count: 1, payload: phi },
    'audit-recovery': { issues: ['the audit head mark is missing'] },
    enrollment: { deviceId: 'labedge-0042', server: 'https://est.test', certSha256: 'd'.repeat(64), notAfter: '2027-01-01T00:00:00.000Z' },
    renewal: { deviceId: 'labedge-0042', certSha256: 'd'.repeat(64), notAfter: '2027-01-01T00:00:00.000Z' },
    'remote-command': { command: 'restart', commandId: 'cmd-1', issuer: 'fleet-ops', outcome: 'accepted' },
  };
  return [...MESSAGE_KINDS, ...EVENT_KINDS].map((kind) => ({ kind, body: bodies[kind] }));
}

function sampleEntries(): AuditEntry[] {
  return chainOf(sampleDrafts(), (i) => Date.UTC(2026, 2, 1, 10, 0, i));
}

async function* iterate(entries: AuditEntry[]): AsyncGenerator<AuditEntry> {
  yield* entries;
}

test('every kind exports as an AuditEvent that validates as FHIR R4, with DICOM types and no PHI', () => {
  for (const entry of sampleEntries()) {
    const event = toAuditEvent(entry, { deviceId: 'labedge-0042' });
    assert.deepEqual(validateFhirResource(event), [], `${entry.kind}: ${JSON.stringify(event)}`);
    assert.ok([event.type, ...(event.subtype ?? [])].some((c) => c.system === 'http://dicom.nema.org/resources/ontology/DCM'), entry.kind);
    assert.ok(event.agent.some((a) => a.requestor), `${entry.kind}: one requestor`);
    assert.ok(event.entity?.every((e) => e.name === undefined && e.description === undefined), 'no entity names or descriptions');
    assert.deepEqual(CANARIES.filter((c) => JSON.stringify(event).includes(c)), [], entry.kind);
    const chain = event.entity?.[0]?.detail?.map((d) => d.valueString);
    assert.deepEqual(chain, [entry.kind, entry.hash, entry.prev]);
  }
  const [ingest, , , deliver] = sampleEntries().map((e) => toAuditEvent(e, { deviceId: 'labedge-0042' }));
  assert.equal(ingest?.type.code, '110107');
  assert.equal(deliver?.type.code, '110106');
  assert.ok(deliver?.entity?.some((e) => e.what?.reference === 'Observation/12/_history/1'));
  assert.ok(ingest?.entity?.some((e) => e.detail?.some((d) => d.type === 'sha256' && d.valueString === 'a'.repeat(64))));
});

test('syslog lines are RFC 5424 with the chain in structured data, and carry no PHI', () => {
  const rfc5424 = /^<(\d{1,3})>1 (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (\S{1,255}) (\S{1,48}) (\S{1,128}) (\S{1,32}) \[labedge@32473 seq="(\d+)" kind="([a-z-]+)" hash="([0-9a-f]{64})" prev="([0-9a-f]{64})"\] \ufeff(\{.*\})$/;
  for (const entry of sampleEntries()) {
    const line = toSyslog(entry, { deviceId: 'labedge-0042' });
    const m = rfc5424.exec(line);
    assert.ok(m, line);
    const pri = Number(m[1]);
    assert.equal(pri >> 3, 13, 'facility: log audit');
    assert.equal(Number(m[7]), entry.seq);
    assert.equal(m[9], entry.hash);
    assert.doesNotThrow(() => JSON.parse(m[11] as string));
    assert.deepEqual(CANARIES.filter((c) => line.includes(c)), [], entry.kind);
  }
  const frame = syslogFrame('<110>1 - - - - - -');
  assert.equal(frame.toString(), '18 <110>1 - - - - - -');
});

test('export filters by time and writes one line per entry in each format', async () => {
  const entries = sampleEntries();
  for (const format of ['jsonl', 'fhir', 'syslog'] as const) {
    const lines: string[] = [];
    const n = await exportEntries(iterate(entries), { format, since: Date.UTC(2026, 2, 1, 10, 0, 5), deviceId: 'labedge-0042', write: (l) => lines.push(l) });
    assert.equal(n, entries.length - 5);
    assert.equal(lines.length, n);
    assert.deepEqual(CANARIES.filter((c) => lines.join('\n').includes(c)), []);
  }
  assert.equal(parseSince('2026-03-01T10:00:00Z', 0), Date.UTC(2026, 2, 1, 10));
  assert.equal(parseSince('24h', 100_000_000), 100_000_000 - 86_400_000);
  assert.throws(() => parseSince('yesterday', 0), /not a time/);
});
