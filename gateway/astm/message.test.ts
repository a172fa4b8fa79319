import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import fc from 'fast-check';
import { buildMessage, splitMessages } from './message.js';
import { parseRecords } from './records.js';

const fixture = (name: string): string => readFileSync(new URL(`../../test/fixtures/astm/${name}`, import.meta.url), 'latin1');

test('H → P → O → R hierarchy with comments attached to what they follow', () => {
  const text = 'H|\\^&\rC|1|L|header note\rP|1|A\rC|1|L|patient note\rO|1|S1||^^^X\rR|1|^^^X|1\rC|1|I|result note\rM|1|extra\rR|2|^^^Y|2\rO|2|S1||^^^Z\rC|1|L|order note\rL|1|N';
  const [m] = splitMessages(text);
  assert.ok(m);
  assert.equal(m.header?.type, 'H');
  assert.equal(m.headerNode.comments.length, 1);
  assert.equal(m.patients.length, 1);
  const p = m.patients[0];
  assert.equal(p?.comments[0]?.field(4), 'patient note');
  assert.equal(p?.orders.length, 2);
  assert.equal(p?.orders[0]?.results.length, 2);
  assert.equal(p?.orders[0]?.results[0]?.comments[0]?.field(4), 'result note');
  assert.equal(p?.orders[0]?.results[0]?.extras[0]?.type, 'M');
  assert.equal(p?.orders[1]?.comments[0]?.field(4), 'order note');
  assert.equal(m.terminator?.field(3), 'N');
  assert.deepEqual(m.warnings, []);
});

test('multi-patient message with O|1 resetting under each P (Q17)', () => {
  const [m] = splitMessages(fixture('goastm-euroimmun-analyzer1.astm'));
  assert.equal(m?.patients.length, 20);
  assert.ok(m?.patients.every((p) => p.orders.length === 1 && p.orders[0]?.results.length === 1));
});

test('orphans get implicit parents with warnings; L|| and bare L terminate', () => {
  const m = buildMessage(parseRecords('H|\\^&\rR|1|^^^A|1\rO|1|S\rL||').records);
  assert.equal(m.patients.length, 1);
  assert.equal(m.patients[0]?.record, undefined);
  assert.equal(m.patients[0]?.orders.length, 2);
  assert.equal(m.patients[0]?.orders[0]?.record, undefined);
  assert.equal(m.terminator?.rawField(2), '');
  assert.deepEqual(
    m.warnings.map((w) => w.message),
    [
      'R record without a preceding O; implicit order',
      'R record without a preceding P; implicit patient',
      'terminator without a sequence number; accepted',
    ],
  );
});

test('splitMessages: several H … L messages, Q records, records after a bare L', () => {
  const dxh = splitMessages(fixture('chistousov-beckman-dxh.astm'));
  assert.equal(dxh.length, 3);
  assert.equal(dxh[0]?.queries.length, 1);
  assert.equal(dxh[2]?.patients[0]?.orders[0]?.results.length, 28);
  assert.equal(dxh[2]?.patients[0]?.orders[0]?.comments.length, 1);
  const tg = splitMessages(fixture('tgenaux-escape-and-repeat.astm'));
  assert.equal(tg.length, 2);
  assert.equal(tg[0]?.terminator?.text, 'L');
  assert.equal(tg[1]?.header, undefined);
  assert.equal(tg[1]?.patients[0]?.orders.length, 5);
  assert.ok(tg[1]?.warnings.some((w) => w.message === 'message has no H record'));
  assert.equal(splitMessages('').length, 0);
});

test('property: buildMessage and splitMessages never throw', () => {
  const recordish = fc.array(
    fc.tuple(fc.constantFrom('H|\\^&', 'P|1', 'O|1|S', 'R|1|^^^A|1', 'C|1||x', 'Q|1', 'M|1', 'S|1', 'L|1', 'Z', ''), fc.string({ maxLength: 10 })).map(([a, b]) => a + b),
    { maxLength: 30 },
  );
  fc.assert(
    fc.property(fc.oneof(recordish.map((r) => r.join('\r')), fc.string({ unit: 'binary', maxLength: 200 })), (text) => {
      const messages = splitMessages(text);
      for (const m of messages) buildMessage(m.records);
    }),
    { numRuns: 500 },
  );
});
