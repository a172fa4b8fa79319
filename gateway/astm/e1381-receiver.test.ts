import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ENQ_BYTE, EOT_BYTE, feedBytewise, frame, receiverRig } from '../../test/harness/e1381-kit.js';
import { LabedgeError } from '../core/errors.js';
import { FakeClock } from '../core/clock.js';
import { E1381Receiver } from './e1381-receiver.js';

const H = 'H|\\^&|||test^1\r';
const L = 'L|1|N\r';
const text = (m: { text: Buffer }) => m.text.toString('latin1');

test('ENQ is answered with ACK and starts a session', () => {
  const rig = receiverRig();
  assert.equal(rig.receiver.state, 'neutral');
  rig.receiver.consume(ENQ_BYTE);
  assert.equal(rig.takeReplies(), '<ACK>');
  assert.equal(rig.receiver.state, 'receiving');
  assert.deepEqual(rig.events[0], { kind: 'session-start', implicit: false });
});

test('Q12: ENQ then EOT emits no message and goes back to neutral', () => {
  const rig = receiverRig();
  rig.receiver.consume(Buffer.concat([ENQ_BYTE, EOT_BYTE]));
  assert.equal(rig.takeReplies(), '<ACK>');
  assert.equal(rig.messages.length, 0);
  assert.equal(rig.receiver.state, 'neutral');
  assert.deepEqual(rig.eventKinds(), ['session-start', 'session-end']);
});

test('the final frame is ACKed only after settle(true); the session may carry more messages', () => {
  const rig = receiverRig();
  rig.receiver.consume(ENQ_BYTE);
  rig.takeReplies();
  rig.receiver.consume(frame(1, H + 'P|1\r' + L));
  assert.equal(rig.takeReplies(), '', 'ACK withheld until settle');
  assert.equal(rig.receiver.state, 'settling');
  assert.equal(rig.messages.length, 1);
  assert.deepEqual({ text: text(rig.messages[0]!), frames: rig.messages[0]!.frames, complete: rig.messages[0]!.complete }, {
    text: H + 'P|1\r' + L,
    frames: 1,
    complete: true,
  });
  rig.messages[0]!.settle(true);
  assert.equal(rig.takeReplies(), '<ACK>');
  rig.messages[0]!.settle(true); // a second settle is ignored
  assert.equal(rig.takeReplies(), '');

  rig.receiver.consume(frame(2, H));
  rig.receiver.consume(frame(3, L));
  assert.equal(rig.takeReplies(), '<ACK>');
  assert.equal(rig.messages.length, 2);
  assert.equal(text(rig.messages[1]!), H + L, 'the second message does not repeat the first');
  rig.messages[1]!.settle(true);
  rig.receiver.consume(EOT_BYTE);
  assert.equal(rig.takeReplies(), '<ACK>');
  assert.equal(rig.receiver.state, 'neutral');
  assert.equal(rig.messages.length, 2);
});

test('settle(false) NAKs; the retransmitted final frame delivers the whole message again', () => {
  const rig = receiverRig();
  const f1 = frame(1, H);
  const f2 = frame(2, 'R|1|^^^GLU|5.5\r' + L);
  rig.receiver.consume(Buffer.concat([ENQ_BYTE, f1, f2]));
  assert.equal(rig.takeReplies(), '<ACK><ACK>');
  rig.messages[0]!.settle(false);
  assert.equal(rig.takeReplies(), '<NAK>');
  rig.receiver.consume(f2);
  assert.equal(rig.messages.length, 2);
  assert.equal(text(rig.messages[1]!), text(rig.messages[0]!));
  assert.equal(rig.messages[1]!.frames, 2);
  rig.messages[1]!.settle(true);
  assert.equal(rig.takeReplies(), '<ACK>');
});

test('a retransmitted final frame after settle(true) is ACKed again and not delivered twice', () => {
  const rig = receiverRig({ autoSettle: true });
  const f1 = frame(1, H + L);
  rig.receiver.consume(Buffer.concat([ENQ_BYTE, f1, f1]));
  assert.equal(rig.takeReplies(), '<ACK><ACK><ACK>');
  assert.equal(rig.messages.length, 1);
  assert.ok(rig.eventKinds().includes('duplicate-frame'));
});

