import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../core/clock.js';
import { LabedgeError } from '../core/errors.js';
import { escapeWire } from '../../test/harness/astm-fixtures.js';
import { frame } from '../../test/harness/e1381-kit.js';
import { E1381Link, type E1381LinkOptions, type LinkSendResult } from './e1381-link.js';
import type { ReceivedMessage, SettleFn } from './e1381-receiver.js';
import type { LinkEvent } from './link-events.js';

const ACK = Uint8Array.of(0x06);
const NAK = Uint8Array.of(0x15);
const EOT = Uint8Array.of(0x04);
const ENQ = Uint8Array.of(0x05);

function linkRig(opts: Partial<E1381LinkOptions> = {}) {
  const clock = new FakeClock();
  const writes: Buffer[] = [];
  const messages: (ReceivedMessage & { settle: SettleFn })[] = [];
  const events: LinkEvent[] = [];
  const results: LinkSendResult[] = [];
  const link = new E1381Link({
    clock,
    write: (b) => writes.push(Buffer.from(b)),
    onMessage: (m, settle) => {
      messages.push({ ...m, settle });
      if (m.complete) settle(true);
    },
    onEvent: (e) => events.push(e),
    ...opts,
  });
  let taken = 0;
  return {
    link,
    clock,
    messages,
    events,
    results,
    send(records: string[], options = {}) {
      link.enqueue(records, options, (r) => results.push(r));
    },
    take(): string[] {
      const out = writes.slice(taken).map(escapeWire);
      taken = writes.length;
      return out;
    },
  };
}

const F1 = '<STX>1H|\\^&<CR><ETX>';

test('neutral line: the box sends ENQ, frames on ACK, EOT, and reports success', () => {
  const rig = linkRig();
  assert.equal(rig.link.state, 'neutral');
  rig.send(['H|\\^&', 'L|1|N']);
  assert.deepEqual(rig.take(), ['<ENQ>']);
  assert.equal(rig.link.state, 'sending');
  rig.link.consume(ACK);
  assert.ok(rig.take()[0]?.startsWith(F1));
  rig.link.consume(ACK);
  assert.ok(rig.take()[0]?.startsWith('<STX>2L|1|N<CR><ETX>'));
  rig.link.consume(ACK);
  assert.deepEqual(rig.take(), ['<EOT>']);
  assert.deepEqual(rig.results, [{ ok: true, attempts: 1 }]);
  assert.equal(rig.link.state, 'neutral');
  assert.equal(rig.clock.pendingTimers(), 0);
});

test('a message queued while the instrument sends waits for its EOT', () => {
  const rig = linkRig();
  rig.link.consume(ENQ);
  assert.deepEqual(rig.take(), ['<ACK>']);
  rig.send(['H|\\^&']);
  assert.deepEqual(rig.take(), [], 'no ENQ while the instrument holds the line');
  rig.link.consume(frame(1, 'H|\\^&\rL|1|N\r'));
  assert.deepEqual(rig.take(), ['<ACK>']);
  assert.equal(rig.messages.length, 1);
  rig.link.consume(EOT);
  assert.deepEqual(rig.take(), ['<ENQ>'], 'the line is neutral: our turn');
});

test('contention: the host yields, ACKs the instrument and waits 20 s before its next ENQ', () => {
  const rig = linkRig();
  rig.send(['H|\\^&']);
  assert.deepEqual(rig.take(), ['<ENQ>']);
  rig.clock.advance(100);
  rig.link.consume(ENQ); // the instrument's ENQ crossed ours
  assert.deepEqual(rig.take(), ['<ACK>'], 'no EOT: our session never started');
  assert.equal(rig.link.state, 'receiving');
  assert.ok(rig.events.some((e) => e.kind === 'contention'));
  rig.link.consume(frame(1, 'H|\\^&\rL|1|N\r'));
  rig.link.consume(EOT);
  assert.deepEqual(rig.take(), ['<ACK>']);
  rig.clock.advance(19_999);
  assert.deepEqual(rig.take(), []);
  rig.clock.advance(1);
  assert.deepEqual(rig.take(), ['<ENQ>'], '20 s after the contention');
  rig.link.consume(ACK);
  rig.link.consume(ACK);
  assert.deepEqual(rig.results, [{ ok: true, attempts: 1 }], 'contention is not a failed attempt');
});

