/**
 * One test per real-world quirk Q1–Q19 of ../shared/research/astm.md §3, each written from the
 * quirk's description and generalised to the whole kind of fault (property tests where the fault
 * has a shape). docs/astm-quirks.md maps every quirk to all of its tests, here and elsewhere.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Observation } from '@medplum/fhirtypes';
import { FakeClock } from '../core/clock.js';
import { escapeWire } from '../../test/harness/astm-fixtures.js';
import { ENQ_BYTE, EOT_BYTE, feedBytewise, frame, receiverRig } from '../../test/harness/e1381-kit.js';
import { convertAstm } from '../fhir/astm-to-fhir.js';
import { frameChecksum, formatChecksum } from './checksum.js';
import { E1381Link } from './e1381-link.js';
import { E1381Sender, type SendResult } from './e1381-sender.js';
import { encodeFrames } from './frame-encoder.js';
import { splitMessages } from './message.js';
import { decodeText } from './text-decode.js';
import { AstmLine, type AstmLineOptions, type LineMessage } from './astm-line.js';
import { DEFAULT_DELIMITERS, type Delimiters } from './delimiters.js';
import { encodeEscapes } from './escape.js';
import { AstmQueryResponder } from '../daemon/astm-query-responder.js';
import { FhirSearch } from '../uplink/fhir-search.js';
import { mappingProfile, prepareInbound } from '../profiles/prepare-inbound.js';
import { resolveProfile } from '../profiles/resolve.js';

const ACK = Uint8Array.of(0x06);
const NAK = Uint8Array.of(0x15);

const textByte = fc.oneof(fc.integer({ min: 0x20, max: 0x7e }), fc.integer({ min: 0xa0, max: 0xff }));
const recordsText = fc
  .array(fc.array(textByte, { minLength: 1, maxLength: 80 }), { minLength: 1, maxLength: 6 })
  .map((records) => Buffer.concat([Buffer.from('H|\\^&\r'), ...records.map((r) => Buffer.concat([Buffer.from('R|'), Buffer.from(r), Buffer.of(0x0d)])), Buffer.from('L|1|N\r')]));

/** Cuts text into frames at the given (sorted, unique) offsets: ETB frames, ETX last, FN 1..7,0… */
function framesAt(text: Buffer, cuts: readonly number[]): Buffer[] {
  const bounds = [...new Set(cuts.map((c) => Math.max(1, Math.min(text.length - 1, c))))].sort((a, b) => a - b);
  const pieces: Buffer[] = [];
  let at = 0;
  for (const c of [...bounds, text.length]) {
    if (c <= at) continue;
    pieces.push(text.subarray(at, c));
    at = c;
  }
  return pieces.map((p, i) => frame((i + 1) & 7, p, { end: i === pieces.length - 1 ? 'ETX' : 'ETB' }));
}

test('Q1: several records per frame and ETB anywhere (mid-field, inside L|1|N): frame texts are joined, then split on CR', () => {
  fc.assert(
    fc.property(recordsText, fc.array(fc.nat(), { maxLength: 30 }), (text, raw) => {
      const rig = receiverRig({ autoSettle: true });
      rig.receiver.consume(Buffer.concat([ENQ_BYTE, ...framesAt(text, raw.map((n) => n % text.length)), EOT_BYTE]));
      assert.equal(rig.messages.length, 1);
      assert.ok(rig.messages[0]?.text.equals(text), 'the text arrives byte for byte');
      assert.ok(!rig.takeReplies().includes('NAK'));
      const [m] = splitMessages(rig.messages[0]!.text.toString('latin1'));
      assert.equal(m?.terminator?.text, 'L|1|N');
    }),
    { numRuns: 300 },
  );
});

test('Q2: ETB at every record boundary (cobas c111) or one record per ETX frame (Sysmex): one message at the terminator', () => {
  const records = ['H|\\^&', 'P|1', 'O|1|S1', 'R|1|^^^413|40.13|g/L', 'C|1|I||I', 'M|1|RR', 'L|1|N'];
  const etbEach = records.map((r, i) => frame((i + 1) & 7, r + '\r', { end: i === records.length - 1 ? 'ETX' : 'ETB' }));
  const etxEach = records.map((r, i) => frame((i + 1) & 7, r + '\r'));
  for (const frames of [etbEach, etxEach]) {
    const rig = receiverRig({ autoSettle: true });
    rig.receiver.consume(ENQ_BYTE);
    for (const [i, f] of frames.entries()) {
      rig.receiver.consume(f);
      assert.equal(rig.messages.length, i === frames.length - 1 ? 1 : 0, 'nothing is delivered before the terminator');
    }
    assert.equal(rig.messages[0]?.text.toString('latin1'), records.join('\r') + '\r');
    assert.equal(rig.takeReplies(), '<ACK>'.repeat(8));
  }
});

