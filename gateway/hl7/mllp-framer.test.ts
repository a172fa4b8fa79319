import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import fc from 'fast-check';
import { FakeClock } from '../core/clock.js';
import { MllpFramer, mllpFrame, MLLP_COMMIT_ACK, type MllpEvent, type MllpFramerOptions } from './mllp-framer.js';

const MSG = 'MSH|^~\\&|LAB|F|LIS|H|20240101120000||ORU^R01|42|P|2.5.1\rPID|1||X\rOBX|1|NM|GLU||5.5|mmol/L\r';

function harness(options?: MllpFramerOptions) {
  const clock = new FakeClock();
  const events: MllpEvent[] = [];
  const framer = new MllpFramer(clock, { emit: (e) => events.push(e) }, options);
  const frames = () => events.filter((e): e is Extract<MllpEvent, { type: 'frame' }> => e.type === 'frame').map((e) => e.payload.toString('utf8'));
  return { clock, events, framer, frames };
}

test('every split position of a frame, and 1-byte chunks, give the same single frame', () => {
  const wire = Buffer.concat([Buffer.from('\r\n'), mllpFrame(MSG)]);
  for (let cut = 0; cut <= wire.length; cut++) {
    const h = harness();
    h.framer.consume(wire.subarray(0, cut));
    h.framer.consume(wire.subarray(cut));
    assert.deepEqual(h.frames(), [MSG], `cut at ${cut}`);
    assert.equal(h.clock.pendingTimers(), 0, `no timer left after cut ${cut}`);
  }
  const h = harness();
  for (const b of wire) h.framer.consume(Buffer.from([b]));
  assert.deepEqual(h.frames(), [MSG]);
  assert.deepEqual(h.events[0], { type: 'junk', bytes: 2 });
  assert.equal(h.framer.counters.junkBytes, 2);
});

test('pipelined frames in one write, with junk between them', () => {
  const h = harness();
  const msgs = [MSG, MSG.replace('|42|', '|43|'), MSG.replace('|42|', '|44|')];
  h.framer.consume(Buffer.concat([mllpFrame(msgs[0] ?? ''), Buffer.from('\n\x00junk'), mllpFrame(msgs[1] ?? ''), mllpFrame(msgs[2] ?? '')]));
  assert.deepEqual(h.frames(), msgs);
  assert.deepEqual(h.events.filter((e) => e.type === 'junk'), [{ type: 'junk', bytes: 6 }]);
});

test('missing end block: the open frame is dropped after the timeout, never delivered', () => {
  const h = harness({ openFrameTimeoutMs: 1000 });
  h.framer.consume(mllpFrame(MSG).subarray(0, 30));
  h.clock.advance(600);
  h.framer.consume(Buffer.from('more')); // activity keeps the frame open
  h.clock.advance(600);
  assert.equal(h.frames().length, 0);
  assert.equal(h.events.length, 0);
  h.clock.advance(500);
  assert.deepEqual(h.events, [{ type: 'timeout', bytes: 33 }]);
  h.framer.consume(mllpFrame(MSG));
  assert.deepEqual(h.frames(), [MSG]);
});

test('a new start block inside an open frame abandons the partial frame', () => {
  const h = harness();
  h.framer.consume(Buffer.concat([mllpFrame(MSG).subarray(0, 20), mllpFrame(MSG)]));
  assert.deepEqual(h.events.map((e) => e.type), ['abandoned', 'frame']);
  assert.deepEqual(h.frames(), [MSG]);
});

test('oversize frame: discarded to its end, head kept for MSH-10, next frame fine', () => {
  const big = MSG + 'NTE|1||' + 'x'.repeat(5000) + '\r';
  const h = harness({ maxFrameBytes: 1024, headBytes: 100 });
  const wire = Buffer.concat([mllpFrame(big), mllpFrame(MSG)]);
  for (let i = 0; i < wire.length; i += 333) h.framer.consume(wire.subarray(i, i + 333));
  const over = h.events[0];
  assert.equal(over?.type, 'oversize');
  if (over?.type === 'oversize') {
    assert.equal(over.bytes, Buffer.byteLength(big));
    assert.equal(over.head.toString(), big.slice(0, 100));
  }
  assert.deepEqual(h.frames(), [MSG]);
  assert.equal(h.framer.counters.oversize, 1);
});

