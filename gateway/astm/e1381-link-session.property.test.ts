/**
 * Property tests of E1381Link, both roles on one line:
 * - an instrument link sends to a host link over a line that splits reads at random, corrupts
 *   single bytes and injects noise between frames: the message is committed exactly once and
 *   intact when the sender reports success, and never committed when it reports failure (records
 *   ACKed before the sender gave up arrive only as an incomplete prefix);
 * - the same with both ends sending at once (contention), and the host as sender;
 * - no state is reachable from which the link does not return to neutral: random input, sends,
 *   interrupts, settles and clock jumps, then silence, always end neutral with nothing queued
 *   and no timer left.
 * What the line never does (protocol limits, see e1381-link.property.test.ts): create STX, ETX,
 * ETB, ENQ or EOT out of other bytes, or damage replies.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FakeClock } from '../core/clock.js';
import { frame } from '../../test/harness/e1381-kit.js';
import { E1381Link, type LinkSendResult } from './e1381-link.js';
import type { SettleFn } from './e1381-receiver.js';

const SCALE = Math.max(1, Number(process.env.LABEDGE_FUZZ_SCALE ?? '1') || 1);

function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FRAMING = new Set([0x02, 0x03, 0x17, 0x04, 0x05]);
function safeByte(rand: () => number): number {
  for (;;) {
    const b = Math.floor(rand() * 256);
    if (!FRAMING.has(b)) return b;
  }
}

interface Plan {
  seed: number;
  maxTextPerFrame: number;
  corrupt: number;
  noise: number;
  hostSends: boolean;
  instrumentSends: boolean;
}

interface Delivery {
  text: string;
  complete: boolean;
}

function runPair(hostRecords: string[], instrumentRecords: string[], plan: Plan) {
  const rand = prng(plan.seed);
  const clock = new FakeClock();
  const tasks: (() => void)[] = [];
  const got: Record<'host' | 'instrument', Delivery[]> = { host: [], instrument: [] };
  const results: Partial<Record<'host' | 'instrument', LinkSendResult>> = {};
  const links: Partial<Record<'host' | 'instrument', E1381Link>> = {};

  const lineTo = (target: 'host' | 'instrument', bytes: Uint8Array, isReply: boolean) => {
    const out = Buffer.from(bytes);
    // Replies (single control bytes) travel clean; frames may be hit.
    if (!isReply && rand() < plan.noise) {
      const noise = Uint8Array.from({ length: 1 + Math.floor(rand() * 6) }, () => safeByte(rand));
      tasks.push(() => links[target]?.consume(noise));
    }
    if (!isReply && rand() < plan.corrupt) {
      const at = Math.floor(rand() * out.length);
      if (!FRAMING.has(out[at] as number)) {
        let b = out[at] as number;
        while (b === out[at]) b = safeByte(rand);
        out[at] = b;
      }
    }
    for (let at = 0; at < out.length; ) {
      const n = 1 + Math.floor(rand() * Math.min(out.length - at, rand() < 0.5 ? 3 : 300));
      const piece = out.subarray(at, at + n);
      tasks.push(() => links[target]?.consume(piece));
      at += n;
    }
  };
  for (const role of ['host', 'instrument'] as const) {
    const peer = role === 'host' ? 'instrument' : 'host';
    links[role] = new E1381Link({
      clock,
      role,
      maxTextPerFrame: plan.maxTextPerFrame,
      maxAttempts: 3,
      write: (bytes) => lineTo(peer, bytes, bytes.length === 1),
      onMessage: (m, settle) => {
        got[role].push({ text: m.text.toString('latin1'), complete: m.complete });
        if (m.complete) tasks.push(() => settle(true));
      },
    });
  }
  if (plan.hostSends) links.host?.enqueue(hostRecords, {}, (r) => (results.host = r));
  if (plan.instrumentSends) links.instrument?.enqueue(instrumentRecords, {}, (r) => (results.instrument = r));
  const want = (plan.hostSends ? 1 : 0) + (plan.instrumentSends ? 1 : 0);
  for (let round = 0; round < 5000 && Object.keys(results).length < want; round++) {
    while (tasks.length > 0) (tasks.shift() as () => void)();
    clock.advance(250);
  }
  while (tasks.length > 0) (tasks.shift() as () => void)();
  return { got, results, links, clock };
}

const textChar = fc.oneof(fc.integer({ min: 0x20, max: 0x7e }), fc.integer({ min: 0xa0, max: 0xff }));
const body = fc.array(
  fc.array(textChar, { maxLength: 400 }).map((c) => 'R|' + String.fromCharCode(...c)),
  { maxLength: 4 },
);

function checkDirection(records: string[], deliveries: Delivery[], result: LinkSendResult | undefined): void {
  assert.ok(result, 'the sender always hears the outcome');
  const expected = records.join('\r') + '\r';
  const complete = deliveries.filter((d) => d.complete);
  for (const d of complete) assert.equal(d.text, expected, 'a delivered message is intact');
  for (const d of deliveries.filter((x) => !x.complete)) assert.ok(expected.startsWith(d.text), 'a partial is a prefix, flagged incomplete');
  if (result.ok) assert.equal(complete.length, 1, 'success: committed exactly once');
  else assert.equal(complete.length, 0, 'failure: never committed');
}

test('link ↔ link over a noisy line: exactly once and intact, or not at all with the sender told so', () => {
  fc.assert(
    fc.property(
      body,
      body,
      fc.record({
        seed: fc.integer(),
        maxTextPerFrame: fc.constantFrom(240, 40, 9),
        corrupt: fc.constantFrom(0, 0.1, 0.4, 0.9),
        noise: fc.constantFrom(0, 0.2, 0.6),
        hostSends: fc.boolean(),
        instrumentSends: fc.boolean(),
      }),
      (hostBody, instrumentBody, plan) => {
        const hostRecords = ['H|\\^&|||host', ...hostBody, 'L|1|N'];
        const instrumentRecords = ['H|\\^&|||analyzer', ...instrumentBody, 'L|1|N'];
        const { got, results, links, clock } = runPair(hostRecords, instrumentRecords, plan);
        if (plan.instrumentSends) checkDirection(instrumentRecords, got.host, results.instrument);
        else assert.equal(got.host.length, 0);
        if (plan.hostSends) checkDirection(hostRecords, got.instrument, results.host);
        else assert.equal(got.instrument.length, 0);
        if (plan.corrupt === 0) {
          if (plan.instrumentSends) assert.equal(results.instrument?.ok, true, 'a clean line always delivers');
          if (plan.hostSends) assert.equal(results.host?.ok, true, 'a clean line always delivers');
        }
        links.host?.destroy();
        links.instrument?.destroy();
        assert.equal(clock.pendingTimers(), 0);
      },
    ),
    { numRuns: 300 * SCALE },
  );
});

/** One step of the "return to neutral" walk. */
const event = fc.oneof(
  fc.record({ kind: fc.constant('bytes' as const), bytes: fc.array(fc.constantFrom(0x02, 0x03, 0x04, 0x05, 0x06, 0x15, 0x17, 0x0d, 0x0a, 0x31, 0x41, 0x4c, 0x7c), { maxLength: 12 }) }),
  fc.record({ kind: fc.constant('frame' as const), fn: fc.integer({ min: 0, max: 7 }), last: fc.boolean(), end: fc.boolean() }),
  fc.record({ kind: fc.constant('send' as const), deadline: fc.option(fc.integer({ min: 0, max: 120_000 }), { nil: undefined }) }),
  fc.record({ kind: fc.constant('settle' as const), ok: fc.boolean() }),
  fc.record({ kind: fc.constant('interrupt' as const) }),
  fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 40_000 }) }),
);