test('Q3: however the bytes are cut into reads (1 byte, many frames, many sessions per read), the result is the same', () => {
  fc.assert(
    fc.property(fc.array(recordsText, { minLength: 1, maxLength: 3 }), fc.array(fc.integer({ min: 1, max: 64 }), { maxLength: 200 }), (texts, sizes) => {
      const stream = Buffer.concat(texts.map((t) => Buffer.concat([ENQ_BYTE, ...encodeFrames([t.subarray(0, -1)], 17), EOT_BYTE])));
      const reference = receiverRig({ autoSettle: true });
      feedBytewise(reference.receiver, stream);
      const rig = receiverRig({ autoSettle: true });
      let at = 0;
      for (const n of sizes) {
        rig.receiver.consume(stream.subarray(at, at + n));
        at += n;
      }
      rig.receiver.consume(stream.subarray(at));
      assert.deepEqual(rig.messages.map((m) => m.text.toString('latin1')), texts.map((t) => t.toString('latin1')));
      assert.equal(rig.takeReplies(), reference.takeReplies());
    }),
    { numRuns: 200 },
  );
});

test('Q4: a damaged byte in any frame, intermediate (ETB) frames included, is refused, never ACKed; the resent frame completes the message', () => {
  const FRAMING = new Set([0x02, 0x03, 0x04, 0x05, 0x17]);
  fc.assert(
    fc.property(recordsText, fc.nat(), fc.nat(), fc.integer({ min: 1, max: 255 }), (text, which, where, delta) => {
      const frames = encodeFrames([text.subarray(0, -1)], 13);
      const index = which % frames.length;
      const good = frames[index] as Buffer;
      const bad = Buffer.from(good);
      const at = 1 + (where % (good.length - 3)); // FN .. C2: what the checksum protects, and the checksum itself
      bad[at] = ((bad[at] as number) + delta) & 0xff;
      fc.pre(!FRAMING.has(bad[at] as number) && !FRAMING.has(good[at] as number));
      // A checksum digit changed only in case is not damage: the receiver reads hex in either case (Q5).
      const checksumDigit = at >= good.length - 4;
      fc.pre(!(checksumDigit && String.fromCharCode(bad[at] as number).toUpperCase() === String.fromCharCode(good[at] as number).toUpperCase()));
      const rig = receiverRig({ autoSettle: true });
      rig.receiver.consume(ENQ_BYTE);
      for (const f of frames.slice(0, index)) rig.receiver.consume(f);
      rig.takeReplies();
      rig.receiver.consume(bad);
      // Refused: NAKed, or, when the damage made an LF right after two hex digits (exactly what a
      // frame whose ETX was lost looks like), dropped without a reply so the sender's 15 s timer
      // resends it (see FrameProgress.Abandon). Never ACKed.
      const reply = rig.takeReplies();
      const abandoned = rig.events.some((e) => e.kind === 'frame-abandoned');
      assert.ok(reply === '<NAK>' || (reply === '' && abandoned && bad[at] === 0x0a), `frame ${index + 1} of ${frames.length} is refused (${reply})`);
      for (const f of frames.slice(index)) rig.receiver.consume(f);
      assert.equal(rig.messages.length, 1);
      assert.ok(rig.messages[0]?.text.equals(text));
    }),
    {
      numRuns: 400,
      // Found by this property: `é` + 33 is LF, after the text `00` (a lost-ETX trailer shape).
      examples: [
        [Buffer.from('H|\\^&\rR|\xa0\xa0\xa0  \xa0   \xa0 \rR|  \rR|\xa0  00\xe9\rR| \rR| \xa0\xa0 \xa0\xa0\rL|1|N\r', 'latin1'), 1879048192, 24, 33],
        // Also found by it: 'E' + 32 is 'e' in the checksum, the same checksum (excluded above).
        [Buffer.from([72, 124, 92, 94, 38, 13, 82, 124, 160, 160, 32, 13, 82, 124, 32, 32, 160, 32, 13, 76, 124, 49, 124, 78, 13]), 1589260779, 15, 32],
      ],
    },
  );
});

