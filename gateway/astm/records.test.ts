import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { DEFAULT_DELIMITERS, parseHeaderDelimiters, type Delimiters } from './delimiters.js';
import { decodeEscapes, encodeEscapes } from './escape.js';
import { formatRecordWarning, parseRecords } from './records.js';

test('delimiters come from the H record', () => {
  assert.deepEqual(parseRecords('H|\\^&|||x\rL|1|N').delimiters, DEFAULT_DELIMITERS);
  assert.deepEqual(parseRecords('H|@^\\|URM||x\rL|1').delimiters, { field: '|', repeat: '@', component: '^', escape: '\\' });
  assert.deepEqual(parseRecords('H|`^&||||||||||P|E 1394-97').delimiters, { field: '|', repeat: '`', component: '^', escape: '&' });
  assert.deepEqual(parseRecords('H|\\!~|||DxH').delimiters, { field: '|', repeat: '\\', component: '!', escape: '~' });
});

test('a header with nothing after the delimiters is normal (Q11)', () => {
  const parsed = parseRecords('H|\\^&\rP|1\rL|1');
  assert.deepEqual(parsed.delimiters, DEFAULT_DELIMITERS);
  assert.deepEqual(parsed.warnings, []);
  assert.equal(parsed.records[0]?.field(2), '\\^&');
  assert.equal(parsed.records[0]?.fieldCount, 2);
});

test('doubled H|\\\\^& is collapsed with a warning (Q11)', () => {
  const parsed = parseRecords('H|\\\\^&|||H550^909YAXH02732\rR|1|^^^MCV^787-2|78.4');
  assert.deepEqual(parsed.delimiters, DEFAULT_DELIMITERS);
  assert.equal(parsed.warnings.length, 1);
  assert.equal(parsed.warnings[0]?.position, 'H.2');
  assert.deepEqual(parsed.records[1]?.components(3), ['', '', '', 'MCV', '787-2']);
});

test('clashing delimiters: components win over repeats, a clashing escape is disabled', () => {
  const same = parseHeaderDelimiters('H|^^&');
  assert.deepEqual(same.delimiters, { field: '|', repeat: '', component: '^', escape: '&' });
  assert.match(same.problems.join(), /repeat and component delimiters are the same/);
  assert.equal(parseHeaderDelimiters('H|\\^^').delimiters.escape, '&');
  assert.equal(parseHeaderDelimiters('H|\\^|').delimiters.escape, '&');
  assert.deepEqual(parseHeaderDelimiters('H').delimiters, DEFAULT_DELIMITERS);
  assert.deepEqual(parseHeaderDelimiters('HA|').delimiters, DEFAULT_DELIMITERS);
  const r = parseRecords('H|^^&\rO|1|a\\b^c').records[1];
  assert.deepEqual(r?.repeats(3), ['a\\b^c']);
  assert.deepEqual(r?.components(3), ['a\\b', 'c']);
});

test('positional access with ASTM numbering, repeats and components', () => {
  const { records } = parseRecords('H|\\^&\rP|1|PRAC|LAB|ALT|Doe^John^Q^Jr^Dr||19800101|M\rO|1|S1||^^^A1\\^^^A2|R');
  const p = records[1];
  assert.equal(p?.type, 'P');
  assert.equal(p?.field(1), 'P');
  assert.equal(p?.field(3), 'PRAC');
  assert.equal(p?.component(6, 2), 'John');
  assert.equal(p?.component(6, 9), '');
  assert.equal(p?.field(40), '');
  assert.equal(p?.position(6), 'P.6');
  const o = records[2];
  assert.deepEqual(o?.repeats(5), ['^^^A1', '^^^A2']);
  assert.deepEqual(o?.structure(5), [['', '', '', 'A1'], ['', '', '', 'A2']]);
  assert.equal(o?.component(5, 4, 2), 'A2');
  assert.deepEqual(o?.components(5, 3), []);
  assert.equal(o?.hasContent(4), false);
});

test('escape sequences use the message escape character; highlights are dropped', () => {
  const d = DEFAULT_DELIMITERS;
  assert.equal(decodeEscapes('Type &F& Screen &R& x &S& y &E& z', d), 'Type | Screen \\ x ^ y & z');
  assert.equal(decodeEscapes('&H&bold&N& text', d), 'bold text');
  assert.equal(decodeEscapes('hex &X4D6FC3BC& &X41&', d), 'hex Moü A');
  assert.equal(decodeEscapes('local &Zab& kept', d), 'local &Zab& kept');
  assert.equal(decodeEscapes('A & B, R&D', d), 'A & B, R&D');
  assert.equal(decodeEscapes('dangling &F', d), 'dangling &F');
  const beckman: Delimiters = { field: '|', repeat: '\\', component: '!', escape: '~' };
  assert.equal(decodeEscapes('a~S~b &F& c', beckman), 'a!b &F& c');
  const r = parseRecords('H|\\^&\rR|38|^^^^SCAT_WDF|PNG&R&20240628&R&WDF.PNG').records[1];
  assert.equal(r?.field(4), 'PNG\\20240628\\WDF.PNG');
  assert.deepEqual(r?.repeats(4), ['PNG\\20240628\\WDF.PNG']);
});

