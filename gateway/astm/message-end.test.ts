import { test } from 'node:test';
import assert from 'node:assert/strict';
import { endsWithTerminatorRecord } from './message-end.js';

const ends = (s: string) => endsWithTerminatorRecord(Buffer.from(s, 'latin1'));

test('terminator records end a message (Q17: L|1|N, L||, bare L, vendor delimiters)', () => {
  for (const s of ['H|\\^&\rL|1|N\r', 'L|1|N\r', 'H\rL||\r', 'H\rL\r', 'H\rL', 'H`^&\rL`1\r', 'H\rL|1|N\r\r', 'H\rL|1|N\r\n']) {
    assert.equal(ends(s), true, JSON.stringify(s));
  }
});

test('anything else does not', () => {
  for (const s of ['', '\r', 'H|\\^&\r', 'H\rP|1\r', 'H\rLX|1\r', 'H\rL1\r', 'H\rR|1|L|2\r', 'H\rL|1|N\rP|1\r', 'HL|1|N']) {
    assert.equal(ends(s), false, JSON.stringify(s));
  }
});

test('a huge last record is not scanned to its start', () => {
  assert.equal(ends('H\r' + 'M|1|' + 'x'.repeat(100_000) + '\r'), false);
  assert.equal(ends('L|' + 'x'.repeat(100_000) + '\r'), false, 'a "terminator" longer than the scan window is not one');
  assert.equal(ends('x'.repeat(100_000) + '\rL|1|N\r'), true);
});
