/**
 * Property and fuzz tests: the v2 → FHIR mapping never throws, whatever the segments hold, and what
 * it emits stays valid R4, keeps its shape (backward references, conditional writes) and names
 * positions only in its warnings and delta.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { validateFhirBundle } from '../../../test/harness/fhir-validate.js';
import { parseHl7 } from '../../hl7/parser.js';
import { checkShape, POSITION, WARNING } from './hl7-test-kit.js';
import { convertHl7, convertHl7All, hl7ToFhir } from './hl7-to-fhir.js';

const ctx = { sourceId: 'fuzz', messageId: 'm1', timeZone: 'Europe/Berlin' };

const piece = fc.oneof(
  fc.constantFrom(
    '', ' ', '5.5', '-0.25', '<0.10', '>=^5', '^182', '1^:^128', '2^-^8', '^2^+', '<>^5', '.....', '***', '60~120', 'a~b~c',
    'NM', 'SN', 'ST', 'TX', 'FT', 'CWE', 'CE', 'ED', 'RP', 'DT', 'DTM', 'TS', 'TM', 'DR', 'NR', 'CQ', 'NA', 'XX',
    'F', 'P', 'C', 'X', 'I', 'N', 'U', 'W', 'D', 'H', 'LL', 'A^Abnormal^HL70078', 'Q', '<', '>',
    '20240105083000', '20240105083000-0500', '2024011512', '199911', '19991', '20241301', '20140630120030.1234+00', '0',
    '718-7^Hgb^LN', 'GLU', '^pH^M', '10^9/L', 'mg/dL^mg/dL^UCUM', 'ML', 'S', '{cells}/uL^^UCUM', '70_105', '4.50&5.90', '3.5 - 5.0', 'NEG',
    '^AP^PDF^Base64^JVBERi0xLjQK', '^IM^JPEG^Base64^***', '^TEXT^^A^hi', 'http://x/y?a=1\\T\\b^^IM^JPEG', 'P1^^^H&1.2.3&ISO^MR',
    'Doe^Jane^Q^^^^L', '123 Main^^Town^ST^12345^USA^H', '^PRN^PH^^1^555^1234567', 'EQ-1^DEV', 'P1&L^F1&L',
    '\\F\\', '\\E\\', '\\X0D\\', '\\Xzz\\', '\\.br\\', '\\H\\x\\N\\', '\\', '&', '^', '~', '|', '\u0001', 'é', '\uFFFD', '\n',
  ),
  fc.string({ maxLength: 10 }),
);
const fieldText = fc.array(piece, { maxLength: 4 }).map((p) => p.join(''));
const name = fc.constantFrom('PID', 'PV1', 'ORC', 'OBR', 'OBX', 'OBX', 'OBX', 'NTE', 'SPM', 'SAC', 'TQ1', 'ZXX', 'MSA', 'obx', 'X', '');
const segment = fc.tuple(name, fc.array(fieldText, { maxLength: 32 })).map(([n, fields]) => [n, ...fields].join('|'));
const header = fc.tuple(
  fc.constantFrom('^~\\&', '^~&', '^~\\&#', '^~\\\\&', '', '#$%&'),
  fc.constantFrom('ORU^R01^ORU_R01', 'OUL^R22', 'OML^O21', 'ORM^O01', 'ADT^A01', 'ACK^R01^ACK', ''),
  fc.constantFrom('20240105083512-0500', '20240105083512', '', 'bad'),
  fc.constantFrom('P', 'T', 'D', ''),
  fc.constantFrom('', 'UNICODE UTF-8', '8859/1', 'ASCII', 'UNKNOWN'),
).map(([enc, type, time, proc, charset]) => `MSH|${enc}|LAB|FAC|LIS|HOSP|${time}||${type}|C1|${proc}|2.5.1||||||${charset}`);
const messageText = fc.tuple(header, fc.array(segment, { maxLength: 20 }), fc.constantFrom('\r', '\n', '\r\n')).map(([h, segs, t]) => [h, ...segs].join(t));
const profile = fc.record({ unitsAsText: fc.boolean(), numericStrings: fc.boolean(), stableOrderIds: fc.boolean() }, { requiredKeys: [] });

test('property: arbitrary bytes never make conversion throw', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
      for (const r of convertHl7All(bytes, ctx)) for (const w of r.warnings) assert.match(w, WARNING);
      convertHl7(bytes, ctx);
    }),
    { numRuns: 300 },
  );
});

test('property: arbitrary segments map to a valid, well-shaped bundle with positional warnings only', () => {
  fc.assert(
    fc.property(messageText, profile, fc.constantFrom('UTC', 'Europe/Berlin', 'America/St_Johns', 'bogus/zone'), (text, p, timeZone) => {
      for (const message of parseHl7(Buffer.from(text, 'utf8')).messages) {
        const result = hl7ToFhir(message, { ...ctx, timeZone, profile: p });
        assert.deepEqual(validateFhirBundle(result.bundle), []);
        checkShape(result.bundle);
        for (const w of result.warnings) assert.match(w, WARNING);
        for (const u of result.unmapped) assert.match(u, POSITION);
        assert.deepEqual(hl7ToFhir(message, { ...ctx, timeZone, profile: p }).bundle, result.bundle, 'deterministic');
      }
    }),
    { numRuns: 200 },
  );
});

test('a value outside the component its type reads (`^182` as TS, NM, TM, SN, CQ) is never an empty string', () => {
  // Found by the property above (seed 1405043880): OBX||TS|||^182 gave valueString "".
  for (const type of ['TS', 'DTM', 'DT', 'NM', 'TM', 'CQ', 'SN', 'XX', '']) {
    for (const value of ['^182', '^^182', '^', '~^182']) {
      const text = `MSH|^~\\&|LAB|FAC|LIS|HOSP|20240105083512-0500||ORU^R01^ORU_R01|C1|P|2.5.1\rOBX|1|${type}|GLU||${value}\r`;
      for (const message of parseHl7(Buffer.from(text, 'utf8')).messages) {
        const result = hl7ToFhir(message, { ...ctx, timeZone: 'UTC' });
        assert.deepEqual(validateFhirBundle(result.bundle), [], `${type} ${value}`);
      }
    }
  }
});