test('bytes arriving while a settle is pending are processed after it', () => {
  const rig = receiverRig();
  rig.receiver.consume(Buffer.concat([ENQ_BYTE, frame(1, H + L), EOT_BYTE, ENQ_BYTE]));
  assert.equal(rig.takeReplies(), '<ACK>');
  assert.equal(rig.receiver.state, 'settling');
  rig.messages[0]!.settle(true);
  assert.equal(rig.takeReplies(), '<ACK><ACK>', 'final frame ACK, then the ACK for the next ENQ');
  assert.deepEqual(rig.eventKinds(), ['session-start', 'session-end', 'session-start']);
});

test('settle may be called synchronously from onMessage', () => {
  const written: number[] = [];
  const texts: string[] = [];
  const r = new E1381Receiver({
    clock: new FakeClock(),
    write: (b) => written.push(...b),
    onMessage: (m, settle) => {
      texts.push(m.text.toString('latin1'));
      settle(true);
    },
  });
  r.consume(Buffer.concat([ENQ_BYTE, frame(1, H + L), frame(2, H + L), EOT_BYTE]));
  assert.deepEqual(texts, [H + L, H + L]);
  assert.deepEqual(written, [6, 6, 6]);
  assert.equal(r.state, 'neutral');
});

test('Q1: ETB in the middle of a field, several records per frame', () => {
  const rig = receiverRig({ autoSettle: true });
  rig.receiver.consume(ENQ_BYTE);
  rig.receiver.consume(frame(1, H + 'P|1\rO|1|S1\rR|1|^^^8/1/not|1.95\rR|2|^^^7/1/no', { end: 'ETB' }));
  rig.receiver.consume(frame(2, 't|9.61|ug/dl\rL|1', { end: 'ETB' }));
  rig.receiver.consume(frame(3, '|N\r'));
  assert.equal(rig.takeReplies(), '<ACK><ACK><ACK><ACK>');
  assert.equal(rig.messages.length, 1);
  assert.equal(text(rig.messages[0]!), H + 'P|1\rO|1|S1\rR|1|^^^8/1/not|1.95\rR|2|^^^7/1/not|9.61|ug/dl\rL|1|N\r');
  assert.equal(rig.messages[0]!.frames, 3);
});

test('Q2: ETB at every record boundary, ETX only on the terminator', () => {
  const rig = receiverRig({ autoSettle: true });
  const records = [H, 'P|1||\r', 'O|1||T20\r', 'R|1|^^^413|40.13\r', 'C|1|I||I\r'];
  rig.receiver.consume(ENQ_BYTE);
  records.forEach((r, i) => rig.receiver.consume(frame(i + 1, r, { end: 'ETB' })));
  rig.receiver.consume(frame(6, L));
  assert.equal(rig.messages.length, 1);
  assert.equal(text(rig.messages[0]!), records.join('') + L);
});

test('one record per ETX frame: ACKed at once, delivered when the terminator arrives', () => {
  const rig = receiverRig();
  rig.receiver.consume(ENQ_BYTE);
  rig.receiver.consume(frame(1, H));
  rig.receiver.consume(frame(2, 'P|1\r'));
  assert.equal(rig.takeReplies(), '<ACK><ACK><ACK>');
  assert.equal(rig.messages.length, 0);
  rig.receiver.consume(frame(3, L));
  assert.equal(rig.messages.length, 1);
  assert.equal(rig.takeReplies(), '');
});

test('Q4: a bad checksum on an intermediate (ETB) frame is NAKed', () => {
  const rig = receiverRig({ autoSettle: true });
  rig.receiver.consume(ENQ_BYTE);
  rig.takeReplies();
  rig.receiver.consume(Buffer.from('\x021abc\x1700\r\n', 'latin1'));
  assert.equal(rig.takeReplies(), '<NAK>');
  assert.deepEqual(rig.events.at(-1), { kind: 'frame-rejected', reason: 'checksum', frameNumber: 1 });
  rig.receiver.consume(frame(1, H, { end: 'ETB' }));
  rig.receiver.consume(frame(2, L));
  assert.equal(rig.takeReplies(), '<ACK><ACK>');
  assert.equal(text(rig.messages[0]!), H + L, 'the rejected text is not part of the message');
});

