import { strict as assert } from 'node:assert';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseHl7 } from './parser.js';

const fixtures = fileURLToPath(new URL('../../test/fixtures/hl7/', import.meta.url));
const bytes = (s: string, enc: BufferEncoding = 'utf8'): Buffer => Buffer.from(s, enc);
const one = (s: string | Buffer) => {
  const r = parseHl7(typeof s === 'string' ? bytes(s) : s);
  assert.equal(r.messages.length, 1, JSON.stringify(r.warnings));
  const m = r.messages[0];
  assert.ok(m);
  return m;
};

test('every corpus file parses; the hapi multi-message file splits into 13', () => {
  for (const f of readdirSync(fixtures).filter((n) => n.endsWith('.hl7'))) {
    const r = parseHl7(readFileSync(fixtures + f));
    assert.ok(r.messages.length >= 1, f);
    for (const m of r.messages) {
      assert.equal(m.segments[0]?.name, 'MSH', f);
      assert.ok(m.messageType.length === 3, f);
      for (const s of m.segments) assert.match(s.name, /^[A-Z][A-Z0-9]{2}$/, `${f} segment ${s.index}`);
    }
    if (f.startsWith('hapi-multi')) assert.equal(r.messages.length, 13);
    else assert.equal(r.messages.length, 1, f);
  }
});

test('corpus: BOM stripped, OBX counts, delimiters and repeating OBX-5', () => {
  const cbc = one(readFileSync(fixtures + 'fhirconverter-ORU_R01-nist-lri-cbc.hl7'));
  assert.equal(cbc.segmentsNamed('OBX').length, 28);
  assert.equal(cbc.segments[0]?.name, 'MSH');
  const oul = one(readFileSync(fixtures + 'fhirconverter-OUL_R22-01.hl7'));
  assert.equal(oul.declaredCharset, 'UNICODE UTF-8');
  assert.equal(oul.charset, 'utf-8');
  const rep = oul.segmentsNamed('OBX').find((s) => s.repetitionCount(5) === 2);
  assert.ok(rep, 'a repeating OBX-5');
  assert.equal(rep.value(5, 1, 1, 1), '60');
  assert.equal(rep.value(5, 1, 1, 2), '120');
  const ig = one(readFileSync(fixtures + 'hl7v2tofhir-ORU_R01.hl7'));
  assert.equal(ig.delimiters.truncation, '#');
  assert.equal(ig.delimiters.escape, '\\');
  const urit = one(readFileSync(fixtures + 'urit5160-ORU_R01-hematology.hl7'));
  assert.equal(urit.declaredCharset, 'UNICODE');
  assert.equal(urit.segments[1]?.name, 'PV1');
});

test('MSH numbering: MSH-1 is the separator, MSH-2 verbatim, MSH-9 the type', () => {
  const m = one('MSH|^~\\&|LAB|FAC|LIS|HOSP|20240101120000||ORU^R01^ORU_R01|MSG1|P|2.5.1\rPID|1||123^^^H^MR\r');
  const msh = m.header;
  assert.ok(msh);
  assert.equal(msh.value(1), '|');
  assert.equal(msh.value(2), '^~\\&');
  assert.equal(msh.value(3), 'LAB');
  assert.equal(msh.value(9, 2), 'R01');
  assert.equal(m.messageStructure, 'ORU_R01');
  assert.equal(m.controlId, 'MSG1');
  assert.equal(m.version, '2.5.1');
  assert.equal(msh.fieldCount, 12);
  const pid = m.segment('PID');
  assert.equal(pid?.value(3, 4), 'H');
  assert.equal(pid?.value(3, 5), 'MR');
  assert.deepEqual(pid?.components(3), ['123', '', '', 'H', 'MR']);
  assert.equal(pid?.value(99), '');
  assert.equal(pid?.has(2), false);
  assert.equal(pid?.position(3, 1), 'PID-3.1');
});

