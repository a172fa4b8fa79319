import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import type { Bundle, DiagnosticReport, Observation, Patient, ServiceRequest, Specimen } from '@medplum/fhirtypes';
import { decodeText } from '../astm/text-decode.js';
import { validateFhirBundle } from '../../test/harness/fhir-validate.js';
import { convertAstm, type AstmMappingContext, type MappingResult } from './astm-to-fhir.js';
import { deterministicUuid, identifierQuery } from './fhir-identity.js';

const ctx: AstmMappingContext = { sourceId: 'analyzer-7', messageId: 'msg-0001', timeZone: 'Europe/Berlin' };
const fixture = (name: string): string => readFileSync(new URL(`../../test/fixtures/astm/${name}`, import.meta.url), 'latin1');
const convert = (name: string, c: AstmMappingContext = ctx): MappingResult => convertAstm(fixture(name), c);

function all<T>(bundle: Bundle, type: string): T[] {
  return (bundle.entry ?? []).filter((e) => e.resource?.resourceType === type).map((e) => e.resource as T);
}

function observation(bundle: Bundle, code: string): Observation {
  const found = all<Observation>(bundle, 'Observation').find((o) => o.code.coding?.[0]?.code === code);
  assert.ok(found, `Observation ${code}`);
  return found;
}

test('Sysmex XP-100: space-padded values, UCUM units, flags', () => {
  const { bundle } = convert('senaite-sysmex-xp100.astm');
  const wbc = observation(bundle, 'WBC^1');
  assert.deepEqual(wbc.valueQuantity, { value: 5.5, unit: '10*3/uL', system: 'http://unitsofmeasure.org', code: '10*3/uL' });
  assert.equal(wbc.code.text, '^^^^WBC^1');
  assert.equal(observation(bundle, 'HCT^1').interpretation?.[0]?.coding?.[0]?.code, 'L');
  assert.equal(observation(bundle, 'MCHC^1').interpretation?.[0]?.coding?.[0]?.code, 'H');
  assert.equal(wbc.effectiveDateTime, '2024-07-23T17:24:52+02:00');
  assert.equal(wbc.issued, '2024-07-23T17:24:52+02:00');
});

test('Euroimmun: decimal comma and comparator, one Patient per P', () => {
  const { bundle } = convert('goastm-euroimmun-analyzer1.astm');
  const values = all<Observation>(bundle, 'Observation').map((o) => o.valueQuantity);
  assert.deepEqual(values[0], { value: 8, comparator: '>', unit: 'Ratio' });
  assert.deepEqual(values[1], { value: 7.41, unit: 'Ratio' });
  assert.equal(all<Patient>(bundle, 'Patient').length, 20);
  // Without a specimen id, results are keyed on the message and record number.
  assert.equal(all<Observation>(bundle, 'Observation')[0]?.identifier?.[0]?.value, 'msg-0001/4');
});

test('Beckman DxH |\\!~: components, flag inside the value, LOINC from the code', () => {
  const { bundle, warnings } = convert('chistousov-beckman-dxh.astm');
  const hgb = observation(bundle, 'HGB^718-7');
  assert.deepEqual(hgb.valueQuantity, { value: 146, unit: 'g/L', system: 'http://unitsofmeasure.org', code: 'g/L' });
  assert.deepEqual(hgb.code.coding?.[1], { system: 'http://loinc.org', code: '718-7' });
  assert.equal(hgb.interpretation?.[0]?.coding?.[0]?.code, 'H');
  assert.equal(observation(bundle, '@PCT').code.coding?.length, 1);
  const patient = all<Patient>(bundle, 'Patient')[0];
  assert.deepEqual(patient?.identifier, [{ system: 'urn:labedge:analyzer-7:patient-lab', value: 'PID0007' }]);
  assert.equal(patient?.birthDate, '1900-01-01');
  assert.equal(patient?.gender, 'female');
  // The order download and the result message name the same ServiceRequest.
  assert.equal(all<ServiceRequest>(bundle, 'ServiceRequest').length, 1);
  assert.equal(all<Specimen>(bundle, 'Specimen')[0]?.type?.text, 'Whole blood');
  assert.ok(warnings.includes('R.14: holds a timestamp, not an instrument id; not mapped'));
});

