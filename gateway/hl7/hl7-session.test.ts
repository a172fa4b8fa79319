import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { FakeClock } from '../core/clock.js';
import { Hl7Session, type CommitResult, type SessionEvent } from './hl7-session.js';
import type { IntakeItem } from './intake.js';
import { MllpFramer, mllpFrame } from './mllp-framer.js';
import { parseHl7 } from './parser.js';

const msg = (id: string, extra = ''): string => `MSH|^~\\&|ANALYZER|LAB|LIS|HOSP|20240101120000||ORU^R01^ORU_R01|${id}|P|2.5.1${extra}\rPID|1||X\rOBX|1|NM|GLU||5.5|mmol/L\r`;

function setup(commit: (item: IntakeItem) => Promise<CommitResult>, options: { framing?: 'mllp' | 'none'; release2?: boolean; maxFrameBytes?: number; crOnly?: boolean } = {}) {
  const clock = new FakeClock();
  const written: Buffer[] = [];
  const events: SessionEvent[] = [];
  let n = 0;
  const session = new Hl7Session({ clock, ...options, write: (b) => written.push(b), commit, ackControlId: () => `ACK${++n}`, onEvent: (e) => events.push(e) });
  const acks = () => {
    const out: string[] = [];
    const f = new MllpFramer(clock, { emit: (e) => { if (e.type === 'frame') out.push(e.payload.toString('latin1')); } });
    if (options.framing === 'none') return written.map((b) => b.toString('latin1'));
    for (const w of written) f.consume(w);
    return out;
  };
  const msa = () => acks().map((a) => parseHl7(Buffer.from(a, 'latin1')).messages[0]?.segment('MSA')?.raw(1) + ':' + parseHl7(Buffer.from(a, 'latin1')).messages[0]?.segment('MSA')?.raw(2));
  return { clock, written, events, session, acks, msa };
}

const ok = (): Promise<CommitResult> => Promise.resolve({ ok: true, id: 'i-1', duplicate: false });

test('AA only after the commit resolves; ACK mirrors the inbound MSH', async () => {
  let release: (r: CommitResult) => void = () => {};
  const h = setup(() => new Promise((r) => { release = r; }));
  h.session.consume(mllpFrame(msg('M1')));
  await new Promise((r) => setImmediate(r));
  assert.equal(h.written.length, 0, 'nothing written before the commit');
  release({ ok: true, id: 'i-1', duplicate: false });
  await h.session.drained();
  const [ack] = h.acks();
  assert.ok(ack);
  const m = parseHl7(Buffer.from(ack, 'latin1')).messages[0];
  assert.ok(m);
  assert.equal(m.header?.raw(3), 'LIS');
  assert.equal(m.header?.raw(4), 'HOSP');
  assert.equal(m.header?.raw(5), 'ANALYZER');
  assert.equal(m.header?.raw(6), 'LAB');
  assert.equal(m.header?.raw(9), 'ACK^R01^ACK');
  assert.equal(m.header?.raw(10), 'ACK1');
  assert.equal(m.version, '2.5.1');
  assert.equal(m.segment('MSA')?.raw(1), 'AA');
  assert.equal(m.segment('MSA')?.raw(2), 'M1');
  assert.equal(m.segment('ERR'), undefined);
});

test('AE with ERR 207 when the store cannot commit; AR with ERR for an unacceptable message', async () => {
  const h = setup(async (item) => (item.message?.controlId === 'BAD' ? { ok: false, reason: 'disk full' } : { ok: true, id: 'i-2', duplicate: false }));
  h.session.consume(Buffer.concat([mllpFrame(msg('BAD')), mllpFrame('MSH|^~\\&|A|B|C|D|20240101||^R01|NOTYPE|P|2.5.1\r')]));
  await h.session.drained();
  const acks = h.acks().map((a) => parseHl7(Buffer.from(a, 'latin1')).messages[0]);
  assert.equal(acks[0]?.segment('MSA')?.raw(1), 'AE');
  assert.equal(acks[0]?.segment('ERR')?.raw(3), '207^Application internal error^HL70357');
  assert.equal(acks[1]?.segment('MSA')?.raw(1), 'AR');
  assert.equal(acks[1]?.segment('MSA')?.raw(2), 'NOTYPE');
  assert.equal(acks[1]?.segment('ERR')?.raw(2), 'MSH^1^9');
  assert.equal(acks[1]?.segment('ERR')?.raw(3), '101^Required field missing^HL70357');
});

