import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../core/clock.js';
import { LabedgeError } from '../core/errors.js';
import { escapeWire, listFixtures, loadRecordsText } from '../../test/harness/astm-fixtures.js';
import { receiverRig } from '../../test/harness/e1381-kit.js';
import { endsWithTerminatorRecord } from './message-end.js';
import { E1381Sender, encodeFrames, type E1381SenderOptions, type SendResult } from './e1381-sender.js';
import type { LinkEvent } from './link-events.js';

const ACK = Uint8Array.of(0x06);
const NAK = Uint8Array.of(0x15);
const EOT = Uint8Array.of(0x04);
const ENQ = Uint8Array.of(0x05);

function senderRig(opts: Partial<E1381SenderOptions> = {}) {
  const clock = new FakeClock();
  const writes: Buffer[] = [];
  const events: LinkEvent[] = [];
  const sender = new E1381Sender({ clock, write: (b) => writes.push(Buffer.from(b)), onEvent: (e) => events.push(e), ...opts });
  let taken = 0;
  return {
    sender,
    clock,
    writes,
    events,
    /** Escaped writes since the last call, one string per write() call. */
    take(): string[] {
      const out = writes.slice(taken).map(escapeWire);
      taken = writes.length;
      return out;
    },
  };
}

/** Lets a resolved send() promise settle into `result`. */
async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve();
}

function track(p: Promise<SendResult>): { result: SendResult | undefined } {
  const box: { result: SendResult | undefined } = { result: undefined };
  void p.then((r) => (box.result = r));
  return box;
}

test('Q19 golden bytes: every frame carries its text, FN from 1, upper-case checksum, CR LF', () => {
  const frames = encodeFrames(['A|B|C|D', 'L|1|N'], 240).map(escapeWire);
  assert.deepEqual(frames, ['<STX>1A|B|C|D<CR><ETX>BF<CR><LF>', '<STX>2L|1|N<CR><ETX>05<CR><LF>']);
});

test('a long record is split with ETB; its last frame ends with ETX; the next record starts a new frame', () => {
  const long = 'R|1|' + 'x'.repeat(496); // 500 bytes + CR = 501
  const frames = encodeFrames([long, 'L|1|N'], 240);
  assert.equal(frames.length, 4);
  assert.deepEqual(frames.map((f) => [f.length - 7, String.fromCharCode(f[1]!), f[f.length - 5]]), [
    [240, '1', 0x17],
    [240, '2', 0x17],
    [21, '3', 0x03],
    [6, '4', 0x03],
  ]);
  const text = Buffer.concat(frames.map((f) => f.subarray(2, f.length - 5))).toString('latin1');
  assert.equal(text, long + '\rL|1|N\r');
});

test('frame numbers wrap 7 → 0; a trailing CR is not doubled; Buffers pass raw bytes', () => {
  const frames = encodeFrames(['H', 'P|1\r', ...Array.from({ length: 7 }, () => 'R'), Buffer.from([0x4d, 0xfc])], 240);
  assert.deepEqual(frames.map((f) => String.fromCharCode(f[1]!)).join(''), '1234567012');
  assert.equal(escapeWire(frames[1]!).startsWith('<STX>2P|1<CR><ETX>'), true);
  assert.deepEqual([...frames[9]!.subarray(2, 5)], [0x4d, 0xfc, 0x0d]);
});

test('encodeFrames refuses text that cannot be framed', () => {
  assert.throws(() => encodeFrames(['H|\n'], 240), LabedgeError);
  assert.throws(() => encodeFrames(['P|\u0141'], 240), LabedgeError);
  assert.throws(() => encodeFrames(['H'], 0), LabedgeError);
});

test('send: ENQ, one frame per ACK, EOT; resolves ok', async () => {
  const rig = senderRig();
  const box = track(rig.sender.send(['A|B|C|D', 'L|1|N']));
  assert.deepEqual(rig.take(), ['<ENQ>']);
  assert.equal(rig.sender.state, 'establishing');
  rig.sender.consume(ACK);
  assert.deepEqual(rig.take(), ['<STX>1A|B|C|D<CR><ETX>BF<CR><LF>']);
  rig.sender.consume(ACK);
  assert.deepEqual(rig.take(), ['<STX>2L|1|N<CR><ETX>05<CR><LF>']);
  rig.sender.consume(ACK);
  assert.deepEqual(rig.take(), ['<EOT>']);
  await flush();
  assert.deepEqual(box.result, { ok: true });
  assert.equal(rig.sender.state, 'neutral');
  assert.equal(rig.clock.pendingTimers(), 0);
});

