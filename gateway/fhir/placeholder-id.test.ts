import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import fc from 'fast-check';
import type { Bundle, Patient } from '@medplum/fhirtypes';
import { convertAstm, type AstmMappingContext } from './astm-to-fhir.js';
import { convertHl7 } from './hl7/hl7-to-fhir.js';
import { isPlaceholderId } from './placeholder-id.js';

const ctx: AstmMappingContext = { sourceId: 'em200', messageId: 'm1', timeZone: 'UTC' };
const PLACEHOLDERS = ['0', '00', '000000', '-', '--', '.', '?', '*', 'unknown', 'UNK', 'N/A', 'na', 'none', 'NULL', ' 0 '];

const resources = <T>(b: Bundle, type: string): T[] => (b.entry ?? []).map((e) => e.resource).filter((r) => r?.resourceType === type) as T[];
const conditionals = (b: Bundle, type: string): string[] =>
  (b.entry ?? []).filter((e) => e.resource?.resourceType === type).map((e) => String(e.request?.ifNoneExist ?? e.request?.url));

test('placeholders are told apart from real ids', () => {
  for (const p of PLACEHOLDERS) assert.equal(isPlaceholderId(p), true, p);
  for (const id of ['PAT123', '0012', '1', '10', 'A-1', '12-34', 'N1', 'NAT', 'Unknowne', '0.5x']) assert.equal(isPlaceholderId(id), false, id);
});

test('the Erba-style capture: two patients both sent as P|1|0 never share a Patient or a Specimen upstream', () => {
  const text = readFileSync(new URL('../../test/fixtures/astm-regress/placeholder-patient-id.astm', import.meta.url), 'latin1');
  const { bundle, warnings } = convertAstm(text, ctx);
  assert.deepEqual(resources<Patient>(bundle, 'Patient'), []);
  assert.ok(warnings.some((w) => w.startsWith('P.3: placeholder patient id')));
  const specimens = conditionals(bundle, 'Specimen');
  assert.equal(new Set(specimens).size, specimens.length, 'no shared specimen identity');
  assert.ok(!specimens.some((s) => s.endsWith('|0')), 'the placeholder is not a specimen id');
});

test('property: for any placeholder patient id, two messages of different patients share no Patient identity (ASTM and HL7)', () => {
  fc.assert(
    fc.property(fc.constantFrom(...PLACEHOLDERS), fc.constantFrom(...PLACEHOLDERS), fc.constantFrom('F', 'M', 'U'), (a, b, sex) => {
      const astm = (id: string, n: number) => convertAstm(`H|\\^&\rP|1|${id}||||Doe${n}^Pat||19700101|${sex}\rO|1|S${n}||^^^GLU\rR|1|^^^GLU|${n}|mg/dl|||F\rL|1|N\r`, { ...ctx, messageId: `m${n}` }).bundle;
      for (const bundle of [astm(a, 1), astm(b, 2)]) assert.deepEqual(conditionals(bundle, 'Patient'), []);
      const hl7 = (id: string, n: number) =>
        convertHl7(Buffer.from(`MSH|^~\\&|LAB|F|LIS|H|20240105083512||ORU^R01|C${n}|P|2.5.1\rPID|1||${id}^^^HOSP^MR||Doe${n}^Pat||19700101|${sex}\rOBR|1|P${n}||GLU\rOBX|1|NM|GLU||${n}|mg/dL|||||F\r`), { sourceId: 'lab', messageId: `h${n}`, timeZone: 'UTC' }).bundle;
      for (const bundle of [hl7(a, 1), hl7(b, 2)]) assert.deepEqual(resources<Patient>(bundle, 'Patient'), []);
    }),
    { numRuns: 100 },
  );
});

test('an HL7 SPM-2 placeholder is no specimen identity either', () => {
  const msg = (n: number) =>
    `MSH|^~\\&|LAB|F|LIS|H|20240105083512||OUL^R22|C${n}|P|2.5.1\rPID|1||P${n}^^^HOSP^MR\rSPM|1|0&LAB||BLD\rOBR|1|||GLU\rOBX|1|NM|GLU||${n}|mg/dL|||||F\r`;
  const keys = [1, 2].map((n) => conditionals(convertHl7(Buffer.from(msg(n)), { sourceId: 'lab', messageId: `h${n}`, timeZone: 'UTC' }).bundle as Bundle, 'Specimen')).flat();
  assert.equal(new Set(keys).size, keys.length, `${keys.join(' ')}`);
  assert.ok(keys.every((k) => !/\|0$/.test(k)));
});

test('an HL7 OBR-2/OBR-3 placeholder order number keys no order, specimen or result across messages', () => {
  const msg = (n: number) =>
    `MSH|^~\\&|LAB|F|LIS|H|20240105083512||ORU^R01|C${n}|P|2.5.1\rPID|1||P${n}^^^HOSP^MR\rORC|RE|0|-\rOBR|1|0|-|GLU\rOBX|1|NM|GLU||${n}|mg/dL|||||F\r`;
  const runs = [1, 2].map((n) => convertHl7(Buffer.from(msg(n)), { sourceId: 'lab', messageId: `h${n}`, timeZone: 'UTC' }));
  for (const type of ['ServiceRequest', 'Specimen', 'Observation', 'DiagnosticReport']) {
    const keys = runs.flatMap((r) => conditionals(r.bundle as Bundle, type));
    assert.equal(new Set(keys).size, keys.length, `${type}: ${keys.join(' ')}`);
    assert.ok(keys.every((k) => !/[|/](0|-)$/.test(k)), `${type}: ${keys.join(' ')}`);
  }
  assert.ok(runs[0]!.warnings.some((w) => w.startsWith('OBR-2: placeholder order number')));
});