test('Q5: checksums sum raw bytes (latin-1 as is), either hex case is accepted, the sender writes upper case', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 1, maxLength: 60 }).map((b) => Buffer.from(b.map((x) => (x < 0x20 ? x + 0x20 : x)))), fc.boolean(), (text, lower) => {
      const body = Buffer.concat([Buffer.from('1'), text, Buffer.of(0x0d, 0x03)]);
      const sum = formatChecksum(frameChecksum(body, 0, body.length));
      assert.match(sum, /^[0-9A-F]{2}$/);
      const rig = receiverRig({ autoSettle: true });
      rig.receiver.consume(Buffer.concat([ENQ_BYTE, frame(1, Buffer.concat([text, Buffer.of(0x0d)]), { checksum: lower ? sum.toLowerCase() : sum })]));
      assert.equal(rig.takeReplies(), '<ACK><ACK>');
      const [sent] = encodeFrames([text], 240);
      assert.equal(escapeWire(sent!.subarray(-4, -2)), sum, 'the sender emits the same digits, upper case');
    }),
    { numRuns: 300 },
  );
  // The research's example: a latin-1 name keeps its byte; the text is decoded only after framing.
  const muller = Buffer.from('P|1||||M\xfcller\r', 'latin1');
  const rig = receiverRig({ autoSettle: true });
  rig.receiver.consume(Buffer.concat([ENQ_BYTE, frame(1, Buffer.concat([muller, Buffer.from('L|1|N\r')]))]));
  assert.equal(decodeText(rig.messages[0]!.text, 'latin1').split('\r')[0], 'P|1||||Müller');
});

test('Q6: any pattern of up to 5 NAKs or silences per frame: the same bytes are resent, not the next frame; 15 s, not 15 ms', () => {
  fc.assert(
    fc.property(fc.array(fc.array(fc.constantFrom('nak' as const, 'silence' as const), { maxLength: 5 }), { minLength: 1, maxLength: 6 }), (plan) => {
      const clock = new FakeClock();
      const writes: Buffer[] = [];
      let result: SendResult | undefined;
      const sender = new E1381Sender({ clock, maxTextPerFrame: 5, write: (b) => writes.push(Buffer.from(b)) });
      const text = 'R|'.padEnd(5 * plan.length - 1, 'x');
      sender.transmit([text], (r) => (result = r));
      sender.consume(ACK);
      for (const faults of plan) {
        const frameBytes = writes.at(-1) as Buffer;
        for (const fault of faults) {
          const before = writes.length;
          if (fault === 'nak') sender.consume(NAK);
          else {
            clock.advance(14_999);
            assert.equal(writes.length, before, 'nothing resent before 15 s');
            clock.advance(1);
          }
          assert.ok((writes.at(-1) as Buffer).equals(frameBytes), 'the same frame, same FN');
        }
        sender.consume(ACK);
      }
      assert.deepEqual(result, { ok: true });
    }),
    { numRuns: 200 },
  );
});

test('Q7: every wrong checksum is NAKed, EOT is never answered, frame texts are joined without added bytes', () => {
  const good = frame(1, 'H|\\^&\rL|1|N\r');
  const sum = Number.parseInt(good.subarray(-4, -2).toString('latin1'), 16);
  for (let wrong = 0; wrong < 256; wrong++) {
    if (wrong === sum) continue;
    const rig = receiverRig({ autoSettle: true });
    rig.receiver.consume(Buffer.concat([ENQ_BYTE, frame(1, 'H|\\^&\rL|1|N\r', { checksum: formatChecksum(wrong) })]));
    assert.equal(rig.takeReplies(), '<ACK><NAK>');
    assert.equal(rig.messages.length, 0);
  }
  const rig = receiverRig({ autoSettle: true });
  rig.receiver.consume(Buffer.concat([ENQ_BYTE, frame(1, 'R|1|^^^7/1/no', { end: 'ETB' }), frame(2, 't|9.61\rL|1|N\r'), EOT_BYTE, EOT_BYTE]));
  assert.equal(rig.takeReplies(), '<ACK><ACK><ACK>', 'no reply to EOT');
  assert.equal(rig.messages[0]?.text.toString('latin1'), 'R|1|^^^7/1/not|9.61\rL|1|N\r');
});