test('Q5: a lower-case checksum is accepted', () => {
  const rig = receiverRig({ autoSettle: true });
  const upper = frame(1, 'H|\\^&\r' + L); // checksum has letters
  const cs = upper.subarray(upper.length - 4, upper.length - 2).toString('latin1');
  assert.match(cs, /[A-F]/);
  rig.receiver.consume(ENQ_BYTE);
  rig.receiver.consume(frame(1, 'H|\\^&\r' + L, { checksum: cs.toLowerCase() }));
  assert.equal(rig.takeReplies(), '<ACK><ACK>');
  assert.equal(rig.messages.length, 1);
});

test('Q5: latin-1 bytes are summed raw and delivered undecoded', () => {
  const rig = receiverRig({ autoSettle: true });
  const patient = Buffer.concat([Buffer.from('P|1||||M'), Buffer.of(0xfc), Buffer.from('ller\r')]);
  rig.receiver.consume(ENQ_BYTE);
  rig.receiver.consume(frame(1, Buffer.concat([Buffer.from(H), patient, Buffer.from(L)])));
  assert.equal(rig.takeReplies(), '<ACK><ACK>');
  assert.ok(rig.messages[0]!.text.includes(patient));
});

test('a retransmitted frame is ACKed again but not appended twice', () => {
  const rig = receiverRig({ autoSettle: true });
  const f1 = frame(1, H);
  rig.receiver.consume(Buffer.concat([ENQ_BYTE, f1, f1, frame(2, L)]));
  assert.equal(rig.takeReplies(), '<ACK><ACK><ACK><ACK>');
  assert.equal(text(rig.messages[0]!), H + L);
  assert.equal(rig.messages[0]!.frames, 2);
  assert.deepEqual(rig.events.find((e) => e.kind === 'duplicate-frame'), { kind: 'duplicate-frame', frameNumber: 1 });
});

test('a wrong frame number is NAKed', () => {
  const rig = receiverRig({ autoSettle: true });
  rig.receiver.consume(ENQ_BYTE);
  rig.receiver.consume(frame(0, H)); // sessions start at 1
  rig.receiver.consume(frame(1, H));
  rig.receiver.consume(frame(3, L)); // 2 was expected
  assert.equal(rig.takeReplies(), '<ACK><NAK><ACK><NAK>');
  const rejected = rig.events.filter((e) => e.kind === 'frame-rejected');
  assert.deepEqual(rejected, [
    { kind: 'frame-rejected', reason: 'frame-number', frameNumber: 0 },
    { kind: 'frame-rejected', reason: 'frame-number', frameNumber: 3 },
  ]);
  rig.receiver.consume(frame(2, L));
  assert.equal(rig.messages.length, 1);
});

test('the same frame number with different text is kept, not dropped as a duplicate', () => {
  // Seen in a Sysmex XN-550 capture (two different R|29 records both in frame 2).
  const rig = receiverRig({ autoSettle: true });
  rig.receiver.consume(Buffer.concat([ENQ_BYTE, frame(1, H), frame(1, 'P|1\r'), frame(2, L)]));
  assert.equal(rig.takeReplies(), '<ACK><ACK><ACK><ACK>');
  assert.equal(text(rig.messages[0]!), H + 'P|1\r' + L);
  assert.ok(rig.eventKinds().includes('frame-number-reused'));
});

test('frame numbers wrap 7 → 0 (Pentra, 28 frames)', () => {
  const rig = receiverRig({ autoSettle: true });
  rig.receiver.consume(ENQ_BYTE);
  const records = [H, ...Array.from({ length: 10 }, (_, i) => `R|${i + 1}|^^^T${i}|${i}\r`), L];
  records.forEach((r, i) => rig.receiver.consume(frame((i + 1) % 8, r)));
  assert.equal(rig.takeReplies(), '<ACK>'.repeat(13));
  assert.equal(text(rig.messages[0]!), records.join(''));
  assert.equal(rig.messages[0]!.frames, 12);
});

test('EOT mid-message delivers the ACKed records as incomplete; its settle is ignored', () => {
  const rig = receiverRig();
  rig.receiver.consume(Buffer.concat([ENQ_BYTE, frame(1, H), frame(2, 'P|1\r'), EOT_BYTE]));
  assert.equal(rig.takeReplies(), '<ACK><ACK><ACK>');
  assert.equal(rig.messages.length, 1);
  assert.equal(rig.messages[0]!.complete, false);
  assert.equal(text(rig.messages[0]!), H + 'P|1\r');
  assert.deepEqual(rig.events.find((e) => e.kind === 'aborted'), { kind: 'aborted', frames: 2 });
  rig.messages[0]!.settle(false);
  assert.equal(rig.takeReplies(), '');
  assert.equal(rig.receiver.state, 'neutral');
});

