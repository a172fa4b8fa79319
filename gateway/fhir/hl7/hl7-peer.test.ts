/**
 * Field-by-field comparison with a peer: for every fixture that has a `.expected.json` (Microsoft
 * FHIR-Converter's functional-test output; one non-normative HL7 IG sample), the clinically relevant
 * elements of our bundle — codes, values, units, ranges, interpretations, statuses, times and
 * identifiers — are compared with the peer's. Every difference must be listed in DELIBERATE with its
 * reason (docs/hl7-mapping.md has the same list), and every listed difference must still occur, so
 * the list can neither hide a regression nor go stale.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { convertHl7 } from './hl7-to-fhir.js';

type Json = any;
const dir = new URL('../../../test/fixtures/hl7/', import.meta.url);
const fixtures = readdirSync(dir).filter((f) => f.endsWith('.expected.json'));

interface Rule { readonly fixtures: RegExp; readonly path: RegExp; readonly reason: string }

/** Every deliberate difference, by fixture and element path, with the reason. */
const DELIBERATE: Rule[] = [
  { fixtures: /ADT/, path: /^Observation\[(death-certificate|autopsy|coroner|injury-incident)\] missing$/, reason: 'peer invents Observations from PID/PV1/PV2 fields; labedge maps OBX only' },
  { fixtures: /ADT_A0[18]/, path: /^ServiceRequest count$/, reason: 'peer makes a ServiceRequest from an ADT; labedge makes orders from ORC/OBR only' },
  { fixtures: /./, path: /^Patient identifiers \(peer only\)$/, reason: 'peer adds PID-19 SSN, PID-20 licence, insurance and guarantor ids; labedge sends PID-2/3/4 only (no SSN upstream)' },
  { fixtures: /hl7v2tofhir-ADT/, path: /^Patient birthDate$/, reason: 'IG sample has `1970-06-01T09:12` (not a FHIR date); labedge: `1970-06-01` + patient-birthTime extension' },
  { fixtures: /ADT|ORM|OUL/, path: /^Observation\[8867-4\] status$/, reason: 'OBX-11 S: peer `unknown`; labedge policy S → preliminary (+ alternate-codes extension)' },
  { fixtures: /OML|kitchen/, path: /^Observation\[8867-4\] status$/, reason: 'OBX-11 I: peer `unknown`; labedge policy I → registered (+ alternate-codes extension)' },
  { fixtures: /lab-cbc/, path: /^Observation\[(11156-7|20509-6)\] status$/, reason: 'OBX-11 I: peer `unknown`; labedge policy I → registered (+ alternate-codes extension)' },
  { fixtures: /sn-glucose|OML|kitchen/, path: /^Observation\[[^\]]+\] effective$/, reason: 'OBX-14 empty: labedge falls back to the collection time (OBR-7, or SPM-17 for an OBX after its SPM); peer leaves it empty' },
  { fixtures: /nist/, path: /^(Observation\[[^\]]+\]|DiagnosticReport\[[^\]]+\]|Specimen\[[^\]]+\]) effective offset$/, reason: 'peer rewrites -08:00 into its host zone (+05:30); labedge keeps the offset sent (same instant)' },
  { fixtures: /kitchen/, path: /^DiagnosticReport\[625-4\] effective offset$/, reason: 'peer rewrites +02:15 into its host zone (+05:30); labedge keeps the offset sent (same instant)' },
  { fixtures: /OML|OUL|kitchen/, path: /^Observation\[[^\]]+\] extra$/, reason: 'ED/RP OBX: peer makes DiagnosticReport.presentedForm; labedge keeps one Observation per OBX with the IG attachment extension (OBX without OBX-3 included)' },
  { fixtures: /OML|OUL|kitchen/, path: /^DiagnosticReport count$/, reason: 'peer makes a DiagnosticReport per ED/RP OBX; labedge makes one per OBR with results (none for an order message)' },
  { fixtures: /kitchen/, path: /^DiagnosticReport\[11502-2\] extra$/, reason: 'kitchen-sink ORC followed by OBX before its OBR: labedge reads a separate order (no OBR-4 → LOINC 11502-2)' },
  { fixtures: /kitchen|OML|OUL/, path: /^DiagnosticReport\[(8867-4|1063-7|3DHIST\w+)\] missing$/, reason: 'peer makes a DiagnosticReport from an ED/RP OBX; labedge keeps it as an Observation' },
  { fixtures: /lab-cbc/, path: /^DiagnosticReport\[26464-8\] status$/, reason: 'OBR-25 empty: labedge derives the status from the results (all P → preliminary); peer `unknown`' },
  { fixtures: /lab-cbc|nist|sn-glucose/, path: /^ServiceRequest\[[^\]]+\] status$/, reason: 'no ORC-5: labedge derives completed from OBR-25 F; peer active/unknown' },
  { fixtures: /nist|kitchen|OUL/, path: /^(ServiceRequest|DiagnosticReport)\[[^\]]+\] identifiers \(peer only\)$/, reason: 'peer adds ORC-4 placer group number (and OBR-53) as identifiers; labedge maps placer and filler order numbers' },
  { fixtures: /OML|kitchen/, path: /^ServiceRequest count$/, reason: 'peer makes a ServiceRequest from ORC-8 parent order; labedge does not' },
  { fixtures: /./, path: /^Specimen count$/, reason: 'peer makes a Specimen from OBR even when SPM exists, and one per SPM-3 parent id; labedge: SPM specimens, or one OBR specimen when there is no SPM' },
  { fixtures: /OML|ORM/, path: /^Specimen\[-\] effective offset$/, reason: 'peer rewrites +02:15 into its host zone (+05:30); labedge keeps the offset sent (same instant)' },
  { fixtures: /ORM/, path: /^Specimen\[-\] identifiers \(ours only\)$/, reason: 'labedge gives the OBR specimen a business identifier (order key) for conditional create; peer none' },
  { fixtures: /ADT_A0[18]|O[MR][LM]/, path: /^Patient given$/, reason: 'XPN.15 called-by name: peer appends it to the given names; labedge makes it a second HumanName (use nickname), as the IG says' },
];

