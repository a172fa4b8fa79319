/**
 * research/hl7-fhir.md §3, cases 1–10, as they reach the mapping: each test is written from the
 * case's description and covers the kind of fault (its variants), not only the one sample input.
 * The ACK-side halves (strict-mode AR, ERR segments) belong to the intake and are tested there.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readFileSync } from 'node:fs';
import type { Annotation, Observation, Patient } from '@medplum/fhirtypes';
import { validateFhirBundle } from '../../../test/harness/fhir-validate.js';
import { convert, message, MSH, OBR, observation, observations, PID, resources } from './hl7-test-kit.js';

const GLUCOSE = 'OBX|1|NM|GLU^Glucose^L||5.5|mmol/L|||||F';

test('#1 LF, CRLF, CR and BOM-prefixed files give the same FHIR (LF fallback warned)', () => {
  const segs = [MSH, PID, OBR, GLUCOSE];
  const cr = convert(segs.join('\r'));
  for (const variant of [segs.join('\n'), segs.join('\r\n'), `\uFEFF${segs.join('\n')}\n`, `${segs.join('\r\n')}\r\n`]) {
    const r = convert(variant);
    assert.deepEqual(r.bundle, cr.bundle);
    assert.equal(resources(r.bundle, 'Observation').length, 1);
  }
  assert.ok(convert(segs.join('\n')).warnings.includes('input: no CR segment terminator; LF used'));
  assert.ok(!cr.warnings.some((w) => w.includes('LF used')));
});

test('#2 a LF inside a CR-terminated message is data, not a segment break', () => {
  const text = message(MSH, PID, OBR, GLUCOSE, 'NTE|1||line one\nline two', 'OBX|2|FT|TXT^Text^L||first\nsecond\\.br\\third||||||F');
  const [glu, ft] = resources(convert(text).bundle, 'Observation') as { note?: Annotation[]; valueString?: string }[];
  assert.equal(glu?.note?.[0]?.text, 'line one\nline two');
  assert.equal(ft?.valueString, 'first\nsecond\nthird');
});

test('#3 missing or non-standard MSH-2: 3, 5 and doubled-escape encoding characters', () => {
  const three = observation('OBX|1|ST|X^X^L||A&B||||||F', {}, 'MSH|^~&|LAB|F|||20240101||ORU^R01|9|P|2.3');
  assert.equal(three.obs.valueString, 'A&B', 'no escape character: & is a subcomponent separator, kept in text');
  const five = observation('OBX|1|NM|X^X^L||7|mg/dL|||||F', {}, 'MSH|^~\\&#|LAB|F|||20240101||ORU^R01|9|P|2.3');
  assert.equal(five.obs.valueQuantity?.value, 7);
  const doubled = observation('OBX|1|ST|X^X^L||a\\T\\b||||||F', {}, 'MSH|^~\\\\&|LAB|F|||20240101||ORU^R01|9|P|2.3');
  assert.equal(doubled.obs.valueString, 'a&b');
  for (const r of [three, five, doubled]) assert.deepEqual(validateFhirBundle(r.result.bundle), []);
});

test('#4 unescaped delimiters in FT/TX/ST text and NTE are kept literally, with a warning', () => {
  const html = observation('OBX|1|FT|RPT^Report^L||<a href="x?a=1&b=2">x</a>||||||F');
  assert.equal(html.obs.valueString, '<a href="x?a=1&b=2">x</a>');
  assert.ok(html.result.warnings.includes('OBX-5: delimiters inside text kept as text'));
  assert.equal(observation('OBX|1|TX|RPT^Report^L||ratio 1^2 and a&b||||||F').obs.valueString, 'ratio 1^2 and a&b');
  assert.equal(observation('OBX|1|ST|RPT^Report^L||x^y||||||F').obs.valueString, 'x^y');
  const nte = convert(message(MSH, PID, OBR, GLUCOSE, 'NTE|1|L|314^94'));
  assert.equal((resources(nte.bundle, 'Observation')[0] as { note?: Annotation[] }).note?.[0]?.text, '314^94');
});

test('#5 escape sequences: left-to-right, unknown and unterminated kept, hex and formatting decoded', () => {
  const cases: [string, string][] = [
    ['\\E\\R\\', '\\R\\'],
    ['a\\X0D\\\\X0A\\b', 'a\r\nb'],
    ['end\\E\\', 'end\\'],
    ['BSV 4\\5', 'BSV 4\\5'],
    ['\\H\\bold\\N\\ text', 'bold text'],
    ['one\\.br\\two', 'one\ntwo'],
    ['\\F\\\\S\\\\T\\\\R\\', '|^&~'],
    ['\\Zvendor\\x', '\\Zvendor\\x'],
  ];
  for (const [raw, expected] of cases) assert.equal(observation(`OBX|1|ST|X^X^L||${raw}||||||F`).obs.valueString, expected, raw);
  const odd = observation('OBX|1|ST|X^X^L||a\\X0\\b||||||F');
  assert.equal(odd.obs.valueString, 'a\\X0\\b');
  assert.ok(odd.result.warnings.some((w) => w.startsWith('OBX-5') && w.includes('escape')));
  // \Xhh..\ is bytes in the message charset: a UTF-8 character may be split over adjacent sequences
  // (a sender escaping byte by byte); bytes that are not valid in the charset are kept literally, warned.
  const utf8 = `${MSH}||||||UNICODE UTF-8`;
  const hex: [string, string][] = [['caf\\XC3A9\\', 'café'], ['\\XC3\\\\XA9\\', 'é'], ['\\XE2\\\\X82\\\\XAC\\ 5', '€ 5'], ['\\X41\\\\XC3\\', 'A\\XC3\\']];
  for (const [raw, expected] of hex) assert.equal(observation(`OBX|1|ST|X^X^L||${raw}||||||F`, {}, utf8).obs.valueString, expected, raw);
  assert.equal(observation('OBX|1|ST|X^X^L||caf\\XE9\\||||||F', {}, `${MSH}||||||8859/1`).obs.valueString, 'café');
  assert.ok(observation('OBX|1|ST|X^X^L||\\XC3\\||||||F', {}, utf8).result.warnings.includes('OBX-5: bad-hex escape sequence kept literally'));
  const fixture = readFileSync(new URL('../../../test/fixtures/hl7/regress/utf8-hex-escape-split.hl7', import.meta.url));
  const split = resources<Observation>(convert(fixture).bundle, 'Observation')[0];
  assert.equal(split?.valueString, 'Café au lait spots, €');
  // Double-escaped by a sender (Efferent HL7-V2#40): scanned left to right, every character kept.
  const doubled = observation('OBX|1|ST|X^X^L||\\\\E\\\\X09\\\\E\\\\||||||F');
  assert.equal(doubled.obs.valueString, '\\\\\t\\\\');
});

test('#6 a time without offset takes MSH-7 offset, else the configured zone; a sent offset is kept', () => {
  const fromMsh = observation('OBX|1|NM|X^X^L||1||||||F|||20240105083000');
  assert.equal(fromMsh.obs.effectiveDateTime, '2024-01-05T08:30:00-05:00');
  assert.ok(fromMsh.result.warnings.includes('OBX-14: no UTC offset; the offset of MSH-7 was used'));
  const noOffsetMsh = MSH.replace('20240105083512-0500', '20240105083512');
  const winter = observation('OBX|1|NM|X^X^L||1||||||F|||20240105083000', { timeZone: 'America/Chicago' }, noOffsetMsh);
  assert.equal(winter.obs.effectiveDateTime, '2024-01-05T08:30:00-06:00');
  assert.ok(winter.result.warnings.includes('OBX-14: no UTC offset; the configured time zone was used'));
  const summer = observation('OBX|1|NM|X^X^L||1||||||F|||20240705083000', { timeZone: 'Europe/Berlin' }, noOffsetMsh);
  assert.equal(summer.obs.effectiveDateTime, '2024-07-05T08:30:00+02:00');
  const kept = observation('OBX|1|NM|X^X^L||1||||||F|||20240105083000-0600');
  assert.equal(kept.obs.effectiveDateTime, '2024-01-05T08:30:00-06:00', 'never converted to MSH-7 or local');
  assert.ok(!kept.result.warnings.some((w) => w.startsWith('OBX-14')));
  const system = observation('OBX|1|NM|X^X^L||1||||||F|||20240105083000', { timeZone: undefined }, noOffsetMsh);
  assert.ok(system.result.warnings.includes('OBX-14: no UTC offset; the system time zone was used'));
});

test('#7 fractional seconds and offset spellings keep their precision', () => {
  const cases: [string, string][] = [
    ['20140630120030.1234-0500', '2014-06-30T12:00:30.1234-05:00'],
    ['20180703212010+00', '2018-07-03T21:20:10+00:00'],
    ['20240115103045.1', '2024-01-15T10:30:45.1-05:00'],
    ['20240115103045.12+0530', '2024-01-15T10:30:45.12+05:30'],
    ['201203141259-0215', '2012-03-14T12:59:00-02:15'],
  ];
  for (const [v2, fhir] of cases) {
    const r = observation(`OBX|1|NM|X^X^L||1||||||F|||${v2}`);
    assert.equal(r.obs.effectiveDateTime, fhir, v2);
    assert.deepEqual(validateFhirBundle(r.result.bundle), []);
  }
});

test('#8 partial-precision dates keep their precision; impossible ones are warned, not guessed', () => {
  const patient = (birth: string): Patient | undefined => resources<Patient>(convert(message(MSH, `PID|1||P1^^^H^MR||Doe^J||${birth}|F`)).bundle, 'Patient')[0];
  assert.equal(patient('199911')?.birthDate, '1999-11');
  assert.equal(patient('1999')?.birthDate, '1999');
  assert.equal(patient('19991105')?.birthDate, '1999-11-05');
  const cases: [string, string | undefined][] = [
    ['2024011512', '2024-01-15T12:00:00-05:00'],
    ['202401151230', '2024-01-15T12:30:00-05:00'],
    ['2024', '2024'],
    ['202401', '2024-01'],
    ['19991', undefined],
    ['20241301', undefined],
    ['20240230', undefined],
  ];
  for (const [v2, fhir] of cases) {
    const r = observations([`OBX|1|NM|X^X^L||1||||||F|||${v2}`], {}, MSH);
    const obx14 = r.obs[0]?.effectiveDateTime;
    if (fhir === undefined) {
      assert.ok(r.result.warnings.includes('OBX-14: not a valid date/time; not mapped'), v2);
      assert.equal(obx14, '2024-01-05T08:00:00-05:00', 'falls back to OBR-7, never to a guess');
    } else assert.equal(obx14, fhir, v2);
  }
});

test('#9 OBX-2 TS, DT and DTM values become valueDateTime, never dropped', () => {
  assert.equal(observation('OBX|5|TS|11368-8^Onset^LN||20210224||||||F').obs.valueDateTime, '2021-02-24');
  assert.equal(observation('OBX|5|DT|11368-8^Onset^LN||20210224||||||F').obs.valueDateTime, '2021-02-24');
  assert.equal(observation('OBX|5|DTM|11368-8^Onset^LN||202102241030||||||F').obs.valueDateTime, '2021-02-24T10:30:00-05:00');
  assert.equal(observation('OBX|5|TS|11368-8^Onset^LN||20210224103000+0100^S||||||F').obs.valueDateTime, '2021-02-24T10:30:00+01:00');
  assert.equal(observation('OBX|5|TM|X^X^L||1030||||||F').obs.valueTime, '10:30:00');
  const bad = observation('OBX|5|TS|11368-8^Onset^LN||yesterday||||||F');
  assert.equal(bad.obs.valueString, 'yesterday', 'an unreadable date is kept as text');
});

test('#10 SN: every comparator/separator form, and SN written as one string', () => {
  const sn = (v: string) => observation(`OBX|3|SN|X^X^L||${v}|kU/L|||||F`);
  assert.deepEqual(sn('^182').obs.valueQuantity, { value: 182, unit: 'kU/L', system: 'http://unitsofmeasure.org', code: 'kU/L' });
  assert.equal(sn('<^0.10').obs.valueQuantity?.comparator, '<');
  assert.equal(sn('>=^5').obs.valueQuantity?.comparator, '>=');
  assert.equal(sn('=^5').obs.valueQuantity?.comparator, undefined);
  const loose = sn('<0.10');
  assert.deepEqual([loose.obs.valueQuantity?.comparator, loose.obs.valueQuantity?.value], ['<', 0.1]);
  assert.ok(loose.result.warnings.includes('OBX-5: SN written as one string; read heuristically'));
  assert.deepEqual(sn('^1^:^128').obs.valueRatio, { numerator: { value: 1 }, denominator: { value: 128 } });
  assert.deepEqual(sn('^1^/^64').obs.valueRatio?.denominator, { value: 64 });
  assert.deepEqual([sn('^2^-^8').obs.valueRange?.low?.value, sn('^2^-^8').obs.valueRange?.high?.value], [2, 8]);
  assert.equal(sn('^2^+').obs.valueString, '2+');
  assert.equal(sn('<>^5').obs.valueString, '<>5');
  const junk = sn('^abc');
  assert.equal(junk.obs.valueString, 'abc');
  assert.ok(junk.result.warnings.includes('OBX-5: SN value not readable; kept as text'));
});