test('Q12: empty sessions (ENQ then EOT), any number of them, deliver nothing and leave the link neutral', () => {
  const clock = new FakeClock();
  const written: number[] = [];
  let messages = 0;
  const link = new E1381Link({ clock, write: (b) => written.push(...b), onMessage: () => messages++ });
  for (let i = 0; i < 50; i++) link.consume(Buffer.concat([ENQ_BYTE, EOT_BYTE]));
  assert.equal(messages, 0);
  assert.equal(link.state, 'neutral');
  assert.equal(Buffer.from(written).toString('latin1'), '\x06'.repeat(50));
  link.destroy();
});

test('Q14: a whole message in one frame up to the LIS01-A2 64,000 (configurable); past it NAK; the sender keeps 240 unless told', () => {
  const text = (n: number) => 'H|\\^&\r' + 'R|1|'.padEnd(n - 13, 'v') + '\rL|1|N\r';
  const big = receiverRig({ autoSettle: true });
  big.receiver.consume(Buffer.concat([ENQ_BYTE, frame(1, text(63_993))]));
  assert.equal(big.takeReplies(), '<ACK><ACK>', '63,993 text bytes + 7 = 64,000');
  assert.equal(big.messages[0]?.text.length, 63_993);
  const over = receiverRig({ autoSettle: true });
  over.receiver.consume(Buffer.concat([ENQ_BYTE, frame(1, text(63_994))]));
  assert.equal(over.takeReplies(), '<ACK><NAK>');
  const small = receiverRig({ autoSettle: true, maxFrameBytes: 247 });
  small.receiver.consume(Buffer.concat([ENQ_BYTE, frame(1, text(241))]));
  assert.equal(small.takeReplies(), '<ACK><NAK>', 'an E1381-95 limit when configured');
  const frames = encodeFrames(text(5000).split('\r').filter(Boolean));
  assert.ok(frames.every((f) => f.length <= 247), 'default sender frames are E1381-95 size');
  assert.equal(encodeFrames([text(5000).slice(0, -1)], 63_993).length, 1, 'a configured sender sends one frame');
});

test('Q15: value formats map as values: decimal comma, comparators, padding, flag components, null dates, suppressed values', () => {
  const msg = [
    'H|\\^&|||X',
    'P|1|PID1||||18991230|M',
    'O|1|S1||^^^A\\^^^B',
    'R|1|^^^A|7,41|Ratio||||F',
    'R|2|^^^B|>8|Ratio||||F',
    'R|3|^^^C|  5.5|10*3/uL||N||F',
    'R|4|^^^D|146!  H |g/L||||F',
    'R|5|^^^E|-----|||||F',
    'R|6|^^^F|<=0.5|mg/L||||F||||18991230000000',
    'L|1|N',
  ].join('\r');
  const bundle = convertAstm(msg.replace('R|4|^^^D|146!  H |', 'R|4|^^^D|146^  H |'), { sourceId: 'x', messageId: 'm', timeZone: 'UTC' }).bundle;
  const obs = (bundle.entry ?? []).map((e) => e.resource).filter((r): r is Observation => r?.resourceType === 'Observation');
  const v = obs.map((o) => [o.valueQuantity?.comparator ?? '', o.valueQuantity?.value ?? o.valueString ?? o.dataAbsentReason?.coding?.[0]?.code]);
  assert.deepEqual(v, [['', 7.41], ['>', 8], ['', 5.5], ['', 146], ['', 'error'], ['<=', 0.5]]);
  assert.equal(obs[3]?.interpretation?.[0]?.coding?.[0]?.code, 'H');
  assert.equal(obs[5]?.effectiveDateTime, undefined, '18991230… is no date');
  const patient = bundle.entry?.find((e) => e.resource?.resourceType === 'Patient')?.resource as { birthDate?: string };
  assert.equal(patient.birthDate, undefined);
  // Per-instrument override: an instrument that writes `.` makes `7,41` text, not 741 or 7.41.
  const strict = convertAstm(msg, { sourceId: 'x', messageId: 'm', timeZone: 'UTC', profile: { decimalMark: 'point' } }).bundle;
  const first = strict.entry?.find((e) => e.resource?.resourceType === 'Observation')?.resource as Observation;
  assert.equal(first.valueString, '7,41');
});

