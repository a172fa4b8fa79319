import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fixturePath, listFixtures, loadFramesBytes, loadRecordsText, unescapeWire } from '../../test/harness/astm-fixtures.js';
import { frame } from '../../test/harness/e1381-kit.js';
import { deframeCapture, hasE1381Framing } from './capture-deframe.js';

const H = 'H|\\^&|||test^1\r';
const L = 'L|1|N\r';

for (const name of listFixtures('.frames')) {
  test(`${name}: the capture deframes to the .astm records`, () => {
    const result = deframeCapture(loadFramesBytes(name));
    assert.equal(result.framed, true);
    assert.equal(result.incomplete, 0);
    const expected = loadRecordsText(name.replace(/\.frames$/, '.astm'));
    assert.deepEqual(Buffer.concat(result.messages), expected);
  });
}

test('raw records (no E1381 framing) come back as one message, unchanged', () => {
  for (const name of ['tgenaux-ortho-vision.astm', 'goastm-euroimmun-analyzer1.astm']) {
    const bytes = readFileSync(fixturePath(name));
    assert.deepEqual(deframeCapture(bytes), { messages: [bytes], framed: false, incomplete: 0 });
  }
});

test('non-ASTM STX/ETX payloads without checksums are not taken for E1381 (Q9)', () => {
  for (const name of ['senaite-arkray-spotchem-el-raw.astm', 'senaite-biomerieux-minividas-raw.astm']) {
    const bytes = unescapeWire(readFileSync(fixturePath(name), 'latin1').trim());
    assert.equal(hasE1381Framing(bytes), false, name);
    assert.equal(deframeCapture(bytes).framed, false);
  }
});

test('retransmitted and NAKed frames in a capture produce each message once', () => {
  const f1 = frame(1, H);
  const f2 = frame(2, 'R|1|^^^GLU|5.5\r' + L);
  const corrupt = Buffer.from(f2);
  corrupt[5] = 0x58; // same length, wrong checksum now
  const capture = Buffer.concat([
    Buffer.from('\x05\x06'), f1, Buffer.from('\x06'), corrupt, Buffer.from('\x15'), f2, Buffer.from('\x06'), f2, Buffer.from('\x06\x04'),
    Buffer.from('\x05\x06'), frame(1, H + L), Buffer.from('\x06'), frame(1, H + L), Buffer.from('\x06\x04'),
  ]);
  const result = deframeCapture(capture);
  assert.deepEqual(result.messages.map((m) => m.toString('latin1')), [H + 'R|1|^^^GLU|5.5\r' + L, H + L]);
});

test('a capture cut off before the terminator keeps the records it has, marked incomplete', () => {
  const result = deframeCapture(Buffer.concat([Buffer.from('\x05'), frame(1, H), frame(2, 'P|1\r'), frame(3, 'O|1')]));
  assert.equal(result.incomplete, 1);
  assert.deepEqual(result.messages.map((m) => m.toString('latin1')), [H + 'P|1\rO|1']);
});