test('GeneXpert |@^\\: long component paths give distinct codes; text and Ct values', () => {
  const { bundle } = convert('senaite-cepheid-genexpert.astm');
  const obs = all<Observation>(bundle, 'Observation');
  const codes = obs.map((o) => o.code.coding?.[0]?.code);
  assert.equal(new Set(codes).size, codes.length);
  const main = observation(bundle, 'Xpert^Xpert MTB-RIF Ultra^4^MTB');
  assert.equal(main.valueString, 'NOT DETECTED');
  assert.equal(main.status, 'final');
  assert.match(main.note?.[0]?.text ?? '', /^Notes\^/);
  assert.deepEqual(observation(bundle, 'Xpert^SPC^Ct').valueQuantity, { value: 24.7 });
  assert.deepEqual(observation(bundle, 'Xpert^rpoB1^EndPt').valueQuantity, { value: -2 });
  assert.equal(observation(bundle, 'Xpert^rpoB1').status, 'unknown');
  const devices = all<{ parent?: unknown; identifier?: { value?: string }[] }>(bundle, 'Device');
  assert.equal(devices.length, 2);
  assert.ok(devices[1]?.parent);
});

test('Erba EM200 backtick repeat: values, flags, comments, name-bearing specimen id', () => {
  const { bundle } = convert('rubyastm-erba-em200.astm');
  const glu = observation(bundle, 'GLU');
  assert.deepEqual(glu.valueQuantity, { value: 115.5, unit: 'mg/dl', system: 'http://unitsofmeasure.org', code: 'mg/dl' });
  assert.equal(glu.interpretation?.[0]?.coding?.[0]?.code, 'H');
  assert.deepEqual(glu.note, [{ text: 'Instrument Flag H' }]);
  assert.equal(glu.identifier?.[0]?.value, 'TESTPAT001/GLU');
  assert.equal(glu.issued, '2018-11-20T15:04:33+01:00');
});

test('Phadia: 18991230 null dates are absent; text results', () => {
  const { bundle } = convert('tgenaux-phadia-immunocap.astm');
  assert.ok(!JSON.stringify(bundle).includes('1899'));
  assert.equal(all<Specimen>(bundle, 'Specimen')[0]?.collection?.collectedDateTime, '2003-05-03T00:00:00+02:00');
  assert.equal(observation(bundle, 't3^sIgE^1').valueString, 'Examine');
  assert.deepEqual(observation(bundle, 't2^sIgE^1').valueQuantity, { value: 9.34, unit: 'kUA/l' });
  assert.deepEqual(observation(bundle, 'a-IgE^tIgE^1').valueQuantity?.code, 'kU/l');
});

test('Pentra: ----- with status X is cancelled with a data-absent reason', () => {
  const { bundle, warnings, unmapped } = convert('senaite-horiba-pentra-xlr.astm');
  const bas = observation(bundle, 'BAS#^704-7^1');
  assert.equal(bas.status, 'cancelled');
  assert.equal(bas.dataAbsentReason?.coding?.[0]?.code, 'not-performed');
  assert.equal(bas.valueQuantity, undefined);
  assert.equal(bas.interpretation?.[0]?.coding?.[0]?.code, 'HH');
  // Pentra's W status is not a LIS02-A2 result status: kept as unknown, with a warning.
  assert.equal(observation(bundle, 'WBC^804-5^1').status, 'unknown');
  assert.ok(warnings.includes('R.9: unknown result status; Observation.status unknown'));
  // 789-9 fails the LOINC check digit, so no LOINC coding is claimed.
  assert.equal(observation(bundle, 'RBC^789-9^1').code.coding?.length, 1);
  // A name without a patient id: no Patient, and the name position is reported unmapped.
  assert.equal(all<Patient>(bundle, 'Patient').length, 0);
  assert.ok(unmapped.includes('P.6'));
  assert.equal(all<DiagnosticReport>(bundle, 'DiagnosticReport')[0]?.status, 'unknown');
});

test('suppressed value with a final status → dataAbsentReason error', () => {
  const { bundle } = convertAstm('H|\\^&\rP|1|PID1\rO|1|S1||^^^A\rR|1|^^^A|.....|g/L||||F\rL|1|N', ctx);
  const obs = all<Observation>(bundle, 'Observation')[0];
  assert.equal(obs?.status, 'final');
  assert.equal(obs?.dataAbsentReason?.coding?.[0]?.code, 'error');
  assert.deepEqual(validateFhirBundle(bundle), []);
});