test('Q16: no record size limit: a 30 kB M record and an `&R&` escape inside a value cross the link and parse whole', () => {
  const m = 'M|1|HISTOGRAM|RBC|' + 'QUJD'.repeat(7500);
  const records = ['H|\\^&', 'P|1', 'O|1|S1', 'R|1|^^^IMG|PNG&R&20240628&R&x.PNG', m, 'L|1|N'];
  const rig = receiverRig({ autoSettle: true });
  rig.receiver.consume(Buffer.concat([ENQ_BYTE, ...encodeFrames(records), EOT_BYTE]));
  const [msg] = splitMessages(rig.messages[0]!.text.toString('latin1'));
  assert.equal(msg?.patients[0]?.orders[0]?.results[0]?.extras[0]?.text, m);
  assert.equal(msg?.patients[0]?.orders[0]?.results[0]?.record.field(4), 'PNG\\20240628\\x.PNG');
});

test('Q17: sloppy sequence numbers and terminators are accepted with one positional warning each; frame numbers wrap 7 → 0', () => {
  const [m] = splitMessages('H|\\^&\rP|1\rO|1|A\rR|29|^^^X|1\rR|29|^^^Y|2\rP|3\rO|1|B\rL||');
  assert.equal(m?.patients.length, 2);
  assert.deepEqual(
    m?.warnings.map((w) => `${w.position}: ${w.message}`),
    ['R.2: sequence number out of order or missing; accepted', 'P.2: sequence number out of order or missing; accepted', 'L.2: terminator without a sequence number; accepted'],
  );
  assert.deepEqual(splitMessages('H|\\^&\rP|1\rO|1\rR|1\rR|2\rP|2\rO|1\rR|1\rL|1|N')[0]?.warnings, [], 'O|1 again under each P is correct');
  const rig = receiverRig({ autoSettle: true });
  const frames = Array.from({ length: 20 }, (_, i) => frame((i + 1) & 7, i === 19 ? 'L|1|N\r' : `R|${i + 1}\r`));
  rig.receiver.consume(Buffer.concat([ENQ_BYTE, ...frames]));
  assert.equal(rig.messages.length, 1);
  assert.equal(rig.takeReplies(), '<ACK>'.repeat(21));
});

test('Q18: capture artefacts (U+FFFD bytes, stray CR LF, NUL) between frames and before EOT are skipped as junk', () => {
  const junk = Buffer.from([0xef, 0xbf, 0xbd, 0x0d, 0x0a, 0x00]);
  const rig = receiverRig({ autoSettle: true });
  rig.receiver.consume(Buffer.concat([junk, ENQ_BYTE, junk, frame(1, 'H|\\^&\r', { end: 'ETB' }), junk, frame(2, 'L|1|N\r'), junk, EOT_BYTE, junk]));
  assert.equal(rig.messages[0]?.text.toString('latin1'), 'H|\\^&\rL|1|N\r');
  assert.equal(rig.takeReplies(), '<ACK><ACK><ACK>');
  const counted = rig.events.reduce((n, e) => n + (e.kind === 'junk' ? e.bytes : 0), 0);
  assert.equal(counted, junk.length * 5);
  assert.equal(rig.receiver.state, 'neutral');
});

// ---- Q8, Q9, Q10, Q11, Q13, Q19: the whole kind of each fault, beside the narrower tests elsewhere ----

/** A line in any framing mode with a fake clock, recording what it delivers and writes. */
function lineRig(opts: Omit<AstmLineOptions, 'clock' | 'write' | 'onMessage'>) {
  const clock = new FakeClock();
  const written: number[] = [];
  const messages: LineMessage[] = [];
  const line = new AstmLine({ ...opts, clock, write: (b) => written.push(...b), onMessage: (m, settle) => (messages.push(m), settle(true)) });
  return { clock, line, written, messages };
}

/** Cuts bytes into reads of the given sizes (the rest in one read). */
function readsOf(bytes: Buffer, sizes: readonly number[]): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  for (const n of sizes) {
    if (at >= bytes.length) break;
    out.push(bytes.subarray(at, at + n));
    at += n;
  }
  if (at < bytes.length) out.push(bytes.subarray(at));
  return out;
}

