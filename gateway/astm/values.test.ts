import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { parseAstmTimestamp, resolveTimeZone, toFhirDate, toFhirDateTime, toFhirInstant, type AstmTimestamp } from './timestamps.js';
import { isSuppressedValue, parseNumericValue, parseReferenceRange } from './values.js';

test('numbers: padding, decimal comma, comparators', () => {
  assert.deepEqual(parseNumericValue('  5.5'), { value: 5.5 });
  assert.deepEqual(parseNumericValue(' 0.17 '), { value: 0.17 });
  assert.deepEqual(parseNumericValue('7,41'), { value: 7.41 });
  assert.deepEqual(parseNumericValue('<3.00'), { value: 3, comparator: '<' });
  assert.deepEqual(parseNumericValue('>8'), { value: 8, comparator: '>' });
  assert.deepEqual(parseNumericValue('<= 0.5'), { value: 0.5, comparator: '<=' });
  assert.deepEqual(parseNumericValue('>=10'), { value: 10, comparator: '>=' });
  assert.deepEqual(parseNumericValue('-2.0'), { value: -2 });
  assert.deepEqual(parseNumericValue('.5'), { value: 0.5 });
  assert.deepEqual(parseNumericValue('1.2E3'), { value: 1200 });
  for (const bad of ['', 'POS', '3+', '-1^0.325', '1,234.5', '--', '5 5', 'NaN', 'Infinity']) assert.equal(parseNumericValue(bad), undefined, bad);
});

test('suppressed values', () => {
  for (const s of ['-----', '.....', ' *** ', '--']) assert.ok(isSuppressedValue(s), s);
  for (const s of ['-', '-1', '', 'x--']) assert.ok(!isSuppressedValue(s), s);
});

test('reference ranges, including negative bounds', () => {
  assert.deepEqual(parseReferenceRange('3.8 to 11.8'), { low: 3.8, high: 11.8 });
  assert.deepEqual(parseReferenceRange('73.5-83.5'), { low: 73.5, high: 83.5 });
  assert.deepEqual(parseReferenceRange('84.0 - 94.0'), { low: 84, high: 94 });
  assert.deepEqual(parseReferenceRange('-5--1'), { low: -5, high: -1 });
  assert.deepEqual(parseReferenceRange('-5-1'), { low: -5, high: 1 });
  assert.deepEqual(parseReferenceRange('-5 - -1'), { low: -5, high: -1 });
  assert.deepEqual(parseReferenceRange('2_5'), { low: 2, high: 5 });
  assert.deepEqual(parseReferenceRange('1,5-2,5'), { low: 1.5, high: 2.5 });
  assert.deepEqual(parseReferenceRange('<5'), { high: 5 });
  assert.deepEqual(parseReferenceRange('>=1'), { low: 1 });
  for (const bad of ['', 'DEFAULT', 'NEG', '5-1', '1-2-3']) assert.equal(parseReferenceRange(bad), undefined, bad);
});

const ts = (text: string): AstmTimestamp => {
  const t = parseAstmTimestamp(text);
  assert.ok(typeof t === 'object', text);
  return t;
};

test('timestamps keep their precision and take the zone offset (DST aware)', () => {
  assert.equal(toFhirDateTime(ts('2024'), 'Europe/Berlin'), '2024');
  assert.equal(toFhirDateTime(ts('202407'), 'Europe/Berlin'), '2024-07');
  assert.equal(toFhirDateTime(ts('20240712'), 'Europe/Berlin'), '2024-07-12');
  assert.equal(toFhirDateTime(ts('2024071215'), 'Europe/Berlin'), '2024-07-12T15:00:00+02:00');
  assert.equal(toFhirDateTime(ts('202407121530'), 'Europe/Berlin'), '2024-07-12T15:30:00+02:00');
  assert.equal(toFhirDateTime(ts('20240112153045'), 'Europe/Berlin'), '2024-01-12T15:30:45+01:00');
  assert.equal(toFhirDateTime(ts('20240712153045'), 'America/New_York'), '2024-07-12T15:30:45-04:00');
  assert.equal(toFhirDateTime(ts('20240712153045'), 'Asia/Kolkata'), '2024-07-12T15:30:45+05:30');
  assert.equal(toFhirDateTime(ts('20240712153045'), 'UTC'), '2024-07-12T15:30:45+00:00');
  // Autumn fall-back: 02:30 happens twice in Berlin; the first (summer time) is taken.
  assert.equal(toFhirDateTime(ts('20241027023000'), 'Europe/Berlin'), '2024-10-27T02:30:00+02:00');
  // Spring gap: 02:30 does not exist; the offset before the gap is used.
  assert.equal(toFhirDateTime(ts('20240331023000'), 'Europe/Berlin'), '2024-03-31T02:30:00+01:00');
  assert.equal(toFhirDateTime(ts('20240331033000'), 'Europe/Berlin'), '2024-03-31T03:30:00+02:00');
  assert.equal(toFhirDate(ts('19000101000000')), '1900-01-01');
  assert.equal(toFhirInstant(ts('20240712'), 'UTC'), undefined);
});

test('null and invalid dates', () => {
  assert.equal(parseAstmTimestamp('18991230'), 'null');
  assert.equal(parseAstmTimestamp('18991230000000'), 'null');
  assert.equal(parseAstmTimestamp('00000000'), 'null');
  assert.equal(parseAstmTimestamp('  '), undefined);
  for (const bad of ['20241301', '20240230', '2024071225', '202407121260', '2024-07-12', '12345', '0000123']) {
    assert.equal(parseAstmTimestamp(bad), 'invalid', bad);
  }
  assert.deepEqual(parseAstmTimestamp('20240229'), { year: 2024, month: 2, day: 29, hour: undefined, minute: undefined, second: undefined });
});

test('time zone resolution never throws', () => {
  assert.deepEqual(resolveTimeZone('Europe/Berlin'), { timeZone: 'Europe/Berlin', valid: true });
  const bad = resolveTimeZone('Mars/Olympus');
  assert.equal(bad.valid, false);
  assert.ok(bad.timeZone.length > 0);
  assert.equal(resolveTimeZone().valid, true);
});

test('property: every valid timestamp maps to an R4 dateTime whose wall time is the input', () => {
  const dt = /^\d{4}(-\d{2}(-\d{2}(T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2})?)?)?$/;
  fc.assert(
    fc.property(
      fc.date({ min: new Date('1950-01-01T00:00:00Z'), max: new Date('2090-12-31T23:59:59Z'), noInvalidDate: true }),
      fc.constantFrom('Europe/Berlin', 'America/New_York', 'Australia/Lord_Howe', 'Asia/Kathmandu', 'UTC'),
      (d, zone) => {
        const text = d.toISOString().replace(/[-:T]/g, '').slice(0, 14);
        const out = toFhirDateTime(ts(text), zone);
        assert.match(out, dt);
        assert.equal(out.slice(0, 19).replace(/[-:T]/g, ''), text);
      },
    ),
    { numRuns: 300 },
  );
});
