import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FakeClock } from '../core/clock.js';
import { readFileSync } from 'node:fs';
import { escapeWire, unescapeWire } from '../../test/harness/astm-fixtures.js';
import { frame } from '../../test/harness/e1381-kit.js';
import { AstmLine, type AstmLineOptions, type LineMessage } from './astm-line.js';
import type { PayloadAdapter } from './foreign-payload.js';
import type { LinkEvent } from './link-events.js';

const ENQ = Buffer.of(0x05);
const EOT = Buffer.of(0x04);
const ACK = Buffer.of(0x06);

function rig(opts: Partial<AstmLineOptions> = {}, commit = true) {
  const clock = new FakeClock();
  const written: number[] = [];
  const messages: LineMessage[] = [];
  const events: LinkEvent[] = [];
  const line = new AstmLine({
    clock,
    write: (b) => written.push(...b),
    onEvent: (e) => events.push(e),
    onMessage: (m, settle) => {
      messages.push(m);
      settle(commit);
    },
    ...opts,
  });
  let taken = 0;
  return {
    clock,
    line,
    messages,
    events,
    replies() {
      const out = escapeWire(Buffer.from(written.slice(taken)));
      taken = written.length;
      return out;
    },
  };
}

const RECORDS = 'H|\\^&\rP|1\rR|1|^^^GLU|5.5\rL|1|N\r';

test('e1381 (default): a session is received and ACKed; raw records are junk', () => {
  const r = rig();
  r.line.consume(Buffer.from(RECORDS));
  assert.equal(r.messages.length, 0);
  r.line.consume(Buffer.concat([ENQ, frame(1, RECORDS), EOT]));
  assert.equal(r.replies(), '<ACK><ACK>');
  assert.deepEqual(r.messages.map((m) => [m.framing, m.text.toString('latin1'), m.complete]), [['e1381', RECORDS, true]]);
});

test('raw: records without framing, no replies; the box sends plain records', async () => {
  const r = rig({ framing: 'raw', rawRecordEnd: 'CRLF' });
  r.line.consume(Buffer.from(RECORDS.replace(/\r/g, '\r\n')));
  assert.deepEqual(r.messages.map((m) => [m.framing, m.text.toString('latin1')]), [['raw', RECORDS]]);
  assert.equal(r.replies(), '');
  assert.deepEqual(await r.line.send(['H|\\^&', 'L|1|I']), { ok: true, attempts: 1 });
  assert.equal(r.replies(), 'H|\\^&<CR><LF>L|1|I<CR><LF>');
});

test('auto: decided per message from the first byte (ENQ → e1381, H → raw)', async () => {
  const r = rig({ framing: 'auto' });
  r.line.consume(Buffer.from('\r\n' + RECORDS));
  r.line.consume(Buffer.concat([ENQ, frame(1, RECORDS), EOT]));
  r.line.consume(Buffer.from(RECORDS));
  assert.deepEqual(r.messages.map((m) => m.framing), ['raw', 'e1381', 'raw']);
  assert.deepEqual(r.events.filter((e) => e.kind === 'framing'), [
    { kind: 'framing', mode: 'raw' },
    { kind: 'framing', mode: 'e1381' },
    { kind: 'framing', mode: 'raw' },
  ]);
  r.replies();
  await r.line.send(['H|\\^&', 'L|1|N']);
  assert.equal(r.replies(), 'H|\\^&<CR>L|1|N<CR>', 'replies in the framing the instrument last used');
});

const upper: PayloadAdapter = {
  name: 'test-upper',
  reply: Uint8Array.of(0x06),
  isComplete: (p) => p.at(-1) === 0x03,
  matches: (p) => Buffer.from(p).toString('latin1').startsWith('\x02RESULT'),
  toRecords: () => ({ text: 'H|\\^&\rL|1|N\r', warnings: [] }),
};

test('Q9: a non-ASTM payload at neutral goes to its adapter (reply on commit), never NAKed', () => {
  const r = rig({ adapters: [upper] });
  r.line.consume(Buffer.from('\x02RESULT Na 140 mmol/L\x03'));
  assert.deepEqual(r.messages.map((m) => [m.framing, m.adapter, m.complete]), [['foreign', 'test-upper', true]]);
  assert.equal(r.replies(), '<ACK>');
  // The link still works afterwards.
  r.line.consume(Buffer.concat([ENQ, frame(1, RECORDS), EOT]));
  assert.equal(r.replies(), '<ACK><ACK>');
});