const printable = fc.array(fc.oneof(fc.integer({ min: 0x20, max: 0x7e }), fc.integer({ min: 0xa0, max: 0xff })), { maxLength: 60 }).map((c) => String.fromCharCode(...c));
const reads = fc.array(fc.integer({ min: 1, max: 40 }), { maxLength: 60 });

test('Q8: records without low-level framing (raw, or auto starting at H), any line ending and read split: one message, never answered', () => {
  fc.assert(
    fc.property(fc.array(printable, { maxLength: 6 }), fc.array(fc.constantFrom('\r', '\n', '\r\n'), { minLength: 8, maxLength: 8 }), reads, fc.constantFrom('raw' as const, 'auto' as const), (body, eols, sizes, framing) => {
      const records = ['H|\\^&|||raw-sender', 'P|1', ...body.map((b, i) => `R|${i + 1}|${b}`), 'L|1|N'];
      const wire = Buffer.from(records.map((r, i) => r + (eols[i % eols.length] as string)).join(''), 'latin1');
      const r = lineRig({ framing, rawIdleMs: 5000 });
      for (const piece of readsOf(wire, sizes)) r.line.consume(piece);
      assert.deepEqual(r.messages.map((m) => [m.framing, m.complete, m.text.toString('latin1')]), [['raw', true, records.join('\r') + '\r']]);
      assert.equal(r.written.length, 0, 'no ACK/NAK exists in raw mode');
      assert.equal(r.line.state, 'neutral');
      // Without its terminator the message ends after the idle time, marked incomplete.
      const cut = lineRig({ framing, rawIdleMs: 5000 });
      cut.line.consume(wire.subarray(0, wire.length - 7));
      cut.clock.advance(4999);
      assert.equal(cut.messages.length, 0);
      cut.clock.advance(1);
      assert.deepEqual(cut.messages.map((m) => [m.framing, m.complete]), [['raw', false]]);
      assert.equal(cut.clock.pendingTimers(), 0);
    }),
    { numRuns: 200 },
  );
});

test('Q9: non-ASTM payloads (free text in STX/ETX, RS/GS key-values) are kept for quarantine, never NAKed, and the link still works', () => {
  const freeText = fc.array(fc.integer({ min: 0x20, max: 0x7e }), { minLength: 8, maxLength: 120 }).map((c) => Buffer.concat([Buffer.of(0x02), Buffer.from(c), Buffer.of(0x03)]));
  const keyValues = fc
    .array(fc.stringMatching(/^[a-z]{2}[A-Za-z0-9 .|]{2,12}$/), { minLength: 2, maxLength: 10 })
    .map((kv) => Buffer.concat([Buffer.of(0x02), ...kv.map((s) => Buffer.concat([Buffer.of(0x1e), Buffer.from(s)])), Buffer.of(0x1d), Buffer.from('b0')]));
  fc.assert(
    fc.property(fc.array(fc.oneof(freeText, keyValues), { minLength: 1, maxLength: 4 }), reads, fc.constantFrom('e1381' as const, 'auto' as const), (payloads, sizes, framing) => {
      const r = lineRig({ framing });
      for (const piece of readsOf(Buffer.concat(payloads), sizes)) r.line.consume(piece);
      r.clock.advance(2000);
      assert.deepEqual(r.messages.map((m) => [m.framing, m.adapter, m.text.toString('latin1')]), payloads.map((p) => ['foreign', null, p.toString('latin1')]), 'each payload once, as unknown');
      assert.equal(r.written.length, 0, 'nothing answered: no NAK storm');
      r.line.consume(Buffer.concat([ENQ_BYTE, frame(1, 'H|\\^&\rL|1|N\r'), EOT_BYTE]));
      assert.equal(escapeWire(Buffer.from(r.written)), '<ACK><ACK>');
      assert.equal(r.messages.at(-1)?.framing, 'e1381');
      // Quarantine, not a guess: the intake refuses an unknown payload with a reason.
      const first = r.messages[0] as LineMessage;
      const prepared = prepareInbound(first.text, { framing: first.framing, adapter: first.adapter ?? '' }, resolveProfile('generic'));
      assert.deepEqual(prepared.kind === 'reject' && prepared.reasonCode, 'unknown-payload');
    }),
    { numRuns: 200 },
  );
});

const delimiterChar = fc.constantFrom(...'|\\^&@`!~#$%*+/:;=?_{}[]'.split(''));
const delimiterSet = fc.uniqueArray(delimiterChar, { minLength: 4, maxLength: 4 }).map(([field, repeat, component, escape]): Delimiters => ({
  field: field as string, repeat: repeat as string, component: component as string, escape: escape as string,
}));

