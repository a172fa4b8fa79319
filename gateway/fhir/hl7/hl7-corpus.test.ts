/**
 * Every message of every HL7 fixture parses and maps to a transaction Bundle that passes R4
 * validation, with one Observation per OBX, references that point backwards, conditional writes on
 * business identifiers, FHIR times that carry seconds and an offset, and PHI-free warnings.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { validateFhirBundle } from '../../../test/harness/fhir-validate.js';
import { parseHl7 } from '../../hl7/parser.js';
import { checkShape, POSITION, WARNING } from './hl7-test-kit.js';
import { convertHl7All, hl7ToFhir } from './hl7-to-fhir.js';

const dir = new URL('../../../test/fixtures/hl7/', import.meta.url);
const files = readdirSync(dir).filter((f) => f.endsWith('.hl7'));
const ctx = { sourceId: 'analyzer-7', messageId: 'msg-0001', timeZone: 'Europe/Berlin' };

/** Content tokens worth leaking: anything with a digit (ids, dates, values) and every name-like component. */
function sensitiveTokens(text: string): string[] {
  const tokens = text.split(/[\s|\\^&~,;:/()]+/).filter((t) => t.length >= 4 && /\d/.test(t) && !/^[A-Z]{3}-?\d+$/.test(t));
  const names = [...text.matchAll(/^PID\|[^\r\n]*/gm)].flatMap((m) => (m[0].split('|')[5] ?? '').split(/[\^&~]/)).filter((n) => n.length >= 3);
  return [...new Set([...tokens, ...names])];
}

for (const file of files) {
  test(`corpus ${file}`, () => {
    const bytes = readFileSync(new URL(file, dir));
    const parsed = parseHl7(bytes);
    assert.ok(parsed.messages.length > 0);
    const results = convertHl7All(bytes, ctx);
    assert.equal(results.length, parsed.messages.length);
    const text = bytes.toString('latin1');
    parsed.messages.forEach((message, i) => {
      const result = results[i];
      assert.ok(result !== undefined);
      assert.deepEqual(validateFhirBundle(result.bundle), [], `message ${i + 1}`);
      checkShape(result.bundle);
      const observations = (result.bundle.entry ?? []).filter((e) => e.resource?.resourceType === 'Observation');
      assert.equal(observations.length, message.segmentsNamed('OBX').length, `one Observation per OBX in message ${i + 1}`);
      for (const w of result.warnings) assert.match(w, WARNING);
      for (const p of result.unmapped) assert.match(p, POSITION);
      const report = [...result.warnings, ...result.unmapped].join('\n');
      for (const token of sensitiveTokens(text)) assert.ok(!report.includes(token), 'warnings and the delta carry no content');
      // Mapping one parsed message directly gives the same bundle as the file conversion.
      const direct = hl7ToFhir(message, { ...ctx, messageId: results.length === 1 ? ctx.messageId : `${ctx.messageId}/${i + 1}` });
      assert.deepEqual(direct.bundle, result.bundle);
    });
  });
}
