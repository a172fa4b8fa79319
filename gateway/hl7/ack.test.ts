import { strict as assert } from 'node:assert';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ackCodeFor, ackHeaderOf, applicationAckFollows, buildAck, fallbackAckHeader, HL7_ERROR, hl7Timestamp } from './ack.js';
import { parseHl7 } from './parser.js';

const fixtures = fileURLToPath(new URL('../../test/fixtures/hl7/', import.meta.url));
const NOW = Date.UTC(2024, 0, 5, 8, 30, 15);

test('every corpus message: the ACK mirrors its MSH and parses back', () => {
  for (const f of readdirSync(fixtures).filter((n) => n.endsWith('.hl7'))) {
    for (const m of parseHl7(readFileSync(fixtures + f)).messages) {
      const h = ackHeaderOf(m);
      assert.ok(h, f);
      const ack = buildAck(h, 'accepted', { controlId: 'ACK-1', now: NOW });
      assert.ok(ack, f);
      const a = parseHl7(ack.bytes).messages[0];
      assert.ok(a, f);
      const msh = a.header;
      const inMsh = m.header;
      assert.ok(msh && inMsh);
      assert.deepEqual(a.delimiters, m.delimiters, `${f}: same delimiters`);
      assert.equal(msh.raw(3), inMsh.raw(5), f);
      assert.equal(msh.raw(4), inMsh.raw(6), f);
      assert.equal(msh.raw(5), inMsh.raw(3), f);
      assert.equal(msh.raw(6), inMsh.raw(4), f);
      assert.equal(a.messageType, 'ACK');
      assert.equal(a.triggerEvent, m.triggerEvent, f);
      assert.equal(a.messageStructure, 'ACK');
      assert.equal(a.version, m.version, f);
      assert.equal(msh.value(7), '20240105083015+0000');
      assert.equal(a.controlId, 'ACK-1');
      assert.equal(a.segment('MSA')?.value(1), ackCodeFor(h, 'accepted'));
      assert.equal(a.segment('MSA')?.raw(2), inMsh.raw(10), f);
      assert.equal(a.segment('ERR'), undefined);
      assert.deepEqual(a.warnings.filter((w) => !w.startsWith('MSH-2: doubled')), [], f);
    }
  }
});

test('§3 #3: an ACK to `^~&` echoes `^~&`; to `^~\\&#` echoes the truncation character', () => {
  const m = parseHl7(Buffer.from('MSH|^~&|LAB|F|||20240101||ORU^R01|9|P|2.3\rOBX|1|ST|X||A&B\r')).messages[0];
  assert.ok(m);
  const ack = buildAck(ackHeaderOf(m) ?? fallbackAckHeader(), 'accepted', { controlId: 'A', now: NOW });
  assert.ok(ack?.text.startsWith('MSH|^~&|||LAB|F|'));
  const t = parseHl7(Buffer.from('MSH|^~\\&#|LAB|F|||20240101||ORU^R01|9|P|2.5.1\r')).messages[0];
  assert.ok(t);
  assert.ok(buildAck(ackHeaderOf(t) ?? fallbackAckHeader(), 'accepted', { controlId: 'A', now: NOW })?.text.startsWith('MSH|^~\\&#|'));
});

test('mode table: original, enhanced per MSH-15, application ACK fallback per MSH-16', () => {
  const h = (a: string, b: string) => ({ acceptAckType: a, applicationAckType: b });
  const outcomes = ['accepted', 'error', 'rejected'] as const;
  const row = (a: string, b: string) => outcomes.map((o) => ackCodeFor(h(a, b), o) ?? '-').join(' ');
  assert.equal(row('', ''), 'AA AE AR');
  assert.equal(row('AL', 'NE'), 'CA CE CR');
  assert.equal(row('AL', 'AL'), 'CA CE CR');
  assert.equal(row('ER', 'NE'), '- CE CR');
  assert.equal(row('SU', 'NE'), 'CA - CR');
  assert.equal(row('NE', 'AL'), 'AA AE AR');
  assert.equal(row('NE', 'ER'), '- AE AR');
  assert.equal(row('NE', 'NE'), '- - CR');
  assert.equal(row('', 'ER'), 'CA CE CR');
  assert.equal(row('XX', ''), 'CA CE CR');
  // §3 #17: the application ACK follows the commit ACK only when both are asked and the message was stored.
  const follows = (a: string, b: string) => outcomes.map((o) => (applicationAckFollows(h(a, b), o) ? 'AA' : '-')).join(' ');
  assert.equal(follows('AL', 'AL'), 'AA - -');
  assert.equal(follows('AL', 'SU'), 'AA - -');
  assert.equal(follows('', 'AL'), 'AA - -');
  for (const [a, b] of [['AL', 'ER'], ['AL', 'NE'], ['NE', 'AL'], ['ER', 'AL'], ['', ''], ['AL', '']]) assert.equal(follows(a ?? '', b ?? ''), '- - -', `${a}/${b}`);
});

test('ERR segment: v2.5+ layout with location and table 0357; the fallback header answers with MSA-2 empty', () => {
  const ack = buildAck(fallbackAckHeader(), 'rejected', { controlId: 'A', now: NOW, error: { condition: HL7_ERROR.requiredFieldMissing, segment: 'MSH', sequence: 1, field: 10 } });
  assert.ok(ack);
  assert.equal(ack.code, 'AR');
  assert.equal(ack.text, 'MSH|^~\\&|||||20240105083015+0000||ACK^^ACK|A|P|2.5.1\rMSA|AR|\rERR||MSH^1^10|101^Required field missing^HL70357|E\r');
  assert.equal(hl7Timestamp(0), '19700101000000+0000');
});

test('the ACK keeps MSH-18 and the message charset (Latin-1 sender names stay Latin-1)', () => {
  const raw = Buffer.concat([Buffer.from('MSH|^~\\&|ANALYZ', 'latin1'), Buffer.from([0xc9]), Buffer.from('R|F|||20240101||ORU^R01|9|P|2.5||||||8859/1\r', 'latin1')]);
  const m = parseHl7(raw).messages[0];
  assert.ok(m);
  const ack = buildAck(ackHeaderOf(m) ?? fallbackAckHeader(), 'accepted', { controlId: 'A', now: NOW });
  assert.ok(ack);
  assert.ok(ack.bytes.includes(Buffer.from([0x41, 0x4e, 0x41, 0x4c, 0x59, 0x5a, 0xc9])));
  const back = parseHl7(ack.bytes).messages[0];
  assert.equal(back?.header?.value(5), 'ANALYZÉR');
  assert.equal(back?.header?.value(18), '8859/1');
});