test('busy: NAK to ENQ → next ENQ after 10 s; the instrument may use the line meanwhile', () => {
  const rig = linkRig();
  rig.send(['H|\\^&']);
  rig.take();
  rig.link.consume(NAK);
  assert.deepEqual(rig.take(), []);
  assert.equal(rig.link.state, 'neutral');
  rig.clock.advance(2_000);
  rig.link.consume(ENQ);
  assert.deepEqual(rig.take(), ['<ACK>']);
  rig.link.consume(frame(1, 'H|\\^&\rL|1|N\r'));
  rig.clock.advance(9_000); // the busy delay ends while the instrument still holds the line
  assert.deepEqual(rig.take(), ['<ACK>']);
  rig.link.consume(EOT);
  assert.deepEqual(rig.take(), ['<ENQ>']);
});

test('six busy NAKs count as one failed attempt', () => {
  const rig = linkRig({ maxAttempts: 1 });
  rig.send(['H|\\^&']);
  for (let i = 0; i < 6; i++) {
    assert.deepEqual(rig.take(), ['<ENQ>']);
    rig.link.consume(NAK);
    rig.clock.advance(10_000);
  }
  assert.deepEqual(rig.results, [{ ok: false, reason: 'busy', attempts: 1 }]);
  assert.deepEqual(rig.take(), []);
});

test('six NAKs of one frame → EOT, neutral, the message re-queued and re-sent from frame 1', () => {
  const rig = linkRig({ maxAttempts: 2 });
  rig.send(['H|\\^&', 'L|1|N']);
  rig.take();
  rig.link.consume(ACK);
  rig.link.consume(ACK);
  const second = rig.take();
  assert.equal(second.length, 2);
  for (let i = 0; i < 6; i++) rig.link.consume(NAK);
  const after = rig.take();
  assert.equal(after.length, 6, 'five retransmissions then EOT');
  assert.ok(after.slice(0, 5).every((f) => f === second[1]), 'same FN, same bytes');
  assert.equal(after[5], '<EOT>');
  assert.equal(rig.link.state, 'neutral');
  assert.equal(rig.link.pending, 1, 're-queued');
  assert.deepEqual(rig.events.find((e) => e.kind === 'send-failed'), { kind: 'send-failed', reason: 'retries-exhausted', attempt: 1, requeued: true });
  rig.clock.advance(10_000);
  assert.deepEqual(rig.take(), ['<ENQ>']);
  rig.link.consume(ACK);
  assert.ok(rig.take()[0]?.startsWith(F1), 'a new session starts again at frame 1');
  for (let i = 0; i < 6; i++) rig.link.consume(NAK);
  assert.deepEqual(rig.results, [{ ok: false, reason: 'retries-exhausted', attempts: 2 }], 'given up: the sender is told');
  assert.equal(rig.link.pending, 0);
});

test('no reply to ENQ for 15 s → EOT, re-queued; expired messages are dropped', () => {
  const rig = linkRig();
  rig.send(['H|\\^&'], { deadline: 20_000 });
  rig.take();
  rig.clock.advance(15_000);
  assert.deepEqual(rig.take(), ['<EOT>']);
  rig.clock.advance(10_000); // retry due at 25 s, past the deadline
  assert.deepEqual(rig.take(), []);
  assert.deepEqual(rig.results, [{ ok: false, reason: 'expired', attempts: 1 }]);
  assert.ok(rig.events.some((e) => e.kind === 'send-expired'));
  assert.equal(rig.clock.pendingTimers(), 0);
});

test('receiver interrupt from the instrument: EOT, next ENQ after 15 s, whole message again', () => {
  const rig = linkRig();
  rig.send(['H|\\^&', 'L|1|N']);
  rig.take();
  rig.link.consume(ACK);
  rig.take();
  rig.link.consume(EOT); // answers frame 1 with EOT
  assert.deepEqual(rig.take(), ['<EOT>']);
  rig.clock.advance(14_999);
  assert.deepEqual(rig.take(), []);
  rig.clock.advance(1);
  assert.deepEqual(rig.take(), ['<ENQ>']);
  rig.link.consume(ACK);
  assert.ok(rig.take()[0]?.startsWith(F1));
});

