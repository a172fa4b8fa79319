import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeText } from './text-decode.js';

test('auto: valid UTF-8 is read as UTF-8', () => {
  assert.equal(decodeText(Buffer.from('P|1||||Müller^Jörg', 'utf8'), 'auto'), 'P|1||||Müller^Jörg');
});

test('auto: invalid UTF-8 falls back to Latin-1 (ISO-8859-1, not windows-1252)', () => {
  const bytes = Buffer.from([0x50, 0x7c, 0x4d, 0xfc, 0x6c, 0x6c, 0x65, 0x72, 0x80]);
  assert.equal(decodeText(bytes, 'auto'), 'P|Müller\u0080');
});

test('forced encodings', () => {
  const utf8 = Buffer.from('é', 'utf8');
  assert.equal(decodeText(utf8, 'latin1'), 'Ã©');
  assert.equal(decodeText(utf8, 'utf-8'), 'é');
  assert.equal(decodeText(Buffer.from([0xe9]), 'utf-8'), '\ufffd');
  assert.equal(decodeText(new Uint8Array(0), 'auto'), '');
});

test('a subarray view decodes only its own bytes', () => {
  const all = Buffer.from('xxABCxx', 'latin1');
  assert.equal(decodeText(all.subarray(2, 5), 'latin1'), 'ABC');
});