test('Q9: an unknown text payload is delivered for quarantine after the idle time; binary noise and stray frames are junk', () => {
  const r = rig();
  r.line.consume(Buffer.from('\x02SOMETHING UNKNOWN 12 34 56\x03'));
  assert.equal(r.messages.length, 0, 'waits for the idle time: the payload may go on');
  r.clock.advance(2000);
  assert.deepEqual(r.messages.map((m) => [m.framing, m.adapter, m.complete]), [['foreign', null, false]]);
  r.line.consume(Buffer.of(0x02, 0x81, 0x00, 0x9f, 0x04));
  r.line.consume(Buffer.concat([frame(3, 'R|1|^^^A|1\r'), EOT])); // a frame without ENQ: the sender will retry
  r.clock.advance(5000);
  assert.equal(r.messages.length, 1);
  assert.equal(r.replies(), '', 'nothing was answered: no NAK storm');
  assert.ok(r.events.some((e) => e.kind === 'junk'));
});

test('ENQ ends a payload capture and starts a normal session', () => {
  const r = rig();
  r.line.consume(Buffer.concat([Buffer.from('\x02LONG ENOUGH TEXT PAYLOAD'), ENQ, frame(1, RECORDS), EOT]));
  assert.deepEqual(r.messages.map((m) => m.framing), ['foreign', 'e1381']);
  assert.equal(r.replies(), '<ACK><ACK>');
});

test('the box sends on the same line when neutral; the state says who holds the line', async () => {
  const r = rig();
  const sent = r.line.send(['H|\\^&', 'L|1|N']);
  assert.equal(r.replies(), '<ENQ>');
  assert.equal(r.line.state, 'sending');
  r.line.consume(ACK);
  r.line.consume(ACK);
  r.line.consume(ACK);
  assert.deepEqual(await sent, { ok: true, attempts: 1 });
  assert.equal(r.line.state, 'neutral');
});

test('fuzz: consume() never throws in any framing mode, and everything ends neutral', () => {
  const bytes = fc.array(fc.oneof(fc.constantFrom(0x02, 0x03, 0x04, 0x05, 0x06, 0x0a, 0x0d, 0x15, 0x17, 0x1d, 0x1e, 0x48, 0x4c, 0x7c, 0x31), fc.integer({ min: 0, max: 255 })), { maxLength: 300 });
  fc.assert(
    fc.property(bytes, fc.constantFrom('e1381' as const, 'raw' as const, 'auto' as const), fc.integer({ min: 1, max: 40 }), (data, framing, step) => {
      const r = rig({ framing, adapters: [upper] }, true);
      const buf = Buffer.from(data);
      for (let i = 0; i < buf.length; i += step) r.line.consume(buf.subarray(i, i + step));
      r.clock.advance(10 * 60_000);
      assert.equal(r.line.state, 'neutral');
      assert.equal(r.clock.pendingTimers(), 0);
      r.line.destroy();
    }),
    { numRuns: 300 },
  );
});

test('records the box sends are encoded for the instrument: unencodable names are folded, never refused', async () => {
  const name = 'P|1||||Łukasiewicz^Zoë';
  for (const [textEncoding, expected] of [['utf-8', 'Łukasiewicz^Zoë'], ['latin1', 'Lukasiewicz^Zoë'], ['auto', 'Lukasiewicz^Zoe']] as const) {
    const r = rig({ textEncoding });
    const sent = r.line.send(['H|\\^&', name, 'L|1|N']);
    for (let i = 0; i < 4; i++) r.line.consume(ACK);
    assert.deepEqual(await sent, { ok: true, attempts: 1 });
    const raw = rig({ framing: 'raw', textEncoding });
    await raw.line.send([name]);
    const wire = Buffer.from(raw.replies(), 'latin1');
    assert.equal(wire.toString(textEncoding === 'utf-8' ? 'utf8' : 'latin1'), `P|1||||${expected}<CR>`);
  }
});

test('regression: a key/value payload with short fields is kept for quarantine, not dropped as noise', () => {
  const payload = unescapeWire(readFileSync(new URL('../../test/fixtures/astm-regress/unknown-rs-gs-short-fields.txt', import.meta.url), 'latin1').trimEnd());
  const r = rig();
  r.line.consume(payload);
  r.clock.advance(2000);
  assert.deepEqual(r.messages.map((m) => [m.framing, m.adapter, m.text.equals(payload)]), [['foreign', null, true]]);
  assert.equal(r.replies(), '');
});
