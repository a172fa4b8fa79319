import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { isRestrictedTextByte } from './control-bytes.js';
import { encodeFrames } from './frame-encoder.js';
import { decodeText } from './text-decode.js';
import { encodeRecordText } from './text-encode.js';

test('each encoding carries what it can and folds the rest to a base letter or ?', () => {
  const name = 'P|1||||Łukasiewicz^Żaneta Müller Nguyễn 李';
  assert.equal(encodeRecordText(name, 'utf-8').toString('utf8'), name);
  assert.equal(encodeRecordText(name, 'latin1').toString('latin1'), 'P|1||||Lukasiewicz^Zaneta Müller Nguyen ?');
  assert.equal(encodeRecordText(name, 'auto').toString('latin1'), 'P|1||||Lukasiewicz^Zaneta Muller Nguyen ?');
  assert.equal(encodeRecordText('Straße Œuvre', 'auto').toString('latin1'), 'Strasse OEuvre');
  // Decomposed input (NFD from some upstream) is composed first, so Latin-1 keeps its ü.
  assert.equal(encodeRecordText('Mu\u0308ller', 'latin1').toString('latin1'), 'Müller');
});

test('control characters never reach the wire; CR, the record separator, stays', () => {
  assert.equal(encodeRecordText('A\x02B\x17C\nD\x7fE\x85F\rL|1', 'latin1').toString('latin1'), 'A B C D E F\rL|1');
});

test('property: any Unicode text becomes frame-safe bytes in every encoding, exact where the encoding allows', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'grapheme', maxLength: 60 }), fc.constantFrom('auto' as const, 'latin1' as const, 'utf-8' as const), (text, encoding) => {
      const bytes = encodeRecordText(text, encoding);
      for (const b of bytes) assert.ok(!isRestrictedTextByte(b), `byte ${b} is not allowed in frame text`);
      assert.doesNotThrow(() => encodeFrames([bytes]));
      const clean = text.normalize('NFC').replace(/[\x00-\x0c\x0e-\x1f\x7f-\x9f]/g, ' '); // eslint-disable-line no-control-regex -- the controls being replaced
      const limit = encoding === 'utf-8' ? 0x10ffff : encoding === 'latin1' ? 0xff : 0x7f;
      if ([...clean].every((c) => (c.codePointAt(0) ?? 0) <= limit && !/[\ud800-\udfff]/.test(c))) {
        assert.equal(decodeText(bytes, encoding === 'utf-8' ? 'utf-8' : 'latin1'), clean);
      }
    }),
    { numRuns: 500 },
  );
});