test('§3 #1: LF and CRLF terminators are recognised when the input has no CR', () => {
  const lf = parseHl7(bytes('MSH|^~\\&|A|B|C|D|20240101120000||ORU^R01|1|P|2.5\nPID|1||123\nOBX|1|NM|GLU||5.5|mmol/L'));
  assert.equal(lf.messages[0]?.segments.length, 3);
  assert.ok(lf.warnings.some((w) => w.includes('LF')));
  const crlf = one('MSH|^~\\&|A|B|C|D|20240101120000||ORU^R01|1|P|2.5\r\nPID|1||123\r\nOBX|1|NM|GLU||5.5|mmol/L\r\n');
  assert.deepEqual(crlf.segments.map((s) => s.name), ['MSH', 'PID', 'OBX']);
  assert.equal(crlf.segment('OBX')?.value(6), 'mmol/L');
});

test('§3 #2: LF inside a field of a CR-terminated message is data', () => {
  const m = one('MSH|^~\\&|A|B|C|D|20240101||ORU^R01|1|P|2.5\rNTE|1||line one\nline two\r');
  assert.equal(m.segments.length, 2);
  assert.equal(m.segment('NTE')?.value(3), 'line one\nline two');
});

test('§3 #3: MSH-2 with 3 characters, doubled escape, 5 characters', () => {
  const m = one('MSH|^~&|LAB|F|||20240101||ORU^R01|9|P|2.3\rOBX|1|ST|X||A&B\\F\\');
  assert.equal(m.delimiters.escape, '');
  assert.equal(m.delimiters.subcomponent, '&');
  assert.equal(m.segment('OBX')?.value(5, 1, 2), 'B\\F\\');
  const d = one('MSH|^~\\\\&|A|B|||20240101||ADT^A01|1|P|2.6\rPID|1||X&Y\r');
  assert.equal(d.delimiters.subcomponent, '&');
  assert.equal(d.segment('PID')?.value(3, 1, 2), 'Y');
  const five = one('MSH|^~\\&#|A|B|||20240101||ORU^R01|1|P|2.5.1\rNTE|1||a\\P\\b#\r');
  assert.equal(five.delimiters.truncation, '#');
  assert.equal(five.segment('NTE')?.value(3), 'a#b#');
  const odd = one('MSH#$%@*#A#B###20240101##ORU$R01#7#P#2.5\rOBX#1#CE#X##a$b*c@d%e\r');
  assert.equal(odd.controlId, '7');
  assert.equal(odd.triggerEvent, 'R01');
  assert.equal(odd.segment('OBX')?.value(5, 2, 1, 1), 'b');
  assert.equal(odd.segment('OBX')?.value(5, 2, 2, 1), 'c@d');
  assert.equal(odd.segment('OBX')?.value(5, 1, 1, 2), 'e');
});

test('§3 #5: escapes decoded left to right; unknown and unterminated kept literally', () => {
  const m = one(
    'MSH|^~\\&|A|B|||20240101||ORU^R01|1|P|2.5\r' +
      'OBX|1|TX|X||\\E\\R\\~a\\F\\b\\S\\c\\T\\d\\R\\e~\\X0D\\\\X0A\\~x\\.br\\y\\H\\bold\\N\\~BSV 4\\5~\\Zfoo\\z~end\\E\\\r',
  );
  const obx = m.segment('OBX');
  assert.ok(obx);
  assert.equal(obx.repetitionCount(5), 7);
  assert.equal(obx.value(5, 1, 1, 1), '\\R\\');
  assert.equal(obx.value(5, 1, 1, 2), 'a|b^c&d~e');
  assert.equal(obx.value(5, 1, 1, 3), '\r\n');
  assert.equal(obx.value(5, 1, 1, 4), 'x\nybold');
  assert.equal(obx.value(5, 1, 1, 5), 'BSV 4\\5');
  assert.equal(obx.value(5, 1, 1, 6), '\\Zfoo\\z');
  assert.equal(obx.value(5, 1, 1, 7), 'end\\');
  assert.ok(m.warnings.some((w) => w.startsWith('OBX-5.1.1: unterminated')));
  assert.ok(m.warnings.every((w) => !w.includes('BSV')));
});