test('Roche e411: comparator, critical flag, component values kept whole', () => {
  const { bundle } = convert('rubyastm-roche-cobas-e411-etb-midfield.astm');
  const low = observation(bundle, '3/1/not');
  assert.deepEqual(low.valueQuantity, { value: 3, comparator: '<', unit: 'ng/ml', system: 'http://unitsofmeasure.org', code: 'ng/ml' });
  assert.equal(low.interpretation?.[0]?.coding?.[0]?.code, 'LL');
  assert.deepEqual(low.note, [{ text: '27' }]);
  assert.equal(observation(bundle, '5/1/not').valueString, '-1^0.282');
  const devices = all<{ identifier?: { value?: string }[] }>(bundle, 'Device');
  assert.equal(devices[1]?.identifier?.[0]?.value, 'E1');
  const report = all<DiagnosticReport>(bundle, 'DiagnosticReport')[0];
  assert.equal(report?.code.coding?.[0]?.code, '11502-2');
  assert.equal(report?.result?.length, 7);
  assert.equal(report?.status, 'final');
});

test('Stago: the same test twice on one specimen gets #2, not an overwrite', () => {
  const { bundle } = convert('rubyastm-stago-sta-satellite-max.astm');
  const ids = all<Observation>(bundle, 'Observation').map((o) => o.identifier?.[0]?.value);
  assert.deepEqual(ids, [
    '000004782/SPT^F^64', '000004782/SINR^F^64', '000004782/SAPTT^F^64',
    '000004782/SPT^F^64#2', '000004782/SINR^F^64#2', '000004782/SAPTT^F^64#2',
  ]);
  assert.deepEqual(observation(bundle, 'SPT^F^64').valueQuantity, { value: 14.02, unit: 'S' });
});

test('Yumizen H550 doubled delimiters and Horiba reference ranges', () => {
  const { bundle, warnings } = convert('goastm-horiba-yumizen-h550.astm');
  assert.equal(warnings[0], 'record 1 H.2: doubled delimiter character in the definition; collapsed');
  const mcv = observation(bundle, 'MCV^787-2');
  assert.deepEqual(mcv.referenceRange, [{ low: { value: 73.5, unit: 'um3', system: 'http://unitsofmeasure.org', code: 'um3' }, high: { value: 83.5, unit: 'um3', system: 'http://unitsofmeasure.org', code: 'um3' }, text: '73.5-83.5' }]);
  assert.deepEqual(mcv.meta?.tag, [{ system: 'urn:labedge:astm:processing-id', code: 'Q' }]);
});

test('Beckman reference range "a to b" and Galileo component results', () => {
  const beckman = convertAstm('H|\\!~\rP|1|X\rO|1|S\rR|1|!!!WBC|7.4|10^9/L|3.8 to 11.8|N||F\rL|1', ctx).bundle;
  assert.deepEqual(all<Observation>(beckman, 'Observation')[0]?.referenceRange?.[0]?.low?.value, 3.8);
  const galileo = convert('goastm-immucor-galileo-result.astm').bundle;
  assert.equal(observation(galileo, 'Anti-B').valueString, '3+^3+^45');
  assert.equal(observation(galileo, 'ABOD Full Interp').valueString, 'B Pos');
  assert.equal(all<DiagnosticReport>(galileo, 'DiagnosticReport').length, 2);
});

test('tgenaux escapes and repeats: decoded text, several specimen ids, bare L', () => {
  const text = fixture('tgenaux-escape-and-repeat.astm').replace('P|1\n', 'P|1|PID9\n');
  const { bundle, warnings } = convertAstm(text, ctx);
  assert.deepEqual(validateFhirBundle(bundle), []);
  const sr = all<ServiceRequest>(bundle, 'ServiceRequest');
  assert.equal(sr.length, 1);
  assert.equal(sr[0]?.code?.text, 'ABO-D');
  assert.deepEqual(all<Specimen>(bundle, 'Specimen').map((s) => s.identifier?.[0]?.value), ['SID101', 'SID102', 'SID304']);
  assert.ok(warnings.includes('O.3: several specimen ids; the first is used'));
  const escaped = convertAstm('H|\\^&\rP|1|PID9\rO|1|SID304||Type &F& Screen\rR|1|Type &F& Screen|POS\rL|1', ctx).bundle;
  const obs = all<Observation>(escaped, 'Observation')[0];
  assert.equal(obs?.code.text, 'Type | Screen');
  assert.equal(obs?.identifier?.[0]?.value, 'SID304/Type %7C Screen');
  assert.deepEqual(validateFhirBundle(escaped), []);
});

