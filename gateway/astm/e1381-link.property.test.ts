/**
 * Property tests: sender → receiver over a simulated serial line that splits reads at
 * random, corrupts bytes and injects noise; and fuzzing of the receiver's consume().
 *
 * What the line may do, and why some damage is left out: E1381 protects frame text with a
 * one-byte sum and protects nothing else. No receiver can survive
 *  - a corruption that creates STX, ETX or ETB inside a frame (a false frame start or end
 *    whose following bytes happen to form a valid checksum),
 *  - ENQ or EOT out of nowhere (they are indistinguishable from the real session events),
 *  - a NAK turned into ACK (the sender moves on past a frame the receiver refused).
 * Those are protocol limits, not implementation bugs, so the channel never produces them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FakeClock } from '../core/clock.js';
import { E1381Receiver } from './e1381-receiver.js';
import { E1381Sender, type SendResult } from './e1381-sender.js';
import { frame } from '../../test/harness/e1381-kit.js';

/** Run counts scale with LABEDGE_FUZZ_SCALE (CI: 1; a long local run: 100). */
const SCALE = Math.max(1, Number(process.env.LABEDGE_FUZZ_SCALE ?? '1') || 1);

/** A small deterministic PRNG, so each fast-check case replays exactly. */
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

const FORBIDDEN_SUBSTITUTES = new Set([0x02, 0x03, 0x17, 0x04, 0x05]);
const FORBIDDEN_NOISE = new Set([0x02, 0x04, 0x05]);

function randomByte(rand: () => number, forbidden: Set<number>): number {
  for (;;) {
    const b = Math.floor(rand() * 256);
    if (!forbidden.has(b)) return b;
  }
}

interface LinkPlan {
  seed: number;
  maxTextPerFrame: number;
  corruptWrite: number;
  noise: number;
  replyDamage: number;
  settleMode: 'sync' | 'deferred' | 'reject-first';
}

interface Delivery {
  text: string;
  complete: boolean;
  committed: boolean;
}

async function runLink(records: string[], plan: LinkPlan): Promise<{ result: SendResult; deliveries: Delivery[] }> {
  const rand = prng(plan.seed);
  const clock = new FakeClock();
  const tasks: (() => void)[] = [];
  const deliveries: Delivery[] = [];
  let rejectedOnce = false;

  const receiver = new E1381Receiver({
    clock,
    write(bytes) {
      let b = bytes[0] as number;
      if (rand() < plan.replyDamage) {
        // ACK may become NAK, EOT or junk; NAK may only become junk.
        const r = rand();
        if (b === 0x06) b = r < 0.34 ? 0x15 : r < 0.5 ? 0x04 : 0x41 + Math.floor(r * 20);
        else b = 0x41 + Math.floor(r * 20);
      }
      tasks.push(() => sender.consume(Uint8Array.of(b)));
    },
    onMessage(message, settle) {
      const d: Delivery = { text: message.text.toString('latin1'), complete: message.complete, committed: false };
      deliveries.push(d);
      if (!message.complete) return;
      const commit = !(plan.settleMode === 'reject-first' && !rejectedOnce);
      rejectedOnce = true;
      const doSettle = () => {
        d.committed = commit;
        settle(commit);
      };
      if (plan.settleMode === 'sync') doSettle();
      else tasks.push(doSettle);
    },
  });

  const sender = new E1381Sender({
    clock,
    maxTextPerFrame: plan.maxTextPerFrame,
    write(bytes) {
      const out = Buffer.from(bytes);
      if (rand() < plan.noise) {
        const noise = Array.from({ length: 1 + Math.floor(rand() * 8) }, () => randomByte(rand, FORBIDDEN_NOISE));
        tasks.push(() => receiver.consume(Uint8Array.from(noise)));
      }
      if (rand() < plan.corruptWrite) {
        const at = Math.floor(rand() * out.length);
        let b = out[at] as number;
        while (b === out[at]) b = randomByte(rand, FORBIDDEN_SUBSTITUTES);
        out[at] = b;
      }
      for (let at = 0; at < out.length; ) {
        const n = 1 + Math.floor(rand() * Math.min(out.length - at, rand() < 0.5 ? 4 : 300));
        const piece = out.subarray(at, at + n);
        tasks.push(() => receiver.consume(piece));
        at += n;
      }
    },
  });

  let result: SendResult | undefined;
  void sender.send(records).then((r) => (result = r));
  for (let rounds = 0; rounds < 2000; rounds++) {
    while (tasks.length > 0) (tasks.shift() as () => void)();
    for (let i = 0; i < 4; i++) await Promise.resolve();
    if (result && tasks.length === 0) break;
    clock.advance(1000);
  }
  receiver.destroy();
  assert.ok(result, 'the sender always finishes');
  return { result, deliveries };
}

const textChar = fc.oneof(
  fc.integer({ min: 0x20, max: 0x7e }),
  fc.integer({ min: 0xa0, max: 0xff }),
);
const recordText = fc.array(textChar, { maxLength: 600 }).map((codes) => 'R|' + String.fromCharCode(...codes));

