/**
 * research/hl7-fhir.md §3, cases 11–20, as they reach the mapping (see hl7-cases-1-10.test.ts).
 * Framing (#13 ACK, #15 split frames, #17 ACK modes) is the intake's; here: what the mapping does
 * with the same inputs — never throws, never invents results, maps every framed message once.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Extension, Observation, Patient } from '@medplum/fhirtypes';
import { validateFhirBundle } from '../../../test/harness/fhir-validate.js';
import { OBSERVATION_VALUE_R5 } from './hl7-attachment.js';
import { convert, convertAll, message, MSH, OBR, observation, PID, resources } from './hl7-test-kit.js';

const attachmentOf = (o: Observation): NonNullable<Extension['valueAttachment']> | undefined =>
  o.extension?.find((e) => e.url === OBSERVATION_VALUE_R5)?.valueAttachment;

test('#11 a repeating OBX-5 is never truncated: components per repetition, text joined', () => {
  const nm = observation('OBX|27|NM|8867-4^heartrate^LN||60~120~80~75~90|/min|||||F').obs;
  assert.equal(nm.valueQuantity, undefined);
  assert.deepEqual(nm.component?.map((c) => c.valueQuantity?.value), [60, 120, 80, 75, 90]);
  assert.ok(nm.component?.every((c) => c.code.coding?.[0]?.code === '8867-4'));
  const cwe = observation('OBX|1|CWE|X^X^L||A^Alpha^L~B^Beta^L||||||F').obs;
  assert.deepEqual(cwe.component?.map((c) => c.valueCodeableConcept?.coding?.[0]?.code), ['A', 'B']);
  assert.equal(observation('OBX|1|TX|X^X^L||line 1~line 2~line 3||||||F').obs.valueString, 'line 1\nline 2\nline 3');
  const mixed = observation('OBX|1|NM|X^X^L||5~oops|||||F');
  assert.deepEqual(mixed.obs.component?.map((c) => c.valueQuantity?.value ?? c.valueString), [5, 'oops']);
});

const PDF = Buffer.from('%PDF-1.4\n1 0 obj\n<<>>\nendobj\n%%EOF\n');

test('#12 ED: base64 PDF becomes an attachment, its type checked; broken layouts are not forwarded', () => {
  const b64 = PDF.toString('base64');
  const ok = observation(`OBX|1|ED|PDF^Report^L||^AP^PDF^Base64^${b64}||||||F`);
  assert.deepEqual(attachmentOf(ok.obs), { contentType: 'application/pdf', data: b64, size: PDF.length });
  assert.deepEqual(validateFhirBundle(ok.result.bundle), []);
  const mislabelled = observation(`OBX|1|ED|PDF^Report^L||^IM^JPEG^Base64^${b64}||||||F`);
  assert.equal(attachmentOf(mislabelled.obs)?.contentType, 'application/pdf');
  assert.ok(mislabelled.result.warnings.includes('OBX-5: declared content type does not match the data; the detected type is used'));
  const noSubtype = observation(`OBX|1|ED|PDF^Report^L||^APPLICATION^^BASE64^${b64}||||||F`);
  assert.equal(attachmentOf(noSubtype.obs)?.contentType, 'application/pdf');
  const hex = observation(`OBX|1|ED|PDF^Report^L||^AP^PDF^Hex^${PDF.toString('hex')}||||||F`);
  assert.equal(attachmentOf(hex.obs)?.data, b64);
  const text = observation('OBX|1|ED|TXT^Text^L||^TEXT^^A^hello||||||F');
  assert.deepEqual(attachmentOf(text.obs), { contentType: 'text/plain', data: Buffer.from('hello').toString('base64'), size: 5 });
  const corrupt = observation('OBX|1|ED|PDF^Report^L||^AP^PDF^Base64^not*base64!||||||F');
  assert.equal(attachmentOf(corrupt.obs), undefined);
  assert.equal(corrupt.obs.dataAbsentReason?.coding?.[0]?.code, 'error');
  assert.ok(corrupt.result.warnings.includes('OBX-5: ED data is not valid for its encoding; not mapped'));
  const misplaced = observation(`OBX|1|ED|PDF^Report^L||^${b64}^PDF^Base64^||||||F`);
  assert.equal(misplaced.obs.dataAbsentReason?.coding?.[0]?.code, 'error');
  assert.ok(misplaced.result.warnings.includes('OBX-5: ED layout not recognised (data not in ED.5); not mapped'));
  const rp = observation('OBX|1|RP|IMG^Image^L||http://pacs/x?a=1\\T\\b=2^PACS^IM^JPEG||||||F');
  assert.deepEqual(attachmentOf(rp.obs), { url: 'http://pacs/x?a=1&b=2', contentType: 'image/jpeg' });
});

test('#13 malformed input never throws and never invents results', () => {
  const inputs = ['', 'garbage', 'MSH|', 'MSH', 'PID|1||X', `${MSH}\rOBX|1|NM|`, '\x0b\x1c\r', 'MSH|^~\\&|A\rOBX|||||||||||||||||||||||||||||||||||||||||||'];
  for (const text of inputs) {
    const r = convert(text);
    assert.deepEqual(validateFhirBundle(r.bundle), [], JSON.stringify(text));
    assert.ok(resources<Observation>(r.bundle, 'Observation').every((o) => o.status === 'unknown' || o.status === 'final'));
  }
  assert.ok(convert('garbage').warnings.some((w) => w.startsWith('input:')));
  assert.equal(convert(`${MSH}\r`).bundle.entry?.length, 0, 'a header alone maps to nothing');
});

test('#14 the same bytes map to the same bundle; a resend addresses the same resources', () => {
  const text = message(MSH, PID, OBR, 'OBX|1|NM|GLU^Glucose^L||5.5|mmol/L|||||F');
  assert.deepEqual(convert(text).bundle, convert(text).bundle);
  const [first, second] = convertAll(text + text);
  const urls = (r: typeof first) => (r?.bundle.entry ?? []).map((e) => `${e.request?.method} ${e.request?.url} ${e.request?.ifNoneExist ?? ''}`);
  assert.ok(first !== undefined && second !== undefined);
  assert.deepEqual(urls(second), urls(first), 'two copies of one message write to the same identities');
});

test('#15 framed and pipelined input: every message maps once, junk between frames is skipped', () => {
  const one = message(MSH, PID, OBR, 'OBX|1|NM|GLU^Glucose^L||5.5|mmol/L|||||F');
  const two = message(MSH.replace('CTRL1', 'CTRL2'), PID, OBR.replace('FIL1', 'FIL2'), 'OBX|1|NM|GLU^Glucose^L||6.1|mmol/L|||||F');
  const framed = Buffer.concat([Buffer.from('junk'), Buffer.from([0x0b]), Buffer.from(one), Buffer.from([0x1c, 0x0d]), Buffer.from('\r\n noise '), Buffer.from([0x0b]), Buffer.from(two), Buffer.from([0x1c, 0x0d])]);
  const results = convertAll(framed);
  assert.equal(results.length, 2);
  const values = results.map((r) => resources<Observation>(r.bundle, 'Observation').map((o) => o.valueQuantity?.value));
  assert.deepEqual(values, [[5.5], [6.1]]);
  assert.ok(results[0]?.warnings.some((w) => w.startsWith('input:')));
});

test('#16 charsets: MSH-18 8859/1, UTF-8, hex escapes; invalid bytes become U+FFFD with a warning', () => {
  const family = (bytes: Buffer): string | undefined => resources<Patient>(convert(bytes).bundle, 'Patient')[0]?.name?.[0]?.family;
  const latin1 = Buffer.concat([Buffer.from(`${MSH}||||||8859/1\rPID|1||P1^^^H^MR||`), Buffer.from([0xc9]), Buffer.from('RIC^Jo\r')]);
  assert.equal(family(latin1), 'ÉRIC');
  assert.equal(family(Buffer.from(`${MSH}||||||UNICODE UTF-8\rPID|1||P1^^^H^MR||ÉRIC^Jo\r`)), 'ÉRIC');
  assert.equal(family(Buffer.from(`${MSH}||||||8859/1\rPID|1||P1^^^H^MR||\\XC9\\RIC^Jo\r`)), 'ÉRIC');
  const broken = Buffer.concat([Buffer.from(`${MSH}||||||UNICODE UTF-8\rPID|1||P1^^^H^MR||`), Buffer.from([0xc3, 0x28]), Buffer.from('^Jo\r')]);
  const r = convert(broken);
  assert.equal(resources<Patient>(r.bundle, 'Patient')[0]?.name?.[0]?.family, '\uFFFD(');
  assert.ok(r.warnings.some((w) => w.includes('U+FFFD')));
});

test('#17 acknowledgements (AA/CA/CE/AR) and ACK-mode fields carry no results', () => {
  for (const code of ['AA', 'AE', 'AR', 'CA', 'CE', 'CR']) {
    const ack = convert(message('MSH|^~\\&|LIS|H|LAB|F|20240105083600-0500||ACK^R01^ACK|A1|P|2.5.1', `MSA|${code}|CTRL1`));
    assert.equal(ack.bundle.entry?.length, 0, code);
  }
  const enhanced = convert(message(`${MSH}|||AL|NE`, PID, OBR, 'OBX|1|NM|GLU^Glucose^L||5.5|mmol/L|||||F'));
  assert.ok(!enhanced.unmapped.includes('MSH-15') && !enhanced.unmapped.includes('MSH-16'), 'ACK modes are envelope, consumed by intake');
});

test('#18 reference ranges in every common written form, text always kept', () => {
  const cases: [string, number | undefined, number | undefined, string][] = [
    ['70_105', 70, 105, '70_105'], ['4.3 to 6.2', 4.3, 6.2, '4.3 to 6.2'], ['4.50&5.90', 4.5, 5.9, '4.50-5.90'],
    ['<7800', undefined, 7800, '<7800'], ['>0.5', 0.5, undefined, '>0.5'], ['<=5', undefined, 5, '<=5'], ['≥60', 60, undefined, '≥60'],
    ['3.5 - 5.0', 3.5, 5, '3.5 - 5.0'], ['(3.5-5.0)', 3.5, 5, '(3.5-5.0)'], ['-5--1', -5, -1, '-5--1'], ['3.5-5.0 mmol/L', 3.5, 5, '3.5-5.0 mmol/L'],
    ['NEG', undefined, undefined, 'NEG'], ['M: 13-17 F: 12-16', undefined, undefined, 'M: 13-17 F: 12-16'], ['10-5', undefined, undefined, '10-5'],
  ];
  for (const [text, low, high, shown] of cases) {
    const r = observation(`OBX|1|NM|X^X^L||5|mmol/L|${text}||||F`);
    const range = r.obs.referenceRange?.[0];
    assert.deepEqual([range?.low?.value, range?.high?.value, range?.text], [low, high, shown], text);
    if (low !== undefined) assert.equal(range?.low?.code, 'mmol/L');
    assert.deepEqual(validateFhirBundle(r.result.bundle), []);
  }
});

test('#19 an unescaped ^ in OBX-6 (10^9/L): device profile, and a safe heuristic without it', () => {
  const withProfile = observation('OBX|1|NM|WBC||21.51|10^9/L|6.00-17.00|H|||F', { profile: { unitsAsText: true } });
  assert.deepEqual(withProfile.obs.valueQuantity, { value: 21.51, unit: '10^9/L', system: 'http://unitsofmeasure.org', code: '10*9/L' });
  assert.equal(withProfile.obs.referenceRange?.[0]?.low?.code, '10*9/L');
  assert.ok(!withProfile.result.warnings.some((w) => w.startsWith('OBX-6')));
  const guessed = observation('OBX|1|NM|RBC||5.32|10^12/L|||||F');
  assert.equal(guessed.obs.valueQuantity?.code, '10*12/L');
  assert.ok(guessed.result.warnings.includes('OBX-6: unescaped component separator read as part of the unit'));
  const cwe = observation('OBX|1|NM|X^X^L||5|mg/dL^milligram per deciliter^UCUM|||||F');
  assert.deepEqual(cwe.obs.valueQuantity, { value: 5, unit: 'milligram per deciliter', system: 'http://unitsofmeasure.org', code: 'mg/dL' });
  const notUcum = observation('OBX|1|NM|X^X^L||5|ML^Millilitre|||||F');
  assert.equal(notUcum.obs.valueQuantity?.code, undefined, 'ML would be megalitre in UCUM: not coded');
});

test('#20 numbers sent as ST: device profile coerces them; placeholders become dataAbsentReason', () => {
  const st = (v: string, profile = {}) => observation(`OBX|1|ST|^pO2^M||${v}|mmHg||N|||F`, { profile }).obs;
  assert.equal(st('127').valueString, '127', 'without the profile, ST stays text');
  assert.deepEqual(st('127', { numericStrings: true }).valueQuantity, { value: 127, unit: 'mmHg', system: 'http://unitsofmeasure.org', code: 'mm[Hg]' });
  assert.equal(st('-58.4', { numericStrings: true }).valueQuantity?.value, -58.4);
  assert.equal(st('7.600', { numericStrings: true }).valueQuantity?.value, 7.6);
  assert.equal(st('.....').dataAbsentReason?.coding?.[0]?.code, 'error');
  assert.equal(st('-----', { placeholderReason: 'not-performed' }).dataAbsentReason?.coding?.[0]?.code, 'not-performed');
  assert.equal(observation('OBX|1|NM|X^X^L||***|%|||||F').obs.dataAbsentReason?.coding?.[0]?.code, 'error');
  const flagged = observation('OBX|12|ST|^O2Hb^M||-58.4|%||<|||F', { profile: { numericStrings: true } }).obs;
  assert.equal(flagged.interpretation?.[0]?.coding?.[0]?.code, '<');
});