test('never silent: a frame that is not HL7 gets AR with an empty MSA-2; pre-2.5 ERR layout', async () => {
  const h = setup(ok);
  h.session.consume(mllpFrame('hello, not hl7'));
  h.session.consume(mllpFrame('MSH|^~\\&|A|B|C|D|20240101||ORU^R01||P|2.3\r'));
  await h.session.drained();
  assert.deepEqual(h.msa(), ['AR:', 'AR:']);
  const old = parseHl7(Buffer.from(h.acks()[1] ?? '', 'latin1')).messages[0];
  assert.equal(old?.segment('ERR')?.raw(1), 'MSH^1^10^101&Required field missing&HL70357');
  assert.equal(old?.segment('MSA')?.raw(3), 'Required field missing');
});

test('enhanced mode: CA/CE/CR per MSH-15; MSH-15 NE + MSH-16 AL gives AA', async () => {
  const h = setup(async (item) => (item.message?.controlId.startsWith('E') ? { ok: false, reason: 'x' } : { ok: true, id: 'i', duplicate: false }));
  h.session.consume(Buffer.concat([
    mllpFrame(msg('C1', '|||AL|NE')),
    mllpFrame(msg('E1', '|||AL|NE')),
    mllpFrame(msg('S1', '|||ER|NE')), // success, ER: no commit ACK, no app ACK
    mllpFrame(msg('N1', '|||NE|AL')),
    mllpFrame('MSH|^~\\&|A|B|C|D|20240101||^R01|R1|P|2.5.1|||NE|NE\r'), // rejected: always answered
  ]));
  await h.session.drained();
  assert.deepEqual(h.msa(), ['CA:C1', 'CE:E1', 'AA:N1', 'CR:R1']);
  assert.ok(h.events.some((e) => e.kind === 'ack' && e.code === 'none'));
});

test('acks keep arrival order even when commits finish out of order', async () => {
  const h = setup(async (item) => {
    await new Promise((r) => setTimeout(r, item.message?.controlId === 'A' ? 20 : 1));
    return { ok: true, id: 'i', duplicate: false };
  });
  h.session.consume(Buffer.concat([mllpFrame(msg('A')), mllpFrame(msg('B'))]));
  await h.session.drained();
  assert.deepEqual(h.msa(), ['AA:A', 'AA:B']);
});

test('a batch is split: each message committed and acknowledged', async () => {
  const seen: string[] = [];
  const h = setup(async (item) => {
    seen.push(item.raw.toString('latin1'));
    return { ok: true, id: 'i', duplicate: false };
  });
  h.session.consume(mllpFrame(`BHS|^~\\&|A\r${msg('B1')}${msg('B2')}BTS|2\r`));
  await h.session.drained();
  assert.deepEqual(h.msa(), ['AA:B1', 'AA:B2']);
  assert.equal(seen[0], msg('B1'));
});

test('oversize frame: rejected by its MSH-10, never committed', async () => {
  let commits = 0;
  const h = setup(async () => { commits++; return { ok: true, id: 'i', duplicate: false }; }, { maxFrameBytes: 200 });
  h.session.consume(mllpFrame(msg('BIG') + `NTE|1||${'x'.repeat(500)}\r`));
  h.session.consume(mllpFrame(msg('SMALL')));
  await h.session.drained();
  assert.deepEqual(h.msa(), ['AR:BIG', 'AA:SMALL']);
  assert.equal(commits, 1);
});

test('partial frame at close is never acknowledged or committed', async () => {
  let commits = 0;
  const h = setup(async () => { commits++; return { ok: true, id: 'i', duplicate: false }; });
  h.session.consume(mllpFrame(msg('P')).subarray(0, 40));
  await h.session.close();
  assert.equal(commits, 0);
  assert.equal(h.written.length, 0);
});