test('from any reachable state the link returns to neutral: nothing queued, no timer left', () => {
  fc.assert(
    fc.property(fc.array(event, { maxLength: 60 }), (events) => {
      const clock = new FakeClock();
      const pending: SettleFn[] = [];
      const results: LinkSendResult[] = [];
      let sends = 0;
      const link = new E1381Link({ clock, write: () => undefined, onMessage: (_m, settle) => pending.push(settle) });
      for (const e of events) {
        switch (e.kind) {
          case 'bytes':
            link.consume(Uint8Array.from(e.bytes));
            break;
          case 'frame':
            link.consume(frame(e.fn, e.last ? 'L|1|N\r' : 'R|1|^^^X|1\r', { end: e.end ? 'ETX' : 'ETB' }));
            break;
          case 'send':
            sends++;
            link.enqueue(['H|\\^&', 'L|1|N'], e.deadline === undefined ? {} : { deadline: clock.now() + e.deadline }, (r) => results.push(r));
            break;
          case 'settle':
            pending.shift()?.(e.ok);
            break;
          case 'interrupt':
            link.interruptPeer();
            break;
          case 'advance':
            clock.advance(e.ms);
            break;
        }
      }
      // The store always answers in the end; then the instrument falls silent.
      while (pending.length > 0) (pending.shift() as SettleFn)(true);
      clock.advance(60 * 60 * 1000);
      assert.equal(link.state, 'neutral');
      assert.equal(link.pending, 0);
      assert.equal(results.length, sends, 'every queued message was answered');
      assert.equal(clock.pendingTimers(), 0);
      link.destroy();
    }),
    { numRuns: 500 * SCALE },
  );
});