test('Q6: NAK → the same bytes (same FN) are sent again, then the next frame', async () => {
  const rig = senderRig();
  const box = track(rig.sender.send(['A|B|C|D', 'L|1|N']));
  rig.sender.consume(ACK);
  const first = rig.take().at(-1);
  rig.sender.consume(NAK);
  assert.deepEqual(rig.take(), [first]);
  rig.sender.consume(NAK);
  assert.deepEqual(rig.take(), [first]);
  rig.sender.consume(ACK);
  assert.deepEqual(rig.take(), ['<STX>2L|1|N<CR><ETX>05<CR><LF>']);
  rig.sender.consume(ACK);
  await flush();
  assert.deepEqual(box.result, { ok: true });
  assert.deepEqual(
    rig.events.filter((e) => e.kind === 'retransmit'),
    [
      { kind: 'retransmit', frameNumber: 1, attempt: 1, cause: 'nak' },
      { kind: 'retransmit', frameNumber: 1, attempt: 2, cause: 'nak' },
    ],
  );
});

test('6 failures of one frame → EOT, neutral, not ok', async () => {
  const rig = senderRig();
  const box = track(rig.sender.send(['A|B|C|D']));
  rig.sender.consume(ACK);
  for (let i = 0; i < 6; i++) rig.sender.consume(NAK);
  const out = rig.take();
  assert.equal(out.filter((w) => w.startsWith('<STX>1A|B|C|D')).length, 6, 'the frame is sent 6 times');
  assert.equal(out.at(-1), '<EOT>');
  await flush();
  assert.deepEqual(box.result, { ok: false, reason: 'retries-exhausted' });
  assert.equal(rig.sender.state, 'neutral');
});

test('reply timeout is 15 s (not 15 ms): no reply to ENQ → EOT, not ok', async () => {
  const rig = senderRig();
  const box = track(rig.sender.send(['A|B|C|D']));
  rig.take();
  rig.clock.advance(15);
  rig.clock.advance(14_984);
  assert.deepEqual(rig.take(), []);
  rig.clock.advance(1);
  assert.deepEqual(rig.take(), ['<EOT>']);
  await flush();
  assert.deepEqual(box.result, { ok: false, reason: 'timeout' });
});

test('no reply to a frame for 15 s → the same frame again; 6 timeouts → EOT, timeout', async () => {
  const rig = senderRig();
  const box = track(rig.sender.send(['A|B|C|D']));
  rig.sender.consume(ACK);
  const first = rig.take().at(-1);
  rig.clock.advance(14_999);
  assert.deepEqual(rig.take(), []);
  rig.clock.advance(1);
  assert.deepEqual(rig.take(), [first]);
  rig.clock.advance(15_000 * 5);
  assert.deepEqual(rig.take(), [first, first, first, first, '<EOT>']);
  await flush();
  assert.deepEqual(box.result, { ok: false, reason: 'timeout' });
});

test('busy: NAK to ENQ → wait 10 s → ENQ again; gives up after 6', async () => {
  const rig = senderRig();
  const box = track(rig.sender.send(['A|B|C|D']));
  rig.take();
  rig.sender.consume(NAK);
  assert.equal(rig.sender.state, 'busy-wait');
  rig.clock.advance(9_999);
  assert.deepEqual(rig.take(), []);
  rig.clock.advance(1);
  assert.deepEqual(rig.take(), ['<ENQ>']);
  for (let i = 0; i < 4; i++) {
    rig.sender.consume(NAK);
    rig.clock.advance(10_000);
  }
  assert.equal(rig.take().length, 4);
  rig.sender.consume(NAK);
  await flush();
  assert.deepEqual(box.result, { ok: false, reason: 'retries-exhausted' });
  assert.deepEqual(rig.take(), []);
});

test('receiver interrupt (EOT reply): stop with EOT; ok only if it answered the last frame', async () => {
  const rig = senderRig();
  const a = track(rig.sender.send(['H', 'L']));
  rig.sender.consume(ACK);
  rig.sender.consume(EOT);
  await flush();
  assert.deepEqual(a.result, { ok: false, reason: 'interrupted' });
  assert.equal(rig.take().at(-1), '<EOT>');
  const b = track(rig.sender.send(['H']));
  rig.sender.consume(ACK);
  rig.sender.consume(EOT);
  await flush();
  assert.deepEqual(b.result, { ok: true });
});