test('end block without CR: delivered when the next byte is not CR, or after the grace time', () => {
  const h = harness({ bareEndGraceMs: 200 });
  h.framer.consume(Buffer.concat([Buffer.from([0x0b]), Buffer.from(MSG), Buffer.from([0x1c, 0x0b]), Buffer.from(MSG), Buffer.from([0x1c])]));
  assert.equal(h.frames().length, 1);
  h.clock.advance(199);
  assert.equal(h.frames().length, 1);
  h.clock.advance(1);
  assert.equal(h.frames().length, 2);
  const bare = h.events.filter((e) => e.type === 'frame').map((e) => (e.type === 'frame' ? e.bareEnd : false));
  assert.deepEqual(bare, [true, true]);
});

test('MLLP release 2 commit blocks are events, not frames', () => {
  const h = harness();
  h.framer.consume(Buffer.concat([MLLP_COMMIT_ACK, Buffer.from([0x0b, 0x15, 0x1c, 0x0d])]));
  assert.deepEqual(h.events, [{ type: 'commit', ok: true }, { type: 'commit', ok: false }]);
});

test('close() drops an open frame', () => {
  const h = harness();
  h.framer.consume(mllpFrame(MSG).subarray(0, 10));
  h.framer.close();
  assert.deepEqual(h.events, [{ type: 'abandoned', bytes: 9 }]);
  assert.equal(h.clock.pendingTimers(), 0);
});

test('rejects nonsense options', () => {
  assert.throws(() => new MllpFramer(new FakeClock(), { emit: () => {} }, { maxFrameBytes: 0 }), RangeError);
});

// Payloads never contain SB or EB (the only bytes MLLP reserves).
const payload = fc.uint8Array({ minLength: 1, maxLength: 200 }).map((b) => Buffer.from(b.map((x) => (x === 0x0b || x === 0x1c ? 0x41 : x))))
  .filter((b) => !(b.length === 1 && (b[0] === 0x06 || b[0] === 0x15)));
const junk = fc.uint8Array({ maxLength: 10 }).map((b) => Buffer.from(b.map((x) => (x === 0x0b ? 0x0a : x))));

test('property: frames with junk between them, cut anywhere, come out whole and in order', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(junk, payload), { minLength: 1, maxLength: 8 }), fc.array(fc.nat(), { maxLength: 30 }), (items, cuts) => {
      const wire = Buffer.concat(items.flatMap(([j, p]) => [j, mllpFrame(p)]));
      const points = [...new Set(cuts.map((c) => c % (wire.length + 1)))].sort((a, b) => a - b);
      const h = harness();
      let from = 0;
      for (const p of [...points, wire.length]) {
        h.framer.consume(wire.subarray(from, p));
        from = p;
      }
      const got = h.events.filter((e) => e.type === 'frame').map((e) => (e.type === 'frame' ? e.payload.toString('hex') : ''));
      assert.deepEqual(got, items.map(([, p]) => p.toString('hex')));
      // Junk is counted exactly (an EB in junk is junk too).
      const junkTotal = h.events.reduce((s, e) => s + (e.type === 'junk' ? e.bytes : 0), 0);
      assert.equal(junkTotal, items.reduce((s, [j]) => s + j.length, 0));
    }),
    { numRuns: 300 },
  );
});

test('fuzz: random bytes never throw and every frame is bounded by SB … EB in the input', () => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b.map((x) => [0x0b, 0x1c, 0x0d, x][x % 4] ?? x))), { maxLength: 20 }), (chunks) => {
      const h = harness({ maxFrameBytes: 50, openFrameTimeoutMs: 10 });
      for (const c of chunks) {
        h.framer.consume(c);
        h.clock.advance(3);
      }
      h.clock.advance(1000);
      const wire = Buffer.concat(chunks);
      for (const e of h.events) {
        if (e.type === 'frame') {
          assert.ok(e.payload.length <= 50);
          assert.ok(wire.includes(Buffer.concat([Buffer.from([0x0b]), e.payload, Buffer.from([0x1c])])));
        }
      }
      assert.equal(h.framer.frameOpen, false);
    }),
    { numRuns: 500 },
  );
});
