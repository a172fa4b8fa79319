/** Fuzzing: the record layer and the mapping never throw, and what they emit stays valid and PHI-free. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { validateFhirBundle } from '../../test/harness/fhir-validate.js';
import { buildMessage, splitMessages } from '../astm/message.js';
import { parseRecords } from '../astm/records.js';
import { astmToFhir, convertAstm, type AstmMappingContext } from './astm-to-fhir.js';

const ctx: AstmMappingContext = { sourceId: 'fuzz', messageId: 'm1', timeZone: 'Europe/Berlin' };
const WARNING = /^(record \d+( [HPORCQMSL]\.\d+)?|[HPORCQMSL]\.\d+|config|input): [A-Za-z][A-Za-z0-9 ,;()'.-]*$/;

const piece = fc.oneof(
  fc.constantFrom('', ' ', '5.5', '  7,41', '<3.00', '>8', '-----', '.....', '-1^0.325', '3.8 to 11.8', '-5--1', '<5', 'F', 'C', 'X', 'P', 'W',
    'H', 'LL', 'N', 'A', 'M', 'U', '18991230', '20240331023000', '20241301', '202407', '^^^GLU', '^^^^WBC^1', '!!!HGB!718-7', 'mg/dL', '10^9/L',
    '&F&', '&X0D&', '&Zx&', '&', '\\', '^', '\u0001', 'é', '|'),
  fc.string({ maxLength: 8 }),
);
const fieldText = fc.array(piece, { maxLength: 4 }).map((p) => p.join(''));
const record = fc.tuple(fc.constantFrom('H', 'P', 'O', 'R', 'C', 'Q', 'M', 'S', 'L', 'X', 'H|\\\\^&', 'H|@^\\', 'H|\\!~', 'H|`^&'), fc.array(fieldText, { maxLength: 16 }))
  .map(([type, fields]) => [type, ...fields].join('|'));
const message = fc.array(record, { maxLength: 25 }).map((r) => r.join('\r'));

test('property: arbitrary text never throws anywhere in the pipeline', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 400 }), (text) => {
      parseRecords(text);
      for (const m of splitMessages(text)) astmToFhir(buildMessage(m.records), ctx);
      const result = convertAstm(text, ctx);
      for (const w of result.warnings) assert.match(w, WARNING);
    }),
    { numRuns: 300 },
  );
});

test('property: record-shaped input maps to a valid bundle with positional warnings only', () => {
  fc.assert(
    fc.property(message, fc.constantFrom('UTC', 'Europe/Berlin', 'America/St_Johns', 'bogus/zone'), (text, timeZone) => {
      const result = convertAstm(text, { ...ctx, timeZone });
      assert.deepEqual(validateFhirBundle(result.bundle), []);
      for (const w of result.warnings) assert.match(w, WARNING);
      for (const p of result.unmapped) assert.match(p, /^([HPORCQMS]\.\d+|record \d+)$/);
      const urls = (result.bundle.entry ?? []).map((e) => e.fullUrl);
      assert.equal(new Set(urls).size, urls.length);
    }),
    { numRuns: 150 },
  );
});