test('the host interrupts the instrument: EOT instead of ACK, then sends once the line is neutral', () => {
  const rig = linkRig();
  rig.link.consume(ENQ);
  rig.link.consume(frame(1, 'H|\\^&\r'));
  assert.deepEqual(rig.take(), ['<ACK>', '<ACK>']);
  rig.send(['H|\\^&']);
  rig.link.interruptPeer();
  rig.link.consume(frame(2, 'P|1\r'));
  assert.deepEqual(rig.take(), ['<EOT>']);
  assert.ok(rig.events.some((e) => e.kind === 'interrupt-sent'));
  rig.link.consume(EOT); // the instrument stops
  assert.deepEqual(rig.take(), ['<ENQ>']);
  assert.equal(rig.messages.length, 1, 'the records it had sent are kept (incomplete)');
  assert.equal(rig.messages[0]?.complete, false);
});

test('acceptSession false answers ENQ with NAK (busy) and stays neutral', () => {
  let accept = false;
  const rig = linkRig({ acceptSession: () => accept });
  rig.link.consume(ENQ);
  assert.deepEqual(rig.take(), ['<NAK>']);
  assert.equal(rig.link.state, 'neutral');
  accept = true;
  rig.link.consume(ENQ);
  assert.deepEqual(rig.take(), ['<ACK>']);
});

test('ENQ repeated before the first frame is answered again (lost ACK or re-ENQ after contention)', () => {
  const rig = linkRig();
  rig.link.consume(ENQ);
  rig.link.consume(ENQ);
  assert.deepEqual(rig.take(), ['<ACK>', '<ACK>']);
  rig.link.consume(frame(1, 'H|\\^&\r'));
  rig.link.consume(ENQ);
  assert.deepEqual(rig.take(), ['<ACK>'], 'after a frame an ENQ is not answered');
});

test('host and instrument links send to each other at the same moment: both messages arrive once', () => {
  const clock = new FakeClock();
  const wire: { to: 'host' | 'instrument'; bytes: Buffer }[] = [];
  const got: Record<string, string[]> = { host: [], instrument: [] };
  const make = (role: 'host' | 'instrument') =>
    new E1381Link({
      clock,
      role,
      write: (b) => wire.push({ to: role === 'host' ? 'instrument' : 'host', bytes: Buffer.from(b) }),
      onMessage: (m, settle) => {
        got[role]?.push(m.text.toString('latin1'));
        settle(true);
      },
    });
  const host = make('host');
  const instrument = make('instrument');
  const results: LinkSendResult[] = [];
  host.enqueue(['H|\\^&|||host', 'L|1|N'], {}, (r) => results.push(r));
  instrument.enqueue(['H|\\^&|||analyzer', 'L|1|N'], {}, (r) => results.push(r));
  for (let i = 0; i < 200 && results.length < 2; i++) {
    while (wire.length > 0) {
      const { to, bytes } = wire.shift() as { to: string; bytes: Buffer };
      (to === 'host' ? host : instrument).consume(bytes);
    }
    clock.advance(500);
  }
  assert.deepEqual(results, [{ ok: true, attempts: 1 }, { ok: true, attempts: 1 }]);
  assert.deepEqual(got.host, ['H|\\^&|||analyzer\rL|1|N\r'], 'the instrument went first (priority)');
  assert.deepEqual(got.instrument, ['H|\\^&|||host\rL|1|N\r']);
});

test('destroy() resolves queued and active messages and clears timers; bad input is refused', async () => {
  const rig = linkRig();
  rig.send(['H|\\^&']);
  rig.send(['H|\\^&']);
  rig.link.destroy();
  assert.deepEqual(rig.results.map((r) => r.ok || r.reason), ['destroyed', 'destroyed']);
  assert.equal(rig.clock.pendingTimers(), 0);
  assert.deepEqual(await rig.link.send(['H']), { ok: false, reason: 'destroyed', attempts: 0 });
  const live = linkRig();
  await assert.rejects(live.link.send(['a\x04b']), LabedgeError);
  assert.throws(() => linkRig({ contentionDelayMs: 0 }), LabedgeError);
});