const res = (b: Json, t: string): Json[] => (b.entry ?? []).map((e: Json) => e.resource).filter((r: Json) => r.resourceType === t);
const codeOf = (r: Json): string => r.code?.coding?.[0]?.code ?? r.type?.coding?.[0]?.code ?? '-';
const typed = (r: Json, code: string): string | undefined => r.identifier?.find((i: Json) => i.type?.coding?.[0]?.code === code)?.value;

function obsView(o: Json): Record<string, unknown> {
  const q = o.valueQuantity;
  const comp = (o.component ?? []) as Json[];
  const cc = (c: Json): string | undefined => c?.coding?.map((x: Json) => x.code).join('|');
  return {
    status: o.status,
    value: q ? `${q.comparator ?? ''}${q.value}` : o.valueString ?? cc(o.valueCodeableConcept) ?? o.valueDateTime ?? (comp.length ? comp.map((c) => c.valueQuantity?.value ?? cc(c.valueCodeableConcept)).join('~') : undefined),
    unit: q ? (q.unit ?? q.code) : comp[0]?.valueQuantity ? (comp[0].valueQuantity.unit ?? comp[0].valueQuantity.code) : undefined,
    range: o.referenceRange?.[0]?.text ?? comp[0]?.referenceRange?.[0]?.text,
    interpretation: (o.interpretation ?? []).map((i: Json) => i.coding?.[0]?.code).join(','),
    // Codes in standard systems (LOINC, SNOMED CT, the v3 interpretation table) with their system, as the peer names them.
    systems: standardCodings([...(o.code?.coding ?? []), ...(o.valueCodeableConcept?.coding ?? []), ...(o.interpretation ?? []).flatMap((i: Json) => i.coding ?? [])]),
  };
}

const STANDARD = /^http:\/\/(loinc\.org|snomed\.info\/sct|terminology\.hl7\.org\/CodeSystem\/v3-ObservationInterpretation)$/;
function standardCodings(codings: Json[]): string | undefined {
  const found = codings.filter((c) => typeof c.system === 'string' && STANDARD.test(c.system)).map((c) => `${c.system}|${c.code}`);
  return found.length > 0 ? [...new Set(found)].sort().join(',') : undefined;
}