test('§3 #16: MSH-18 8859/1 decodes Latin-1; invalid UTF-8 is replaced and warned', () => {
  const latin = Buffer.concat([
    bytes('MSH|^~\\&|A|B|||20240101||ORU^R01|1|P|2.5||||||8859/1\rPID|1||1||M'),
    Buffer.from([0xc9]),
    bytes('TRANGE^ZO\\XE9\\\r'),
  ]);
  const m = one(latin);
  assert.equal(m.charset, 'latin1');
  assert.equal(m.segment('PID')?.value(5, 1), 'MÉTRANGE');
  assert.equal(m.segment('PID')?.value(5, 2), 'ZOé');
  const bad = Buffer.concat([bytes('MSH|^~\\&|A|B|||20240101||ORU^R01|1|P|2.5||||||UNICODE UTF-8\rPID|1||1||M'), Buffer.from([0xc9, 0x41]), bytes('\r')]);
  const b = one(bad);
  assert.equal(b.segment('PID')?.value(5), 'M\uFFFDA');
  assert.ok(b.warnings.some((w) => w.includes('U+FFFD')));
  const auto = one(Buffer.concat([bytes('MSH|^~\\&|A|B|||20240101||ORU^R01|1|P|2.5\rPID|1||1||M'), Buffer.from([0xfc]), bytes('ller\r')]));
  assert.equal(auto.segment('PID')?.value(5), 'Müller');
  const utf = one('MSH|^~\\&|A|B|||20240101||ORU^R01|1|P|2.5||||||UNICODE\rPID|1||1||\\XC381\\lvarez\r');
  assert.equal(utf.segment('PID')?.value(5), 'Álvarez');
  const over = parseHl7(bytes('MSH|^~\\&|A|B|||20240101||ORU^R01|1|P|2.5||||||UNICODE UTF-8\rPID|1||1||Ã\r'), { charset: '8859/1' });
  assert.equal(over.messages[0]?.segment('PID')?.value(5), 'Ã\u0083');
});

test('batches: FHS/BHS/BTS/FTS envelopes split into messages', () => {
  const r = parseHl7(
    bytes(
      'FHS|^~\\&|A|B\rBHS|^~\\&|A|B\rMSH|^~\\&|A|B|||20240101||ORU^R01|1|P|2.5\rOBX|1|NM|X||1\r' +
        'MSH|^~\\&|A|B|||20240101||ORU^R01|2|P|2.5\rOBX|1|NM|X||2\rBTS|2\rFTS|1\r',
    ),
  );
  assert.deepEqual(r.messages.map((m) => m.controlId), ['1', '2']);
  assert.deepEqual(r.messages.map((m) => m.segments.length), [2, 2]);
  assert.ok(r.warnings.some((w) => w.includes('batch')));
  assert.equal(r.messages[1]?.raw.toString('latin1'), 'MSH|^~\\&|A|B|||20240101||ORU^R01|2|P|2.5\rOBX|1|NM|X||2\r');
});

test('never throws on junk; reports no MSH; strips stray MLLP bytes', () => {
  assert.deepEqual(parseHl7(new Uint8Array()).messages, []);
  assert.ok(parseHl7(bytes('hello\rworld')).warnings.some((w) => w.includes('no MSH')));
  const m = one('\x0bMSH|^~\\&|A|B|||20240101||ORU^R01|1|P|2.5\rOBX|1|NM|X||1\r\x1c\r');
  assert.equal(m.segments.length, 2);
  const noSep = one('MSH');
  assert.equal(noSep.controlId, '');
});