test('a Latin-1 patient name survives decoding and mapping', () => {
  const bytes = Buffer.concat([Buffer.from('H|\\^&\rP|1|PID42|||M', 'latin1'), Buffer.from([0xfc]), Buffer.from('ller^J', 'latin1'), Buffer.from([0xf6]), Buffer.from('rg||19700101|M\rL|1|N', 'latin1')]);
  const { bundle } = convertAstm(decodeText(bytes, 'auto'), ctx);
  const patient = all<Patient>(bundle, 'Patient')[0];
  assert.deepEqual(patient?.name, [{ family: 'Müller', given: ['Jörg'] }]);
  assert.equal(patient?.birthDate, '1970-01-01');
  assert.equal(patient?.gender, 'male');
});

test('patient identifiers, name parts and the overridable systems', () => {
  const c = { ...ctx, identifierSystems: { patient: 'http://hospital.example/mrn', specimen: 'http://hospital.example/accession' } };
  const { bundle } = convertAstm('H|\\^&\rP|1|MRN1|LAB1|ALT1|Doe^Jane^Q^Jr^Dr||19800229|F\rO|1|ACC1||^^^GLU\rL|1', c);
  const entries = bundle.entry ?? [];
  const patient = all<Patient>(bundle, 'Patient')[0];
  assert.deepEqual(patient?.identifier?.map((i) => i.system), ['http://hospital.example/mrn', 'urn:labedge:analyzer-7:patient-lab', 'urn:labedge:analyzer-7:patient-alt']);
  assert.deepEqual(patient?.name, [{ family: 'Doe', given: ['Jane', 'Q'], suffix: ['Jr'], prefix: ['Dr'] }]);
  assert.equal(entries.find((e) => e.resource?.resourceType === 'Patient')?.request?.ifNoneExist, 'identifier=http://hospital.example/mrn|MRN1');
  assert.equal(entries.find((e) => e.resource?.resourceType === 'Specimen')?.request?.ifNoneExist, 'identifier=http://hospital.example/accession|ACC1');
  const sr = all<ServiceRequest>(bundle, 'ServiceRequest')[0];
  assert.equal(sr?.status, 'active');
  assert.equal(sr?.intent, 'order');
  assert.deepEqual(validateFhirBundle(bundle), []);
});

test('no patient identifier: no Patient and no ServiceRequest, but Specimen and results', () => {
  const { bundle, warnings } = convertAstm('H|\\^&\rP|1||||Doe^Jane\rO|1|ACC1||^^^GLU\rR|1|^^^GLU|5|mmol/L||||F\rL|1', ctx);
  assert.deepEqual(all(bundle, 'Patient'), []);
  assert.deepEqual(all(bundle, 'ServiceRequest'), []);
  assert.equal(all(bundle, 'Specimen').length, 1);
  assert.equal(all<Observation>(bundle, 'Observation')[0]?.subject, undefined);
  assert.ok(warnings.includes('P.3: patient data without a patient identifier; Patient omitted'));
});

test('an O.4-only specimen is scoped to the message: rack positions are reused', () => {
  const text = 'H|\\^&\rP|1|PID1\rO|1||5|^^^HbA1c\rR|1|^^^HbA1c|5.9|%||||F\rL|1';
  const a = convertAstm(text, { ...ctx, messageId: 'm-a' }).bundle;
  const b = convertAstm(text, { ...ctx, messageId: 'm-b' }).bundle;
  const id = (x: Bundle): string | undefined => all<Specimen>(x, 'Specimen')[0]?.identifier?.[0]?.value;
  assert.equal(id(a), 'm-a/5');
  assert.notEqual(id(a), id(b));
  assert.equal(all<Observation>(a, 'Observation')[0]?.identifier?.[0]?.value, 'm-a/4');
});