/** Times: same instant required; a different offset for the same instant is its own path. */
function compareTime(path: string, peer: string | undefined, ours: string | undefined, out: string[]): void {
  if (peer === ours) return;
  if (peer === undefined || ours === undefined || peer.length <= 10 || ours.length <= 10) return void out.push(`${path} effective`);
  if (Date.parse(peer) !== Date.parse(ours)) return void out.push(`${path} effective`);
  out.push(`${path} effective offset`);
}

function diffObservations(peer: Json[], ours: Json[], out: string[]): void {
  const used = new Set<number>();
  const diffs = (p: Json, o: Json): string[] => {
    const d: string[] = [];
    const [pv, ov] = [obsView(p), obsView(o)];
    for (const k of Object.keys(pv)) if (pv[k] !== undefined && JSON.stringify(pv[k]) !== JSON.stringify(ov[k])) d.push(`Observation[${codeOf(p)}] ${k}`);
    compareTime(`Observation[${codeOf(p)}]`, p.effectiveDateTime, o.effectiveDateTime, d);
    return d;
  };
  for (const p of peer) {
    let best: { i: number; d: string[] } | undefined;
    ours.forEach((o, i) => {
      if (used.has(i) || codeOf(o) !== codeOf(p)) return;
      const d = diffs(p, o);
      if (best === undefined || d.length < best.d.length) best = { i, d };
    });
    if (best === undefined) out.push(`Observation[${codeOf(p)}] missing`);
    else {
      used.add(best.i);
      out.push(...best.d);
    }
  }
  ours.forEach((o, i) => used.has(i) || out.push(`Observation[${codeOf(o)}] extra`));
}

function diffOrders(type: 'ServiceRequest' | 'DiagnosticReport', peer: Json[], ours: Json[], out: string[]): void {
  if (peer.length !== ours.length) out.push(`${type} count`);
  const used = new Set<Json>();
  for (const p of peer) {
    const o = ours.find((x) => !used.has(x) && codeOf(x) === codeOf(p) && (typed(x, 'PLAC') === typed(p, 'PLAC') || typed(x, 'FILL') === typed(p, 'FILL')));
    if (o === undefined) {
      if (type === 'DiagnosticReport') out.push(`${type}[${codeOf(p)}] missing`);
      continue;
    }
    used.add(o);
    const path = `${type}[${codeOf(p)}]`;
    if (p.status !== o.status) out.push(`${path} status`);
    for (const t of ['PLAC', 'FILL']) if (typed(p, t) !== undefined && typed(p, t) !== typed(o, t)) out.push(`${path} ${t}`);
    const values = (r: Json): string[] => (r.identifier ?? []).map((i: Json) => i.value).filter((v: unknown) => typeof v === 'string');
    if (values(p).some((v) => !values(o).includes(v))) out.push(`${path} identifiers (peer only)`);
    if (type === 'DiagnosticReport') compareTime(path, p.effectiveDateTime, o.effectiveDateTime, out);
  }
  if (type === 'DiagnosticReport') for (const o of ours) if (!used.has(o)) out.push(`${type}[${codeOf(o)}] extra`);
}

function diffSpecimens(peer: Json[], ours: Json[], out: string[]): void {
  if (peer.length !== ours.length) out.push('Specimen count');
  for (const o of ours) {
    const p = peer.find((x) => codeOf(x) === codeOf(o) && (codeOf(o) !== '-' || x.collection?.collectedDateTime !== undefined));
    if (p === undefined) continue;
    const path = `Specimen[${codeOf(o)}]`;
    if (p.status !== undefined && p.status !== o.status) out.push(`${path} status`);
    compareTime(path, p.collection?.collectedDateTime, o.collection?.collectedDateTime, out);
    if (p.receivedTime !== o.receivedTime) out.push(`${path} received`);
    if ((p.identifier ?? []).length === 0 && (o.identifier ?? []).length > 0 && codeOf(o) === '-') out.push(`${path} identifiers (ours only)`);
  }
}

