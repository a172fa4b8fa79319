/** Every ASTM corpus transcript converts to a valid transaction Bundle with one Observation per R record. */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import type { Bundle, BundleEntry, Resource } from '@medplum/fhirtypes';
import { validateFhirBundle } from '../../test/harness/fhir-validate.js';
import { convertAstm } from './astm-to-fhir.js';

const dir = new URL('../../test/fixtures/astm/', import.meta.url);
const files = readdirSync(dir).filter((f) => f.endsWith('.astm'));
const ctx = { sourceId: 'analyzer-7', messageId: 'msg-0001', timeZone: 'Europe/Berlin' };

/** Warnings are a position followed by fixed text. */
const WARNING = /^(record \d+( [HPORCQMSL]\.\d+)?|[HPORCQMSL]\.\d+|config|input): [A-Za-z][A-Za-z0-9 ,;()'.-]*$/;
const NAMES = ['Testpatient', 'TESTPAT', 'Alpha', 'Gamma', 'Delta', 'oper0', 'Operatr', 'Physician'];

/** Content tokens worth leaking: anything with a digit (ids, dates, values) and the corpus names. */
function sensitiveTokens(text: string): string[] {
  const tokens = text.split(/[\s|\\^&!~@`,;:/()]+/).filter((t) => t.length >= 4 && /\d/.test(t));
  return [...new Set([...tokens, ...NAMES])];
}
const POSITION = /^([HPORCQMS]\.\d+|record \d+)$/;

function referencesIn(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) for (const v of value) referencesIn(v, out);
  else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === 'reference' && typeof v === 'string') out.push(v);
      else referencesIn(v, out);
    }
  }
  return out;
}

function checkShape(bundle: Bundle): void {
  assert.equal(bundle.type, 'transaction');
  const seen = new Set<string>();
  for (const entry of bundle.entry ?? []) {
    const e = entry as BundleEntry<Resource>;
    assert.match(e.fullUrl ?? '', /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.ok(!seen.has(e.fullUrl ?? ''), 'fullUrls are unique');
    // Every reference points to an entry already listed (servers resolve urn:uuid in order).
    for (const ref of referencesIn(e.resource)) assert.ok(seen.has(ref), `${e.resource?.resourceType} refers forward`);
    seen.add(e.fullUrl ?? '');
    const type = e.resource?.resourceType ?? '';
    const identifier = (e.resource as { identifier?: { system?: string; value?: string }[] }).identifier?.[0];
    assert.ok(identifier?.system && identifier.value, `${type} has a business identifier`);
    if (type === 'Observation' || type === 'DiagnosticReport') {
      assert.equal(e.request?.method, 'PUT');
      assert.ok(e.request?.url.startsWith(`${type}?identifier=`));
    } else {
      assert.equal(e.request?.method, 'POST');
      assert.equal(e.request?.url, type);
      assert.ok(e.request?.ifNoneExist?.startsWith('identifier='));
    }
  }
}

for (const file of files) {
  test(`corpus ${file}`, () => {
    const text = readFileSync(new URL(file, dir), 'latin1');
    const result = convertAstm(text, ctx);
    assert.deepEqual(validateFhirBundle(result.bundle), []);
    checkShape(result.bundle);
    const observations = (result.bundle.entry ?? []).filter((e) => e.resource?.resourceType === 'Observation');
    assert.equal(observations.length, (text.match(/^R\|/gm) ?? []).length);
    for (const w of result.warnings) assert.match(w, WARNING);
    for (const p of result.unmapped) assert.match(p, POSITION);
    const report = [...result.warnings, ...result.unmapped].join('\n');
    for (const token of sensitiveTokens(text)) assert.ok(!report.includes(token), 'warnings carry no record content');
  });
}