test('records before any H, unknown types and line endings', () => {
  const parsed = parseRecords('\uFEFFP|1\r\nX|junk\n\nR|1|^^^A|1\n\rL');
  assert.deepEqual(parsed.records.map((r) => r.type), ['P', 'unknown', 'R', 'L']);
  assert.deepEqual(parsed.records.map((r) => r.index), [1, 2, 3, 4]);
  assert.equal(parsed.records[1]?.position(3), 'record 2');
  const messages = parsed.warnings.map(formatRecordWarning);
  assert.deepEqual(messages, ['record 1: records before any H record; default delimiters assumed', 'record 2: unknown record type; kept unmapped']);
  assert.equal(parseRecords('HELLO|x').records[0]?.type, 'unknown');
});

test('a later H switches delimiters for the records after it', () => {
  const { records } = parseRecords('H|\\^&\rR|1|a^b\rL|1\rH|\\!~\rR|1|a!b^c\rL|1');
  assert.deepEqual(records[1]?.components(3), ['a', 'b']);
  assert.deepEqual(records[4]?.components(3), ['a', 'b^c']);
});

test('no size limit: a 100 kB M record parses whole', () => {
  const big = 'A'.repeat(100_000);
  const r = parseRecords(`H|\\^&\rM|1|HISTOGRAM|${big}\rL|1`).records[1];
  assert.equal(r?.field(4).length, 100_000);
});

const delimiterChar = fc.constantFrom(...'|\\^&@`!~#$%*+/:;=?_{}[]'.split(''));
const delimiterSets = fc.uniqueArray(delimiterChar, { minLength: 4, maxLength: 4 }).map(([field, repeat, component, escape]): Delimiters => ({
  field: field ?? '|', repeat: repeat ?? '\\', component: component ?? '^', escape: escape ?? '&',
}));

test('property: escape encode/decode round-trips for any delimiters', () => {
  fc.assert(
    fc.property(delimiterSets, fc.string({ unit: 'binary', maxLength: 60 }), (d, text) => {
      assert.equal(decodeEscapes(encodeEscapes(text, d), d), text);
      const encoded = encodeEscapes(text, d);
      for (const ch of [d.field, d.repeat, d.component, '\r', '\n']) {
        // Encoded text holds no bare delimiter, so splitting cannot cut a value.
        assert.ok(!encoded.includes(ch));
      }
    }),
    { numRuns: 500 },
  );
});

test('property: generated records parse back to the same fields, repeats and components', () => {
  const value = fc.string({ maxLength: 12 });
  const field = fc.array(fc.array(value, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 3 });
  fc.assert(
    fc.property(delimiterSets, fc.constantFrom('P', 'O', 'R', 'C', 'Q', 'M'), fc.array(field, { maxLength: 8 }), (d, type, fields) => {
      const encode = (f: string[][]): string => f.map((rep) => rep.map((c) => encodeEscapes(c, d)).join(d.component)).join(d.repeat);
      const header = `H${d.field}${d.repeat}${d.component}${d.escape}`;
      const line = [type, '1', ...fields.map(encode)].join(d.field);
      const parsed = parseRecords(`${header}\r${line}\rL`);
      assert.deepEqual(parsed.delimiters, d);
      assert.deepEqual(parsed.warnings, []);
      const r = parsed.records[1];
      assert.equal(r?.type, type);
      fields.forEach((f, i) => {
        assert.deepEqual(r?.structure(i + 3), f);
        assert.deepEqual(r?.repeats(i + 3), f.map((rep) => rep.join(d.component)));
        assert.equal(r?.component(i + 3, 1), f[0]?.[0]);
      });
    }),
    { numRuns: 300 },
  );
});

test('property: parseRecords never throws and its warnings never echo content', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (text) => {
      const parsed = parseRecords(text);
      for (const w of parsed.warnings) assert.match(formatRecordWarning(w), /^record \d+( H\.2)?: [a-z ,;()0-9.-]+$/i);
      for (const r of parsed.records) {
        r.field(3);
        r.structure(4);
        r.position(5);
      }
    }),
    { numRuns: 500 },
  );
});