test('contention: ENQ while establishing → yield without EOT, reason contention', async () => {
  const rig = senderRig();
  const box = track(rig.sender.send(['H']));
  rig.sender.consume(ENQ);
  await flush();
  assert.deepEqual(box.result, { ok: false, reason: 'contention' });
  assert.deepEqual(rig.take(), ['<ENQ>']);
  assert.ok(rig.events.some((e) => e.kind === 'contention'));
});

test('further send() calls queue until the current one finishes', async () => {
  const rig = senderRig();
  const a = track(rig.sender.send(['H1']));
  const b = track(rig.sender.send(['H2']));
  assert.deepEqual(rig.take(), ['<ENQ>']);
  rig.sender.consume(ACK);
  rig.sender.consume(ACK);
  assert.deepEqual(rig.take(), ['<STX>1H1<CR><ETX>BA<CR><LF>', '<EOT>', '<ENQ>']);
  rig.sender.consume(ACK);
  rig.sender.consume(ACK);
  await flush();
  assert.deepEqual([a.result, b.result], [{ ok: true }, { ok: true }]);
});

test('bytes after a reply in the same read are stale and ignored', async () => {
  const rig = senderRig();
  const box = track(rig.sender.send(['H', 'L']));
  rig.sender.consume(ACK);
  rig.sender.consume(Uint8Array.of(0x06, 0x06)); // a late duplicate ACK rides along
  assert.equal(rig.take().length, 3, 'ENQ, frame 1, frame 2; frame 2 not yet acknowledged');
  rig.sender.consume(ACK);
  await flush();
  assert.deepEqual(box.result, { ok: true });
});

test('destroy() resolves pending sends as destroyed and clears timers', async () => {
  const rig = senderRig();
  const a = track(rig.sender.send(['H']));
  const b = track(rig.sender.send(['H']));
  rig.sender.destroy();
  await flush();
  assert.deepEqual([a.result, b.result], [
    { ok: false, reason: 'destroyed' },
    { ok: false, reason: 'destroyed' },
  ]);
  assert.equal(rig.clock.pendingTimers(), 0);
  assert.deepEqual(await rig.sender.send(['H']), { ok: false, reason: 'destroyed' });
});

test('an empty message sends nothing; bad records reject; bad options throw', async () => {
  const rig = senderRig();
  assert.deepEqual(await rig.sender.send([]), { ok: true });
  assert.deepEqual(rig.take(), []);
  await assert.rejects(rig.sender.send(['a\x02b']), LabedgeError);
  assert.throws(() => new E1381Sender({ clock: new FakeClock(), write: () => undefined, maxRetries: 0 }), LabedgeError);
  assert.throws(() => new E1381Sender({ clock: new FakeClock(), write: () => undefined, replyTimeoutMs: -1 }), LabedgeError);
});

test('round trip: every .astm transcript sent frame by frame arrives as the same records', async () => {
  const names = listFixtures('.astm').filter((n) => !n.endsWith('-raw.astm'));
  assert.ok(names.length >= 25);
  for (const name of names) {
    const text = loadRecordsText(name);
    const records = text.subarray(0, -1).toString('latin1').split('\r').map((r) => Buffer.from(r, 'latin1'));
    const rx = receiverRig({ autoSettle: true });
    const clock = new FakeClock();
    let result: SendResult | undefined;
    const sender = new E1381Sender({ clock, write: (b) => rx.receiver.consume(b) });
    let answered = 0;
    void sender.send(records).then((r) => (result = r));
    // Feed the receiver's replies back one at a time (each write is one reply byte).
    while (answered < rx.written.length) sender.consume(Uint8Array.of(rx.written[answered++]!));
    await flush();
    assert.deepEqual(result, { ok: true }, name);
    assert.equal(Buffer.concat(rx.messages.map((m) => m.text)).toString('latin1'), text.toString('latin1'), name);
    // A transcript that does not end with a terminator arrives as an incomplete tail at EOT.
    assert.deepEqual(
      rx.messages.map((m) => m.complete),
      rx.messages.map((_m, i) => i < rx.messages.length - 1 || endsWithTerminatorRecord(text)),
      name,
    );
  }
});