test('receiver timeout (30 s after the last reply) discards the partial message', () => {
  const rig = receiverRig({ autoSettle: true });
  rig.receiver.consume(Buffer.concat([ENQ_BYTE, frame(1, H)]));
  rig.clock.advance(29_999);
  assert.equal(rig.receiver.state, 'receiving');
  rig.clock.advance(1);
  assert.equal(rig.receiver.state, 'neutral');
  assert.ok(rig.eventKinds().includes('timeout'));
  assert.equal(rig.messages.length, 0);
  rig.takeReplies();
  // The rest of the old session is ignored; a new session starts clean.
  rig.receiver.consume(Buffer.concat([frame(2, L), EOT_BYTE]));
  assert.equal(rig.takeReplies(), '');
  assert.equal(rig.messages.length, 0);
  rig.receiver.consume(Buffer.concat([ENQ_BYTE, frame(1, H + L)]));
  assert.equal(rig.takeReplies(), '<ACK><ACK>');
  assert.equal(text(rig.messages[0]!), H + L);
});

test('the receiver timer does not run while a settle is pending', () => {
  const rig = receiverRig();
  rig.receiver.consume(Buffer.concat([ENQ_BYTE, frame(1, H + L)]));
  rig.clock.advance(120_000);
  assert.equal(rig.receiver.state, 'settling');
  rig.messages[0]!.settle(true);
  assert.equal(rig.takeReplies(), '<ACK><ACK>');
  rig.clock.advance(30_000);
  assert.equal(rig.receiver.state, 'neutral');
});

test('junk outside frames is skipped and counted, without replies', () => {
  const rig = receiverRig({ autoSettle: true });
  rig.receiver.consume(Buffer.from('noise\x06\x15\x02x'));
  assert.equal(rig.takeReplies(), '', 'no reply in neutral, not even to STX');
  rig.receiver.consume(ENQ_BYTE);
  rig.receiver.consume(Buffer.from('\r\n zz'));
  rig.receiver.consume(frame(1, H));
  rig.receiver.consume(Buffer.from('\x05'));
  rig.receiver.consume(frame(2, L));
  assert.equal(rig.takeReplies(), '<ACK><ACK><ACK>', 'ENQ inside a session, after a frame, is not answered');
  const junk = rig.events.filter((e) => e.kind === 'junk').reduce((n, e) => n + (e.kind === 'junk' ? e.bytes : 0), 0);
  assert.equal(junk, 9 + 6);
  assert.equal(rig.messages.length, 1);
});

test('an oversize frame is NAKed and the link resyncs on the next frame', () => {
  const rig = receiverRig({ maxFrameBytes: 50, autoSettle: true });
  rig.receiver.consume(ENQ_BYTE);
  rig.receiver.consume(frame(1, 'x'.repeat(44)));
  assert.equal(rig.takeReplies(), '<ACK><NAK>');
  assert.deepEqual(rig.events.at(-1), { kind: 'frame-rejected', reason: 'too-long', frameNumber: 1 });
  assert.ok(rig.receiver.bufferedBytes <= 50);
  const exact = frame(1, 'x'.repeat(36) + '\r' + L);
  assert.equal(exact.length, 50);
  rig.receiver.consume(exact);
  assert.equal(rig.takeReplies(), '<ACK>', 'exactly 50 bytes: accepted and delivered');
  assert.equal(rig.messages.length, 1);
});

test('restricted characters in text are NAKed; CR is allowed', () => {
  const rig = receiverRig({ autoSettle: true });
  rig.receiver.consume(ENQ_BYTE);
  rig.receiver.consume(frame(1, 'H|\\^&\r\nP|1\r'));
  rig.receiver.consume(frame(1, 'H|\\^&\x11\r'));
  assert.equal(rig.takeReplies(), '<ACK><NAK><NAK>');
  assert.deepEqual(
    rig.events.filter((e) => e.kind === 'frame-rejected').map((e) => e.kind === 'frame-rejected' && e.reason),
    ['restricted-char', 'restricted-char'],
  );
});