test('MLLP release 2: commit block after the commit, NAK block when it fails', async () => {
  const h = setup(async (item) => (item.message?.controlId === 'F' ? { ok: false, reason: 'x' } : { ok: true, id: 'i', duplicate: false }), { release2: true });
  h.session.consume(Buffer.concat([mllpFrame(msg('K')), mllpFrame(msg('F'))]));
  await h.session.drained();
  assert.deepEqual(h.written.map((b) => b.toString('hex')), ['0b061c0d', '0b151c0d']);
});

test('unframed serial: messages split by blank line, next MSH and idle time; ACK unframed', async () => {
  const h = setup(ok, { framing: 'none' });
  h.session.consume(Buffer.from(`\r\n${msg('S1')}\r${msg('S2')}${msg('S3')}`));
  h.clock.advance(1000);
  await h.session.drained();
  await new Promise((r) => setImmediate(r));
  await h.session.drained();
  assert.deepEqual(h.msa(), ['AA:S1', 'AA:S2', 'AA:S3']);
  assert.ok(h.acks()[0]?.startsWith('MSH|^~\\&|LIS|HOSP|ANALYZER|LAB|'));
});

test('§3 #1 strict mode (profile crOnly): a LF-terminated message is stored for quarantine and rejected with ERR 100', async () => {
  const lf = (id: string, extra = ''): string => msg(id, extra).replaceAll('\r', '\n');
  const committed: IntakeItem[] = [];
  const strict = setup((item) => {
    committed.push(item);
    return ok();
  }, { crOnly: true });
  strict.session.consume(mllpFrame(lf('LF1')));
  strict.session.consume(mllpFrame(msg('LF1').replace(/\r/g, '\r\n')));
  strict.session.consume(mllpFrame(lf('LF2', '|||AL|NE')));
  strict.session.consume(mllpFrame(msg('CR1')));
  await strict.session.drained();
  assert.deepEqual(strict.msa(), ['AR:LF1', 'AA:LF1', 'CR:LF2', 'AA:CR1'], 'CRLF has a CR: only a message without CR is refused');
  const err = parseHl7(Buffer.from(strict.acks()[0] ?? '', 'latin1')).messages[0]?.segment('ERR');
  assert.equal(err?.value(2, 1), 'MSH');
  assert.equal(err?.value(3, 1), '100');
  assert.deepEqual(committed.map((i) => i.rejection?.condition.code), ['100', undefined, '100', undefined], 'rejected messages are still committed (quarantine)');
  // Default: the LF fallback reads the same message and accepts it.
  const lenient = setup(ok);
  lenient.session.consume(mllpFrame(lf('LF1')));
  await lenient.session.drained();
  assert.deepEqual(lenient.msa(), ['AA:LF1']);
});

test('§3 #17 enhanced mode asking for both (AL/AL): CA then AA after the commit; CE alone when it fails; never AA first', async () => {
  let fail = false;
  const h = setup(() => Promise.resolve(fail ? { ok: false, reason: 'disk' } : { ok: true, id: 'i-1', duplicate: false }));
  h.session.consume(mllpFrame(msg('E1', '|||AL|AL')));
  await h.session.drained();
  fail = true;
  h.session.consume(mllpFrame(msg('E2', '|||AL|AL')));
  h.session.consume(mllpFrame(msg('E3', '|||AL|ER')));
  await h.session.drained();
  assert.deepEqual(h.msa(), ['CA:E1', 'AA:E1', 'CE:E2', 'CE:E3']);
  const acks = h.acks().map((a) => parseHl7(Buffer.from(a, 'latin1')).messages[0]?.controlId);
  assert.equal(new Set(acks).size, acks.length, 'each ACK has its own control id');
  assert.deepEqual(h.events.filter((e) => e.kind === 'ack').map((e) => (e.kind === 'ack' ? `${e.code}${e.applicationCode ? `+${e.applicationCode}` : ''}` : '')), ['CA+AA', 'CE', 'CE']);
});
