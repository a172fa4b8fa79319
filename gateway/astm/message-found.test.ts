import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { holdsAstmMessage } from './message-found.js';

test('a message is an H record with a field delimiter, then P, Q or L; a stray H line is not', () => {
  assert.equal(holdsAstmMessage('H|\\^&\rL|1|N\r'), true);
  assert.equal(holdsAstmMessage('H|\\^&|||EM200\rP|1|0\rO|1|0||^^^GLU\r'), true);
  assert.equal(holdsAstmMessage('H|\\^&\rQ|1|^S1\r'), true);
  for (const junk of ['', '\n', 'Hello\nLater\n', 'H\rL|1\r', 'Hq\x00\x01\nL|1|N\n', 'P|1|0\rL|1|N\r']) assert.equal(holdsAstmMessage(junk), false, JSON.stringify(junk));
});

test('property: text without any line starting with H never holds a message', () => {
  fc.assert(fc.property(fc.string({ maxLength: 400 }), (s) => {
    const text = s.replace(/(^|[\r\n])H/g, '$1x');
    assert.equal(holdsAstmMessage(text), false);
  }), { numRuns: 200 });
});
