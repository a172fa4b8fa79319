/** Unit tests for the parts of the v2 → FHIR mapping: dates, UCUM, capture framing, grouping, code tables, the delta. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DiagnosticReport, Observation } from '@medplum/fhirtypes';
import { parseHl7 } from '../../hl7/parser.js';
import { capturePayloads, looksLikeHl7 } from './hl7-capture.js';
import { parseV2DateTime, v2ToFhirDateTime } from './hl7-datetime.js';
import { groupSegments } from './hl7-groups.js';
import { ALTERNATE_CODES } from './hl7-observation.js';
import { checkShape, convert, message, MSH, OBR, observation, PID, resources } from './hl7-test-kit.js';
import { isUcum, ucumFor } from './ucum.js';

test('v2 date/time parsing: precision, fractions, offsets, impossible values', () => {
  assert.deepEqual(parseV2DateTime('2024'), { year: 2024 });
  assert.deepEqual(parseV2DateTime('20240115103045.1234-0500'), { year: 2024, month: 1, day: 15, hour: 10, minute: 30, second: 45, fraction: '1234', offset: -300 });
  for (const bad of ['2024-01-15', '20240230', '2024011525', '20240115106000', '20240115103045.', '20240115103045+1500', 'x2024', '20241']) {
    assert.equal(parseV2DateTime(bad), 'invalid', bad);
  }
  assert.equal(parseV2DateTime('  '), undefined);
  const zone = { kind: 'zone', timeZone: 'Europe/Berlin' } as const;
  // Spring-forward gap and autumn fall-back, as the ASTM timestamp rules define them.
  assert.equal(v2ToFhirDateTime(parseV2DateTime('20240331023000') as never, zone).value, '2024-03-31T02:30:00+01:00');
  assert.equal(v2ToFhirDateTime(parseV2DateTime('20241027023000') as never, zone).value, '2024-10-27T02:30:00+02:00');
  assert.deepEqual(v2ToFhirDateTime(parseV2DateTime('20240115') as never, zone), { value: '2024-01-15', usedFallback: false });
});

test('UCUM: declared units accept any atom; undeclared ones only unambiguous laboratory units', () => {
  for (const u of ['mg/dL', '10*9/L', '10*6/uL', '{cells}/uL', 'pg/{cell}', 'mm[Hg]', 'mmol/L', '%', 'fL', 'g/L', 'umol/l', '/uL', 'mL/min/{1.73_m2}', 'kU/L', 'm[IU]/mL', 'U/L', 'Cel', '[pH]', 's']) {
    assert.ok(isUcum(u, false), u);
  }
  for (const u of ['ML', 'S', 'C', 'F', 'mmHg', 'tera.l-1', 'giga.l-1', 'beats/min', 'mill/mm3', 'IU/L', 'mg/dl/', '(mg', 'm', 'a', '']) assert.ok(!isUcum(u, false), u);
  assert.ok(isUcum('ML', true) && isUcum('MHz', true) && isUcum('[lb_av]', true) && !isUcum('mmHg', true));
  assert.equal(ucumFor('mmHg', false), 'mm[Hg]');
  assert.equal(ucumFor('10^9/L', false), '10*9/L');
  assert.equal(ucumFor('IU/L', false), '[IU]/L');
});

test('captures: plain files pass through; MLLP frames are split, junk counted, a truncated last frame kept', () => {
  const plain = Buffer.from('MSH|^~\\&|A\rPID|1\r');
  assert.deepEqual(capturePayloads(plain), { payloads: [plain], framed: false, junkBytes: 0 });
  const framed = Buffer.concat([Buffer.from('xx'), Buffer.from('\x0bMSH|1\r\x1c\r'), Buffer.from('\x0bMSH|2\r\x1c\r\n'), Buffer.from('\x0bMSH|3\r')]);
  const c = capturePayloads(framed);
  assert.deepEqual(c.payloads.map((p) => p.toString()), ['MSH|1\r', 'MSH|2\r', 'MSH|3\r']);
  assert.equal(c.junkBytes, 2);
  assert.deepEqual(capturePayloads(Buffer.from('\x0bMSH|1\r\x0bMSH|2\r\x1c\r')).payloads.map((p) => p.toString()), ['MSH|1\r', 'MSH|2\r'], 'a restarted frame ends the open one');
  for (const yes of ['MSH|^~\\&', '\uFEFFMSH|^~\\&', '\r\nMSH|', 'junk\x0bMSH|^', 'FHS|^~\\&', 'BHS|^']) assert.ok(looksLikeHl7(Buffer.from(yes)), JSON.stringify(yes));
  for (const no of ['H|\\^&|||', '\x02H|\\^&', 'MSHX|', 'hello']) assert.ok(!looksLikeHl7(Buffer.from(no)), JSON.stringify(no));
});

test('grouping: ORC after OBR is one order; OUL specimens lead their orders, trailing ones attach to the order', () => {
  const one = parseHl7(Buffer.from(message(MSH, PID, 'OBR|1|P1', 'ORC|RE|P1', 'OBX|1|NM|A||1', 'OBR|2|P2', 'OBX|1|NM|B||2'))).messages[0]!;
  const g = groupSegments(one);
  assert.deepEqual(g[0]?.orders.map((o) => [o.obr?.index, o.orc?.index, o.results.length]), [[2, 3, 1], [5, undefined, 1]]);
  const oul = parseHl7(Buffer.from(message(MSH.replace('ORU^R01^ORU_R01', 'OUL^R22^OUL_R22'), PID, 'SPM|1|S1', 'OBX|1|NM|SPEC||1', 'OBR|1|P1', 'OBX|1|NM|A||1', 'SPM|2|S2', 'OBR|2|P2', 'OBX|1|NM|B||2', 'SPM|3|S3'))).messages[0]!;
  const p = groupSegments(oul)[0]!;
  assert.deepEqual(p.specimens.map((s) => [s.spm.index, s.results.length]), [[2, 1], [6, 0]]);
  assert.deepEqual(p.orders.map((o) => o.specimens.map((s) => s.spm.index)), [[2], [6, 9]]);
});

test('OBX-11 policy: every table 0085 code has a status; unmatched codes keep the v2 code in alternate-codes', () => {
  const expected: [string, string, boolean][] = [
    ['F', 'final', false], ['P', 'preliminary', false], ['C', 'corrected', false], ['A', 'amended', false], ['D', 'entered-in-error', false],
    ['W', 'entered-in-error', false], ['X', 'cancelled', true], ['I', 'registered', true], ['O', 'registered', true], ['R', 'preliminary', true],
    ['S', 'preliminary', true], ['U', 'final', true], ['B', 'amended', true], ['V', 'entered-in-error', true], ['N', 'cancelled', true], ['Q', 'unknown', false],
  ];
  for (const [code, status, ext] of expected) {
    const { obs, result } = observation(`OBX|1|NM|X^X^L||||||||${code}`);
    assert.equal(obs.status, status, code);
    const alt = (obs as Observation & { _status?: { extension?: { url: string; valueCodeableConcept?: { coding?: { code?: string }[] } }[] } })._status?.extension?.[0];
    assert.equal(alt !== undefined, ext, code);
    if (alt !== undefined) assert.deepEqual([alt.url, alt.valueCodeableConcept?.coding?.[0]?.code], [ALTERNATE_CODES, code]);
    if (code === 'Q') assert.ok(result.warnings.includes('OBX-11: unknown result status; Observation.status unknown'));
  }
  assert.equal(observation('OBX|1|NM|X^X^L||||||||N').obs.dataAbsentReason?.coding?.[0]?.code, 'not-asked');
});

test('OBR-25 (table 0123) drives DiagnosticReport.status; empty derives it from the results', () => {
  const report = (obr25: string, obx11 = 'F'): string | undefined => {
    const r = convert(message(MSH, PID, `OBR|1|P1||X^X^L|||||||||||||||||||||${obr25}`, `OBX|1|NM|A^A^L||1||||||${obx11}`));
    return resources<DiagnosticReport>(r.bundle, 'DiagnosticReport')[0]?.status;
  };
  const table: [string, string][] = [['F', 'final'], ['P', 'preliminary'], ['C', 'corrected'], ['R', 'partial'], ['X', 'cancelled'], ['O', 'registered'], ['I', 'registered'], ['S', 'registered'], ['A', 'partial'], ['M', 'corrected'], ['Y', 'unknown']];
  for (const [code, status] of table) assert.equal(report(code), status, code);
  assert.equal(report('', 'P'), 'preliminary');
  assert.equal(report('', 'C'), 'corrected');
});

test('the delta names every unmapped field with content by position, and nothing it used', () => {
  const r = convert(message(MSH, `${PID}||2106-3^White^HL70005`, OBR, 'OBX|1|NM|A^A^L||5|mg/dL|1-9|H|||F||||LAB^Lab|||||||||||||||^^^', 'ZXX|1|secret', 'NTE|1||hi'));
  assert.deepEqual(r.unmapped, ['MSH-4', 'MSH-5', 'MSH-6', 'PID-10', 'OBX-15', 'ZXX-1', 'ZXX-2']);
  const none = convert(message(MSH, PID, OBR, 'OBX|1|NM|A^A^L||5|mg/dL|1-9|H|||F'));
  assert.ok(!none.unmapped.some((p) => /^(PID|OBR|OBX)-/.test(p)), none.unmapped.join());
});

test('identities: the same test in one order twice gets #2; OBX-4 sub-ids keep isolates apart', () => {
  const keys = (obx: string[]): string[] => resources<Observation>(convert(message(MSH, PID, OBR, ...obx)).bundle, 'Observation').map((o) => o.identifier?.[0]?.value ?? '');
  assert.deepEqual(keys(['OBX|1|NM|A^A^L||1||||||F', 'OBX|2|NM|A^A^L||2||||||F']), ['placer/PLC1/A', 'placer/PLC1/A#2']);
  assert.deepEqual(keys(['OBX|1|CWE|ORG^Organism^L|1|E.coli||||||F', 'OBX|2|CWE|ORG^Organism^L|2|S.aureus||||||F']), ['placer/PLC1/ORG/1', 'placer/PLC1/ORG/2']);
  assert.deepEqual(keys(['OBX|1|NM|A/B^A^L||1||||||F']), ['placer/PLC1/A%2FB'], 'a / in a code cannot fake another key');
});

test('one bundle from several messages: references still point backwards, a later correction wins', () => {
  const oru = (value: string, status: string, control: string): string =>
    message(MSH.replace('CTRL1', control), PID, OBR, `OBX|1|NM|GLU^Glucose^L||${value}|mmol/L|||||${status}`);
  const r = convert(`${oru('5.5', 'F', 'C1')}${oru('6.1', 'C', 'C2')}`);
  const obs = resources<Observation>(r.bundle, 'Observation');
  assert.deepEqual(obs.map((o) => [o.status, o.valueQuantity?.value]), [['corrected', 6.1]]);
  assert.equal(resources(r.bundle, 'Patient').length, 1);
  assert.deepEqual(r.bundle.entry?.map((e) => e.resource?.resourceType), ['Device', 'Patient', 'Specimen', 'ServiceRequest', 'Observation', 'DiagnosticReport']);
  checkShape(r.bundle);
});