/** The same message written in the given delimiters (values escaped where they clash). */
function messageIn(d: Delimiters, specimen: string, tests: readonly { code: string; value: string }[]): string {
  const e = (s: string) => encodeEscapes(s, d);
  const r = (...f: string[]) => f.join(d.field);
  const code = (c: string) => [d.component.repeat(3), e(c)].join('');
  return [
    r('H', `${d.repeat}${d.component}${d.escape}`, '', '', `Analyzer${d.component}1`),
    r('P', '1'),
    r('O', '1', e(specimen), '', tests.map((t) => code(t.code)).join(d.repeat), 'R'),
    ...tests.map((t, i) => r('R', String(i + 1), code(t.code), e(t.value), 'mg/L', '', 'N', '', 'F')),
    r('L', '1', 'N'),
  ].join('\r');
}

test('Q10: whatever delimiters the H record declares, the message means the same (codes, repeats, values, specimen)', () => {
  const text = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9 /.|\\^&@`!~-]{0,10}$/);
  fc.assert(
    fc.property(delimiterSet, text, fc.array(fc.record({ code: text, value: text }), { minLength: 1, maxLength: 4 }), (d, specimen, tests) => {
      const [m] = splitMessages(messageIn(d, specimen, tests));
      assert.deepEqual(m?.delimiters, d);
      assert.deepEqual(m?.warnings, []);
      const order = m?.patients[0]?.orders[0];
      assert.equal(order?.record?.field(3), specimen);
      assert.deepEqual(order?.record?.structure(5).map((c) => c[3]), tests.map((t) => t.code), 'one repeat per ordered test');
      assert.deepEqual(order?.results.map((x) => [x.record.component(3, 4), x.record.field(4)]), tests.map((t) => [t.code, t.value]));
      // And through the mapping: the same Observations as the default-delimiter message.
      const fhir = (s: string) => convertAstm(s, { sourceId: 'x', messageId: 'm', timeZone: 'UTC' }).bundle.entry?.map((x) => x.resource).filter((x): x is Observation => x?.resourceType === 'Observation').map((o) => [o.code.coding?.[0]?.code, o.valueQuantity?.value ?? o.valueString]);
      assert.deepEqual(fhir(messageIn(d, specimen, tests)), fhir(messageIn(DEFAULT_DELIMITERS, specimen, tests)));
    }),
    { numRuns: 300 },
  );
});

test('Q11: a bare header, a doubled delimiter character, or repeat == component: parsed without failing, warned where mangled', () => {
  fc.assert(
    fc.property(delimiterSet, fc.constantFrom('', '|||sender'), (d, rest) => {
      const def = `${d.repeat}${d.component}${d.escape}`;
      const tail = rest.replace(/\|/g, d.field);
      const body = [['P', '1'], ['O', '1', 'S1'], ['R', '1', `${d.component.repeat(3)}GLU`, '5'], ['L', '1', 'N']].map((r) => r.join(d.field)).join('\r');
      const bare = splitMessages(`H${d.field}${def}${tail}\r${body}`)[0];
      assert.deepEqual(bare?.delimiters, d);
      assert.deepEqual(bare?.warnings, [], 'nothing after the delimiters is normal');
      const doubled = splitMessages(`H${d.field}${d.repeat}${def}${tail}\r${body}`)[0];
      assert.deepEqual(doubled?.delimiters, d, 'the logging artefact is collapsed');
      assert.deepEqual(doubled?.warnings.map((w) => w.position), ['H.2']);
      assert.equal(doubled?.patients[0]?.orders[0]?.results[0]?.record.component(3, 4), 'GLU');
      const clash = splitMessages(`H${d.field}${d.component}${d.component}${d.escape}${tail}\r${body}`)[0];
      assert.equal(clash?.delimiters.component, d.component, 'components keep their delimiter');
      assert.equal(clash?.warnings.length, 1);
      assert.equal(clash?.patients[0]?.orders[0]?.results[0]?.record.component(3, 4), 'GLU');
    }),
    { numRuns: 300 },
  );
});

test('Q13: whatever upstream does (fast, slow, silent, failing), the analyzer gets a reply before its 15 s cancel, with its query fields echoed', async () => {
  const component = fc.stringMatching(/^[A-Za-z0-9 -]{0,5}$/);
  await fc.assert(
    fc.asyncProperty(fc.array(component, { minLength: 6, maxLength: 6 }), fc.stringMatching(/^[A-Z0-9]{1,10}$/), fc.constantFrom(0, 900, 5_000, 14_000, 60_000, -1), async (echo, specimen, delayMs) => {
      const clock = new FakeClock();
      const profile = resolveProfile('roche-cobas-e411');
      const empty = JSON.stringify({ resourceType: 'Bundle', type: 'searchset', entry: [] });
      // The network hop is the only stand-in: an answer after delayMs of fake time, or an error (-1).
      const get = (): Promise<{ status: number; text: string }> => new Promise((resolve) => clock.setTimer(Math.max(0, delayMs), () => resolve(delayMs < 0 ? { status: 503, text: '' } : { status: 200, text: empty })));
      let sentAt: number | undefined;
      let reply: string[] = [];
      const responder = new AstmQueryResponder({
        sourceId: 'c1', profile, mapping: mappingProfile(profile), clock, timeZone: 'UTC', hostName: 'labedge', search: new FhirSearch({ get }, clock),
        send: (records) => {
          sentAt = clock.now();
          reply = records;
          return Promise.resolve({ ok: true, attempts: 1 });
        },
      });
      const q = `H|\\^&|||cobas-e411^1|||||host|TSREQ^REAL|P|1\rQ|1|^^${specimen}^${echo.join('^')}||ALL||||||||O\rL|1|N\r`;
      const done = responder.answer(q, 0);
      for (let t = 0; t < 20_000 && sentAt === undefined; t += 100) {
        for (let i = 0; i < 5; i++) await Promise.resolve();
        clock.advance(100);
      }
      const [outcome] = await done;
      assert.equal(outcome?.outcome, 'sent');
      assert.ok(sentAt !== undefined && sentAt < 15_000, 'before the cobas cancels');
      const order = splitMessages(reply.join('\r'))[0]?.patients[0]?.orders[0]?.record;
      assert.equal(order?.field(3), specimen);
      assert.deepEqual(order?.components(4), echo.map((c) => c), 'sequence, carrier, position unchanged');
      assert.equal(splitMessages(reply.join('\r'))[0]?.header?.field(11), 'TSDWN^REPLY');
    }),
    { numRuns: 60 },
  );
});

test('Q19: the sender\'s bytes are golden: every frame carries its text, FN 1..7,0, upper-case checksum over FN..ETX/ETB, CR LF', () => {
  // The research's vectors, byte for byte.
  assert.equal(escapeWire(encodeFrames(['A|B|C|D'])[0] as Buffer), '<STX>1A|B|C|D<CR><ETX>BF<CR><LF>');
  const r = '5R|2|^^^1.0000+950+1.0|15|||^5^||V||34001637|20080516153540|20080516153602|34001637';
  const body = Buffer.from(r + '\r\x03', 'latin1');
  assert.equal(formatChecksum(frameChecksum(body, 0, body.length)), '3D');
  fc.assert(
    fc.property(fc.array(printable.map((s) => `R|${s}`), { minLength: 1, maxLength: 12 }), fc.integer({ min: 1, max: 240 }), (records, max) => {
      const frames = encodeFrames(records, max);
      let text = '';
      frames.forEach((f, i) => {
        assert.equal(f[0], 0x02);
        assert.equal(f[1], 0x30 + ((i + 1) & 7), 'FN from 1, wrapping 7 → 0');
        const end = f.length - 5;
        assert.equal(f[end], i === frames.length - 1 || f[end - 1] === 0x0d ? 0x03 : 0x17);
        assert.ok(end - 2 >= 1 && end - 2 <= max, 'text present and within the frame size');
        assert.equal(f.subarray(end + 1, end + 3).toString('latin1'), formatChecksum(frameChecksum(f, 1, end + 1)));
        assert.match(f.subarray(end + 1, end + 3).toString('latin1'), /^[0-9A-F]{2}$/);
        assert.deepEqual([...f.subarray(-2)], [0x0d, 0x0a]);
        text += f.subarray(2, end).toString('latin1');
      });
      assert.equal(text, records.join('\r') + '\r', 'the frames carry exactly the records');
    }),
    { numRuns: 300 },
  );
});