function diffPatients(peer: Json[], ours: Json[], out: string[]): void {
  if (peer.length !== ours.length) out.push('Patient count');
  const [p, o] = [peer[0], ours[0]];
  if (p === undefined || o === undefined) return;
  const ids = (r: Json): string[] => (r.identifier ?? []).map((i: Json) => i.value);
  if (ids(o).some((v) => !ids(p).includes(v))) out.push('Patient identifiers (ours only)');
  if (ids(p).some((v) => !ids(o).includes(v))) out.push('Patient identifiers (peer only)');
  for (const k of ['birthDate', 'gender']) if (p[k] !== o[k]) out.push(`Patient ${k}`);
  if (p.name?.[0]?.family !== o.name?.[0]?.family) out.push('Patient family');
  if (JSON.stringify(p.name?.[0]?.given) !== JSON.stringify(o.name?.[0]?.given)) out.push('Patient given');
}

export function clinicalDiff(peer: Json, ours: Json): string[] {
  const out: string[] = [];
  diffObservations(res(peer, 'Observation'), res(ours, 'Observation'), out);
  diffOrders('DiagnosticReport', res(peer, 'DiagnosticReport'), res(ours, 'DiagnosticReport'), out);
  diffOrders('ServiceRequest', res(peer, 'ServiceRequest'), res(ours, 'ServiceRequest'), out);
  diffSpecimens(res(peer, 'Specimen'), res(ours, 'Specimen'), out);
  diffPatients(res(peer, 'Patient'), res(ours, 'Patient'), out);
  return [...new Set(out)];
}

const matched = new Set<Rule>();

for (const f of fixtures) {
  test(`peer comparison: ${f}`, () => {
    const peer: Json = JSON.parse(readFileSync(new URL(f, dir), 'utf8'));
    const ours = convertHl7(readFileSync(new URL(f.replace('.expected.json', '.hl7'), dir)), { sourceId: 'peer', messageId: 'm1', timeZone: 'UTC' }).bundle;
    const unexplained: string[] = [];
    for (const d of clinicalDiff(peer, ours)) {
      const rule = DELIBERATE.find((r) => r.fixtures.test(f) && r.path.test(d));
      if (rule === undefined) unexplained.push(d);
      else matched.add(rule);
    }
    assert.deepEqual(unexplained, [], `differences from the peer without a documented reason in ${f}`);
  });
}

test('every documented difference still occurs', () => {
  const stale = DELIBERATE.filter((r) => !matched.has(r)).map((r) => r.reason);
  assert.deepEqual(stale, []);
});

test('the comparison sees a changed value, unit, range, flag, code system, status or time', () => {
  const file = new URL('fhirconverter-ORU_R01-nist-lri-cbc.hl7', dir);
  const peer = convertHl7(readFileSync(file), { sourceId: 'peer', messageId: 'm1' }).bundle;
  assert.deepEqual(clinicalDiff(peer, structuredClone(peer)), []);
  const mutate = (edit: (o: Json) => void): string[] => {
    const ours: Json = structuredClone(peer);
    edit(res(ours, 'Observation')[0]);
    return clinicalDiff(peer, ours);
  };
  assert.deepEqual(mutate((o) => (o.valueQuantity.value = 4.42)), ['Observation[26453-1] value']);
  assert.deepEqual(mutate((o) => (o.valueQuantity.unit = 'x')), ['Observation[26453-1] unit']);
  assert.deepEqual(mutate((o) => (o.referenceRange[0].text = '1-2')), ['Observation[26453-1] range']);
  assert.deepEqual(mutate((o) => (o.interpretation[0].coding[0].code = 'H')), ['Observation[26453-1] interpretation', 'Observation[26453-1] systems']);
  assert.deepEqual(mutate((o) => (o.code.coding[0].system = 'urn:local')), ['Observation[26453-1] systems']);
  assert.deepEqual(mutate((o) => (o.status = 'preliminary')), ['Observation[26453-1] status']);
  assert.deepEqual(mutate((o) => (o.effectiveDateTime = '2011-01-03T14:34:29-08:00')), ['Observation[26453-1] effective']);
  assert.deepEqual(mutate((o) => (o.code.coding[0].code = '1-8')), ['Observation[26453-1] missing', 'Observation[1-8] extra']);
});