test('sender → noisy line → receiver: the message arrives exactly once and intact, or the sender reports failure', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(recordText, { minLength: 0, maxLength: 5 }),
      fc.record({
        seed: fc.integer(),
        maxTextPerFrame: fc.constantFrom(240, 64, 17),
        corruptWrite: fc.constantFrom(0, 0.05, 0.25),
        noise: fc.constantFrom(0, 0.1, 0.4),
        replyDamage: fc.constantFrom(0, 0.05, 0.2),
        settleMode: fc.constantFrom('sync' as const, 'deferred' as const, 'reject-first' as const),
      }),
      async (body, plan) => {
        const records = ['H|\\^&|||sim', ...body, 'L|1|N'];
        const expected = records.join('\r') + '\r';
        const { result, deliveries } = await runLink(records, plan);
        const complete = deliveries.filter((d) => d.complete);
        for (const d of complete) assert.equal(d.text, expected, 'a delivered message is intact');
        const committed = complete.filter((d) => d.committed);
        for (const d of deliveries.filter((x) => !x.complete)) assert.ok(expected.startsWith(d.text), 'a partial is a prefix');
        if (result.ok) {
          assert.equal(committed.length, 1, 'committed exactly once');
          assert.equal(deliveries.filter((d) => !d.complete).length, 0);
        } else {
          assert.ok(committed.length <= 1, 'never committed twice');
        }
        const clean = plan.corruptWrite === 0 && plan.replyDamage === 0;
        if (clean) assert.deepEqual(result, { ok: true }, 'a clean line always succeeds');
      },
    ),
    { numRuns: 500 * SCALE },
  );
});

/** Byte soup biased towards the link's own vocabulary, plus valid and damaged frames. */
const segment = fc.oneof(
  fc.uint8Array({ maxLength: 40 }),
  fc.array(fc.constantFrom(0x02, 0x03, 0x04, 0x05, 0x06, 0x0a, 0x0d, 0x15, 0x17, 0x31, 0x32, 0x4c, 0x7c, 0x41), {
    maxLength: 40,
  }).map((a) => Uint8Array.from(a)),
  fc
    .tuple(fc.integer({ min: 0, max: 7 }), fc.string({ maxLength: 90 }), fc.boolean(), fc.boolean())
    .map(([fn, s, etb, terminator]) =>
      // eslint-disable-next-line no-control-regex -- strip control bytes so the frame is valid
      frame(fn, (terminator ? 'L|1|N' : s.replace(/[\x00-\x1f]/g, '')) + '\r', { end: etb ? 'ETB' : 'ETX' }),
    ),
  fc.constant(Uint8Array.of(0x05)),
  fc.constant(Uint8Array.of(0x04)),
);

test('fuzz: consume() never throws and buffered bytes stay bounded', () => {
  const maxFrameBytes = 64;
  const maxMessageBytes = 300;
  const bound = maxFrameBytes + 64 + 2 * (maxFrameBytes - 7) + maxMessageBytes;
  fc.assert(
    fc.property(
      fc.array(segment, { maxLength: 40 }),
      fc.integer(),
      fc.constantFrom('sync-true', 'sync-false', 'later', 'never'),
      (segments, seed, settleMode) => {
        const rand = prng(seed);
        const clock = new FakeClock();
        const pending: ((c: boolean) => void)[] = [];
        const receiver = new E1381Receiver({
          clock,
          maxFrameBytes,
          maxMessageBytes,
          write: () => undefined,
          onEvent: () => undefined,
          onMessage(_m, settle) {
            if (settleMode === 'sync-true') settle(true);
            else if (settleMode === 'sync-false') settle(false);
            else if (settleMode === 'later') pending.push(settle);
          },
        });
        for (const seg of segments) {
          for (let at = 0; at < seg.length; ) {
            const n = 1 + Math.floor(rand() * (seg.length - at));
            receiver.consume(seg.subarray(at, at + n));
            at += n;
            assert.ok(receiver.bufferedBytes <= bound, `${receiver.bufferedBytes} > ${bound}`);
          }
          if (rand() < 0.2) clock.advance(Math.floor(rand() * 40_000));
          if (pending.length > 0 && rand() < 0.5) (pending.shift() as (c: boolean) => void)(rand() < 0.7);
        }
        receiver.destroy();
        assert.equal(clock.pendingTimers(), 0);
      },
    ),
    { numRuns: 400 * SCALE },
  );
});

test('fuzz: the sender ignores any reply bytes it does not expect, without throwing', () => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 8 }), { maxLength: 60 }), fc.integer(), (chunks, seed) => {
      const rand = prng(seed);
      const clock = new FakeClock();
      const sender = new E1381Sender({ clock, write: () => undefined });
      void sender.send(['H|\\^&', 'R|1|' + 'x'.repeat(500), 'L|1|N']);
      for (const c of chunks) {
        sender.consume(c);
        if (rand() < 0.3) clock.advance(Math.floor(rand() * 20_000));
      }
      sender.destroy();
      assert.equal(clock.pendingTimers(), 0);
    }),
    { numRuns: 300 * SCALE },
  );
});
