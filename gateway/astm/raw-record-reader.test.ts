import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FakeClock } from '../core/clock.js';
import { RawRecordReader, type RawMessage } from './raw-record-reader.js';
import type { LinkEvent } from './link-events.js';

function rig(opts: { idleMs?: number; maxMessageBytes?: number } = {}) {
  const clock = new FakeClock();
  const messages: RawMessage[] = [];
  const events: LinkEvent[] = [];
  const reader = new RawRecordReader({ clock, onMessage: (m) => messages.push(m), onEvent: (e) => events.push(e), ...opts });
  const texts = () => messages.map((m) => `${m.text.toString('latin1')}${m.complete ? '' : '(incomplete)'}`);
  return { clock, reader, messages, events, texts };
}

test('Q8: CR, LF and CRLF records end at the terminator; records come out CR-terminated', () => {
  for (const eol of ['\r', '\n', '\r\n']) {
    const r = rig();
    r.reader.consume(Buffer.from(['H|\\^&', 'P|1', 'R|1|^^^GLU|5.5', 'L|1|N', ''].join(eol)));
    assert.deepEqual(r.texts(), ['H|\\^&\rP|1\rR|1|^^^GLU|5.5\rL|1|N\r'], JSON.stringify(eol));
    assert.ok(r.reader.idle);
    assert.equal(r.clock.pendingTimers(), 0);
  }
});

test('no terminator: the message ends after the idle time, marked incomplete', () => {
  const r = rig({ idleMs: 5000 });
  r.reader.consume(Buffer.from('H|\\^&\rP|1\rR|1|^^^X|1'));
  r.clock.advance(4999);
  assert.deepEqual(r.messages, []);
  r.reader.consume(Buffer.from('\r')); // activity restarts the idle timer
  r.clock.advance(4999);
  assert.deepEqual(r.messages, []);
  r.clock.advance(1);
  assert.deepEqual(r.texts(), ['H|\\^&\rP|1\rR|1|^^^X|1\r(incomplete)']);
});

test('a new H closes a message that never got its L; control bytes are junk; blank lines skipped', () => {
  const r = rig();
  r.reader.consume(Buffer.from('H|\\^&\r\x02P|1\x06\r\r\n   \rH|\\^&\rL\r'));
  assert.deepEqual(r.texts(), ['H|\\^&\rP|1\r(incomplete)', 'H|\\^&\rL\r']);
  assert.equal(r.events.filter((e) => e.kind === 'junk').reduce((n, e) => n + (e.kind === 'junk' ? e.bytes : 0), 0), 2);
});

test('memory stays bounded: past maxMessageBytes the records so far are delivered, an overlong record dropped', () => {
  const r = rig({ maxMessageBytes: 64 });
  r.reader.consume(Buffer.from(`H|\\^&\r${'R|1|' + 'x'.repeat(40)}\r${'R|2|' + 'y'.repeat(40)}\r`));
  assert.equal(r.messages.length, 1);
  assert.equal(r.messages[0]?.complete, false);
  r.reader.consume(Buffer.from('z'.repeat(200) + '\rL|1|N\r'));
  assert.ok(r.events.some((e) => e.kind === 'message-too-long'));
  assert.ok(r.reader.bufferedBytes <= 128);
  assert.deepEqual(r.texts().at(-1), `R|2|${'y'.repeat(40)}\rL|1|N\r`);
});

test('property: any split of the bytes gives the same messages', () => {
  fc.assert(
    fc.property(
      fc.array(fc.constantFrom('H|\\^&', 'P|1', 'O|1|S1', 'R|1|^^^A|1', 'C|1|I|x', 'L|1|N', 'L', ''), { maxLength: 20 }),
      fc.constantFrom('\r', '\n', '\r\n'),
      fc.array(fc.integer({ min: 1, max: 9 }), { maxLength: 50 }),
      (lines, eol, cuts) => {
        const bytes = Buffer.from(lines.join(eol) + eol);
        const whole = rig();
        whole.reader.consume(bytes);
        whole.clock.advance(60_000);
        const split = rig();
        let at = 0;
        for (const n of cuts) {
          split.reader.consume(bytes.subarray(at, at + n));
          at += n;
        }
        split.reader.consume(bytes.subarray(at));
        split.clock.advance(60_000);
        assert.deepEqual(split.texts(), whole.texts());
        assert.equal(split.clock.pendingTimers(), 0);
      },
    ),
    { numRuns: 300 },
  );
});
