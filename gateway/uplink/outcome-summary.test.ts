import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { summarizeOutcome } from './outcome-summary.js';
import { CANARIES } from '../../test/harness/canary.js';

describe('summarizeOutcome', () => {
  it('keeps severity, code and a FHIRPath position; drops text and diagnostics', () => {
    const oo = {
      resourceType: 'OperationOutcome',
      issue: [
        { severity: 'error', code: 'invalid', expression: ['Observation.valueQuantity.value'], details: { text: 'value 5.5 for DOE^JANE' }, diagnostics: 'DOE^JANE' },
        { severity: 'warning', code: 'processing', location: ['Bundle.entry[3]'] },
        { severity: 'error', code: 'value', expression: ["Patient.where(name='DOE')"] },
      ],
    };
    assert.equal(summarizeOutcome(oo), 'error invalid @Observation.valueQuantity.value; warning processing @Bundle.entry[3]; error value');
  });

  it('is empty for anything that is not an OperationOutcome, and bounded', () => {
    assert.equal(summarizeOutcome(undefined), '');
    assert.equal(summarizeOutcome({ resourceType: 'Bundle' }), '');
    const many = { resourceType: 'OperationOutcome', issue: Array.from({ length: 9 }, () => ({ severity: 'error', code: 'invalid' })) };
    assert.match(summarizeOutcome(many), /\+4 more$/);
  });

  it('never repeats free text from the server (canary PHI in every string field)', () => {
    fc.assert(
      fc.property(fc.constantFrom(...CANARIES), fc.string(), fc.constantFrom('', 'Patient.', 'Bundle.entry[0].'), (secret, noise, prefix) => {
        const text = `${prefix}${secret}`;
        const oo = { resourceType: 'OperationOutcome', issue: [{ severity: text, code: `${text}${noise}`, expression: [text], location: [text], details: { text }, diagnostics: text }] };
        return !summarizeOutcome(oo).includes(secret);
      }),
    );
  });
});
