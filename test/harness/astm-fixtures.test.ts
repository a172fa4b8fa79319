import { test } from 'node:test';
import assert from 'node:assert/strict';
import { escapeWire, listFixtures, loadChunks, loadFramesBytes, loadRecordsText, unescapeWire } from './astm-fixtures.js';

test('unescapeWire maps exactly the README token names', () => {
  assert.deepEqual(
    [...unescapeWire('<STX><ETX><EOT><ENQ><ACK><NAK><ETB><LF><CR><RS><GS><FS><VT><0x7f><0xE9>')],
    [0x02, 0x03, 0x04, 0x05, 0x06, 0x15, 0x17, 0x0a, 0x0d, 0x1e, 0x1d, 0x1c, 0x0b, 0x7f, 0xe9],
  );
});

test('a literal < that is not a token stays (result value <3.00)', () => {
  assert.equal(unescapeWire('R|6|<3.00|<STX|<stx>|<0xZZ>|<CRX>').toString('latin1'), 'R|6|<3.00|<STX|<stx>|<0xZZ>|<CRX>');
});

test('escapeWire inverts unescapeWire', () => {
  const s = '<STX>1H|\\^&<CR><ETX>A5<CR><LF><0x01>';
  assert.equal(escapeWire(unescapeWire(s)), s);
});

test('.frames: file line endings are layout, not data', () => {
  const bytes = loadFramesBytes('rubyastm-roche-cobas-e411-fragmented-reads.frames');
  assert.equal(bytes[0], 0x05);
  assert.equal(bytes.at(-1), 0x04);
  assert.equal(bytes.includes(0x0a), true); // escaped <LF> tokens are data
  assert.equal(bytes.indexOf(Buffer.from('\x04')), bytes.length - 1);
});

test('.chunks: one buffer per recorded read; the Stago chunks concatenate to the .frames stream', () => {
  const chunks = loadChunks('rubyastm-stago-sta-satellite-max.chunks');
  assert.equal(chunks.length, 33);
  assert.deepEqual(Buffer.concat(chunks), loadFramesBytes('rubyastm-stago-sta-satellite-max.frames'));
  const e411 = loadChunks('rubyastm-roche-cobas-e411-fragmented-reads.chunks');
  assert.equal(e411.length, 107);
  assert.ok(e411.every((c) => c.length >= 1 && c.length <= 8));
});

test('.astm: records joined by CR, last CR included', () => {
  const text = loadRecordsText('rubyastm-roche-cobas-e411-hostquery.astm').toString('latin1');
  assert.ok(text.startsWith('H|\\^&|||cobas-e411'));
  assert.ok(text.endsWith('\rL|1|N\r'));
  assert.equal(text.includes('\n'), false);
});

test('every fixture kind is present', () => {
  assert.ok(listFixtures('.frames').length >= 17);
  assert.equal(listFixtures('.chunks').length, 3);
});
