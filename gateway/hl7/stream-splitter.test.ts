import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import fc from 'fast-check';
import { FakeClock } from '../core/clock.js';
import type { MllpEvent } from './mllp-framer.js';
import { Hl7StreamSplitter } from './stream-splitter.js';

const msg = (id: string): string => `MSH|^~\\&|A|B|C|D|20240101||ORU^R01|${id}|P|2.5.1\rPID|1||X\rOBX|1|ST|T||MSH is text here\r`;

function run(chunks: Buffer[], options: { maxFrameBytes?: number; idleMs?: number } = {}) {
  const clock = new FakeClock();
  const events: MllpEvent[] = [];
  const s = new Hl7StreamSplitter(clock, { emit: (e) => events.push(e) }, options);
  for (const c of chunks) s.consume(c);
  clock.advance(options.idleMs ?? 1000);
  const frames = events.flatMap((e) => (e.type === 'frame' ? [e.payload.toString('latin1')] : []));
  return { events, frames };
}

test('unframed stream: blank line, next MSH, end block and silence each end a message', () => {
  const wire = `junk\r\n${msg('1')}\r${msg('2')}${msg('3')}\x1c${msg('4')}`;
  const whole = run([Buffer.from(wire, 'latin1')]);
  assert.deepEqual(whole.frames, [msg('1'), msg('2'), msg('3'), msg('4')]);
  assert.deepEqual(whole.events[0], { type: 'junk', bytes: 6 });
  const bytewise = run([...Buffer.from(wire, 'latin1')].map((b) => Buffer.from([b])));
  assert.deepEqual(bytewise.frames, whole.frames);
});

test('CRLF terminators: CRLF CRLF is a blank line, a single CRLF is not', () => {
  const a = msg('1').replaceAll('\r', '\r\n');
  const b = msg('2').replaceAll('\r', '\r\n');
  assert.deepEqual(run([Buffer.from(`${a}\r\n${b}`)]).frames, [a, b]);
});

test('oversize message: discarded to its end with its head kept', () => {
  const big = `${msg('BIG')}NTE|1||${'x'.repeat(300)}\r`;
  const r = run([Buffer.from(`${big}\r${msg('OK')}`)], { maxFrameBytes: 120 });
  const over = r.events.find((e) => e.type === 'oversize');
  assert.ok(over && over.type === 'oversize' && over.head.toString().startsWith('MSH|^~\\&|A|B|C|D|20240101||ORU^R01|BIG|'));
  assert.deepEqual(r.frames, [msg('OK')]);
});

test('property: messages survive any chunking; random bytes never throw', () => {
  fc.assert(
    fc.property(fc.array(fc.nat(999), { minLength: 1, maxLength: 5 }), fc.array(fc.nat(), { maxLength: 10 }), (ids, cuts) => {
      const wire = Buffer.from(ids.map((i) => msg(String(i))).join('\r'), 'latin1');
      const points = [...new Set(cuts.map((c) => c % (wire.length + 1)))].sort((x, y) => x - y);
      const chunks: Buffer[] = [];
      let from = 0;
      for (const p of [...points, wire.length]) {
        chunks.push(wire.subarray(from, p));
        from = p;
      }
      assert.deepEqual(run(chunks).frames, ids.map((i) => msg(String(i))));
    }),
    { numRuns: 200 },
  );
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (b) => void run([Buffer.from(b)], { maxFrameBytes: 64 })), { numRuns: 300 });
});
