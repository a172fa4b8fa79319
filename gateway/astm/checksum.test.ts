import { test } from 'node:test';
import assert from 'node:assert/strict';
import { frameChecksum, formatChecksum, hexDigitValue } from './checksum.js';
import { unescapeWire } from '../../test/harness/astm-fixtures.js';

function checksumOf(escaped: string): string {
  const bytes = unescapeWire(escaped);
  return formatChecksum(frameChecksum(bytes, 0, bytes.length));
}

test('golden vectors from the Epidermis LIS01-A2 tests', () => {
  assert.equal(checksumOf('1A|B|C|D<CR><ETX>'), 'BF');
  assert.equal(
    checksumOf('5R|2|^^^1.0000+950+1.0|15|||^5^||V||34001637|20080516153540|20080516153602|34001637<CR><ETX>'),
    '3D',
  );
  assert.equal(checksumOf('1<ETX>'), '34');
});

test('the sum covers [start, end) only', () => {
  const bytes = unescapeWire('<STX>1A|B|C|D<CR><ETX>BF<CR><LF>');
  assert.equal(formatChecksum(frameChecksum(bytes, 1, 11)), 'BF');
});

test('raw latin-1 bytes are summed as unsigned bytes (Q5)', () => {
  const text = Buffer.concat([Buffer.from('1P|1||||M'), Buffer.of(0xfc), Buffer.from('ller\r'), Buffer.of(0x03)]);
  let expected = 0;
  for (const b of text) expected += b;
  assert.equal(frameChecksum(text, 0, text.length), expected % 256);
  assert.equal(formatChecksum(frameChecksum(text, 0, text.length)), (expected % 256).toString(16).toUpperCase().padStart(2, '0'));
});

test('formatChecksum writes two upper-case digits, MSB first', () => {
  assert.equal(formatChecksum(0), '00');
  assert.equal(formatChecksum(0x7a), '7A');
  assert.equal(formatChecksum(0xff), 'FF');
  assert.equal(formatChecksum(0x1ff), 'FF');
});

test('hexDigitValue accepts both cases and nothing else', () => {
  assert.equal(hexDigitValue(0x61), 10);
  assert.equal(hexDigitValue(0x41), 10);
  assert.equal(hexDigitValue(0x39), 9);
  assert.equal(hexDigitValue(0x67), -1);
  assert.equal(hexDigitValue(0x0d), -1);
});