test('malformed frames are NAKed: bad frame number, non-hex checksum', () => {
  const rig = receiverRig();
  rig.receiver.consume(ENQ_BYTE);
  rig.receiver.consume(Buffer.from('\x02XH|\x03AB\r\n'));
  rig.receiver.consume(frame(1, H, { checksum: 'G1' }));
  rig.receiver.consume(Buffer.from('\x021H|\x03\r\n')); // no checksum at all
  assert.equal(rig.takeReplies(), '<ACK><NAK><NAK><NAK>');
  assert.deepEqual(
    rig.events.filter((e) => e.kind === 'frame-rejected'),
    [
      { kind: 'frame-rejected', reason: 'malformed', frameNumber: null },
      { kind: 'frame-rejected', reason: 'malformed', frameNumber: 1 },
      { kind: 'frame-rejected', reason: 'malformed', frameNumber: 1 },
    ],
  );
});

test('STX inside a frame restarts it (truncated frame, no reply); EOT inside a frame is skipped', () => {
  const rig = receiverRig({ autoSettle: true });
  rig.receiver.consume(ENQ_BYTE);
  rig.receiver.consume(Buffer.from('\x021H|\\^&|||trunc'));
  rig.receiver.consume(frame(1, H));
  const f2 = frame(2, L);
  rig.receiver.consume(Buffer.concat([f2.subarray(0, 4), EOT_BYTE, f2.subarray(4)]));
  assert.equal(rig.takeReplies(), '<ACK><ACK><ACK>');
  assert.equal(text(rig.messages[0]!), H + L);
});

test('frame trailers: CR LF, LF only, CR only and none are all accepted', () => {
  for (const trailer of ['\r\n', '\n', '\r', '']) {
    const rig = receiverRig({ autoSettle: true });
    rig.receiver.consume(Buffer.concat([ENQ_BYTE, frame(1, H, { trailer }), frame(2, L, { trailer }), EOT_BYTE]));
    assert.equal(rig.takeReplies(), '<ACK><ACK><ACK>', JSON.stringify(trailer));
    assert.equal(rig.eventKinds().includes('junk'), false);
    assert.equal(rig.receiver.state, 'neutral');
  }
});

test('message overflow: NAK, discard, NAK the rest of the session, neutral after EOT', () => {
  const rig = receiverRig({ maxMessageBytes: 40, autoSettle: true });
  rig.receiver.consume(ENQ_BYTE);
  rig.receiver.consume(frame(1, 'x'.repeat(30) + '\r'));
  rig.receiver.consume(frame(2, 'y'.repeat(30) + '\r'));
  rig.receiver.consume(frame(2, 'y'.repeat(30) + '\r'));
  rig.receiver.consume(frame(3, L));
  assert.equal(rig.takeReplies(), '<ACK><ACK><NAK><NAK><NAK>');
  assert.ok(rig.eventKinds().includes('message-too-long'));
  rig.receiver.consume(EOT_BYTE);
  assert.equal(rig.messages.length, 0, 'nothing delivered, not even as incomplete');
  rig.receiver.consume(Buffer.concat([ENQ_BYTE, frame(1, H + L)]));
  assert.equal(rig.takeReplies(), '<ACK><ACK>');
  assert.equal(rig.messages.length, 1);
});

test('byte-at-a-time input gives the same result as whole input', () => {
  const stream = Buffer.concat([ENQ_BYTE, frame(1, H, { end: 'ETB' }), frame(2, 'P|1\r'), frame(3, L), EOT_BYTE]);
  const a = receiverRig({ autoSettle: true });
  const b = receiverRig({ autoSettle: true });
  a.receiver.consume(stream);
  feedBytewise(b.receiver, stream);
  assert.equal(a.takeReplies(), b.takeReplies());
  assert.deepEqual(a.messages.map(text), b.messages.map(text));
});

test('captureMode accepts frames without ENQ; live mode ignores them', () => {
  const live = receiverRig({ autoSettle: true });
  live.receiver.consume(frame(1, H + L));
  assert.equal(live.messages.length, 0);
  assert.equal(live.takeReplies(), '');
  const capture = receiverRig({ autoSettle: true, captureMode: true });
  capture.receiver.consume(Buffer.concat([frame(1, H + L), frame(1, H + 'Q|1\r' + L)]));
  assert.deepEqual(capture.messages.map(text), [H + L, H + 'Q|1\r' + L]);
  assert.deepEqual(capture.events[0], { kind: 'session-start', implicit: true });
});