test('a correction (R.9 = C) addresses the same Observation as the original', () => {
  const original = convertAstm('H|\\^&\rP|1|PID1\rO|1|ACC1||^^^GLU\rR|1|^^^GLU|5|mmol/L||||F\rL|1', { ...ctx, messageId: 'one' }).bundle;
  const corrected = convertAstm('H|\\^&\rP|1|PID1\rO|1|ACC1||^^^GLU\rR|1|^^^GLU|6|mmol/L||||C\rL|1', { ...ctx, messageId: 'two' }).bundle;
  const obsEntry = (b: Bundle) => (b.entry ?? []).find((e) => e.resource?.resourceType === 'Observation');
  assert.equal(obsEntry(original)?.request?.url, obsEntry(corrected)?.request?.url);
  assert.equal(obsEntry(original)?.fullUrl, obsEntry(corrected)?.fullUrl);
  assert.equal((obsEntry(corrected)?.resource as Observation).status, 'corrected');
  assert.equal(all<DiagnosticReport>(corrected, 'DiagnosticReport')[0]?.status, 'corrected');
});

test('determinism: the same input gives byte-identical JSON; fullUrls follow the identifiers', () => {
  for (const name of ['senaite-cepheid-genexpert.astm', 'epidermis-lis02a2-standard-figures.astm', 'goastm-euroimmun-analyzer1.astm']) {
    assert.equal(JSON.stringify(convert(name)), JSON.stringify(convert(name)));
  }
  assert.equal(deterministicUuid('x'), deterministicUuid('x'));
  assert.notEqual(deterministicUuid('x'), deterministicUuid('y'));
  assert.notEqual(JSON.stringify(convert('goastm-euroimmun-analyzer1.astm', { ...ctx, messageId: 'other' })), JSON.stringify(convert('goastm-euroimmun-analyzer1.astm')));
});

test('identifier queries are escaped for FHIR search and URL-encoded', () => {
  assert.equal(identifierQuery({ system: 'urn:labedge:a:result', value: 'S 1/A,B$C\\D^E&F' }), 'identifier=urn:labedge:a:result|S%201/A%5C%2CB%5C%24C%5C%5CD%5EE%26F');
  const { bundle } = convertAstm('H|\\^&\rP|1|P1\rO|1|S1\rR|1|^^^A|1\rL|1', { ...ctx, sourceId: 'lab 7/ü' });
  assert.equal(all<Patient>(bundle, 'Patient')[0]?.identifier?.[0]?.system, 'urn:labedge:lab%207%2F%C3%BC:patient');
  assert.deepEqual(validateFhirBundle(bundle), []);
});

test('unmapped lists positions only, e.g. the LIS02-A2 header password H.4', () => {
  const { unmapped } = convert('epidermis-lis02a2-standard-figures.astm');
  assert.ok(unmapped.includes('H.4'));
  assert.ok(unmapped.includes('Q.3'));
  assert.ok(unmapped.every((p) => /^([A-Z]\.\d+|record \d+)$/.test(p)));
});

test('non-ASTM payloads and empty input give an empty bundle and warnings', () => {
  const raw = convert('senaite-biomerieux-minividas-raw.astm');
  assert.deepEqual(raw.bundle.entry, []);
  assert.deepEqual(convert('rubyastm-roche-cobas-e411-hostquery.astm').bundle.entry, []);
  assert.deepEqual(raw.unmapped, ['record 1']);
  const empty = convertAstm('', ctx);
  assert.deepEqual(empty.warnings, ['input: no ASTM records']);
  assert.deepEqual(validateFhirBundle(empty.bundle), []);
});

test('an unknown time zone falls back with a warning', () => {
  const result = convertAstm('H|\\^&\rL|1', { ...ctx, timeZone: 'Nowhere/Land' });
  assert.ok(result.warnings.includes('config: time zone not recognised; the system zone is used'));
});

test('result keys that differ only in case, or look like a suffix, never collide', () => {
  const text = 'H|\\^&\rP|1|P1\rO|1|S1\rR|1|^^^ORG#|1\rR|2|^^^Org#|2\rR|3|^^^X|3\rR|4|^^^X|4\rR|5|^^^X#2|5\rL|1';
  const ids = all<Observation>(convertAstm(text, ctx).bundle, 'Observation').map((o) => o.identifier?.[0]?.value);
  assert.deepEqual(ids, ['S1/ORG#', 'S1/Org##2', 'S1/X', 'S1/X#2', 'S1/X#2#2']);
});