test('custom isMessageEnd decides which ETX frame ends a message', () => {
  const rig = receiverRig({ autoSettle: true, isMessageEnd: () => true });
  rig.receiver.consume(Buffer.concat([ENQ_BYTE, frame(1, H), frame(2, 'P|1\r')]));
  assert.deepEqual(rig.messages.map(text), [H, 'P|1\r']);
});

test('bytes buffered while a settle is pending stay bounded', () => {
  const rig = receiverRig({ maxFrameBytes: 100 });
  rig.receiver.consume(Buffer.concat([ENQ_BYTE, frame(1, H + L)]));
  for (let i = 0; i < 100; i++) rig.receiver.consume(Buffer.alloc(1000, 0x41));
  assert.ok(rig.receiver.bufferedBytes < 100 + 64 + 100 + 16 * 1024, `${rig.receiver.bufferedBytes}`);
  rig.messages[0]!.settle(true);
  assert.equal(rig.receiver.state, 'receiving');
});

test('destroy() clears timers, ignores later input and settles', () => {
  const rig = receiverRig();
  rig.receiver.consume(Buffer.concat([ENQ_BYTE, frame(1, H + L)]));
  rig.takeReplies();
  rig.receiver.destroy();
  assert.equal(rig.clock.pendingTimers(), 0);
  assert.equal(rig.receiver.state, 'destroyed');
  rig.messages[0]!.settle(true);
  rig.receiver.consume(ENQ_BYTE);
  assert.equal(rig.takeReplies(), '');
  assert.equal(rig.receiver.bufferedBytes, 0);
});

test('bad options are rejected at construction', () => {
  const base = { clock: new FakeClock(), write: () => undefined, onMessage: () => undefined };
  assert.throws(() => new E1381Receiver({ ...base, maxFrameBytes: 7 }), LabedgeError);
  assert.throws(() => new E1381Receiver({ ...base, receiverTimeoutMs: 0 }), LabedgeError);
  assert.throws(() => new E1381Receiver({ ...base, maxMessageBytes: Number.NaN }), LabedgeError);
});

test('a long frame trickling in on a slow line does not trip the receiver timer', () => {
  const rig = receiverRig({ autoSettle: true });
  rig.receiver.consume(ENQ_BYTE);
  const f = frame(1, H + 'M|1|' + 'x'.repeat(100) + '\r' + L);
  for (let i = 0; i < f.length; i++) {
    rig.receiver.consume(f.subarray(i, i + 1));
    rig.clock.advance(1000); // 1 byte per second: the frame takes minutes
  }
  assert.equal(rig.messages.length, 1);
  assert.equal(rig.eventKinds().includes('timeout'), false);
  // A frame that stops half way is given up 30 s after its last byte.
  rig.receiver.consume(Buffer.from('\x022P|1'));
  rig.clock.advance(29_999);
  assert.equal(rig.receiver.state, 'receiving');
  rig.clock.advance(1);
  assert.equal(rig.receiver.state, 'neutral');
});

test('a frame whose ETX was lost is dropped at its CR LF without a reply; noise after it stays junk', () => {
  const rig = receiverRig({ autoSettle: true });
  rig.receiver.consume(ENQ_BYTE);
  rig.takeReplies();
  const f1 = frame(1, H);
  const damaged = Buffer.from(f1);
  damaged[damaged.length - 5] = 0x58; // ETX → 'X'
  rig.receiver.consume(damaged);
  assert.equal(rig.takeReplies(), '');
  assert.deepEqual(rig.events.find((e) => e.kind === 'frame-abandoned'), { kind: 'frame-abandoned', frameNumber: 1 });
  rig.receiver.consume(Buffer.from('\x17\xff\xb0\r')); // noise with an ETB: no frame is open, so no reply
  rig.receiver.consume(f1); // the sender's retransmission after its timeout
  rig.receiver.consume(frame(2, L));
  assert.equal(rig.takeReplies(), '<ACK><ACK>');
  assert.equal(text(rig.messages[0]!), H + L);
});
