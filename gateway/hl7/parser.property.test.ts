import { strict as assert } from 'node:assert';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import type { Hl7Delimiters } from './delimiters.js';
import { encodeSegment, encodeMessage } from './encode.js';
import { parseHl7 } from './parser.js';

const DELIMITER_POOL = [...'|^~\\&#!$%*+,/:;<=>?@[]_`{}\'"'];

const delimiters: fc.Arbitrary<Hl7Delimiters> = fc
  .uniqueArray(fc.constantFrom(...DELIMITER_POOL), { minLength: 6, maxLength: 6 })
  .chain((c) =>
    fc.boolean().map((withTruncation) => {
      const d: Hl7Delimiters = { field: c[0] ?? '|', component: c[1] ?? '^', repetition: c[2] ?? '~', escape: c[3] ?? '\\', subcomponent: c[4] ?? '&' };
      if (withTruncation) d.truncation = c[5];
      return d;
    }),
  );

// Text that contains every delimiter, backslashes, line breaks, non-ASCII and would-be escape sequences.
const text = fc.string({
  unit: fc.oneof(
    fc.constantFrom(...DELIMITER_POOL, '\n', '\r', 'é', 'Ω', '😀', '\\F\\', '\\X41\\', ' '),
    fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
  ),
  maxLength: 12,
});
const field = fc.array(fc.array(fc.array(text, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 3 });
const segment = fc.record({
  name: fc.constantFrom('PID', 'OBR', 'OBX', 'NTE', 'ZX1'),
  fields: fc.array(field, { minLength: 1, maxLength: 6 }),
});

function trimmedEmpty(f: readonly (readonly (readonly string[])[])[]): boolean {
  return f.length === 1 && f[0]?.length === 1 && f[0][0]?.length === 1 && f[0][0][0] === '';
}

test('round trip: generated messages with arbitrary delimiters and escapes parse back value by value', () => {
  fc.assert(
    fc.property(delimiters, fc.array(segment, { minLength: 1, maxLength: 5 }), fc.constantFrom('\r', '\r\n'), (d, segs, term) => {
      const msh = encodeSegment('MSH', ['LAB', 'FAC', '', '', '20240101', '', [[['ORU'], ['R01']]], 'ID1', 'P', '2.5.1'], d);
      const wire = encodeMessage([msh, ...segs.map((s) => encodeSegment(s.name, s.fields, d))]).replaceAll('\r', term);
      const r = parseHl7(Buffer.from(wire, 'utf8'));
      assert.equal(r.messages.length, 1);
      const m = r.messages[0];
      assert.ok(m);
      assert.deepEqual(m.delimiters, d);
      assert.equal(m.triggerEvent, 'R01');
      assert.equal(m.controlId, 'ID1');
      assert.equal(m.segments.length, segs.length + 1);
      segs.forEach((s, i) => {
        const seg = m.segments[i + 1];
        assert.ok(seg);
        assert.equal(seg.name, s.name);
        s.fields.forEach((f, fi) => {
          const n = fi + 1;
          assert.equal(seg.repetitionCount(n), trimmedEmpty(f) ? 0 : f.length);
          f.forEach((rep, ri) =>
            rep.forEach((comp, ci) => {
              assert.equal(seg.components(n, ri + 1)[ci] ?? '', comp[0]);
              comp.forEach((sub, si) => assert.equal(seg.value(n, ci + 1, si + 1, ri + 1), sub));
            }),
          );
        });
      });
      assert.deepEqual(m.warnings, []);
    }),
    { numRuns: 300 },
  );
});

const corpus = fileURLToPath(new URL('../../test/fixtures/hl7/', import.meta.url));
const samples = readdirSync(corpus)
  .filter((f) => f.endsWith('.hl7'))
  .map((f) => readFileSync(corpus + f));

function readEverything(bytes: Uint8Array): void {
  const r = parseHl7(bytes);
  for (const m of r.messages) {
    void [m.controlId, m.messageType, m.triggerEvent, m.version];
    for (const s of m.segments) {
      for (let f = 1; f <= Math.min(s.fieldCount, 40); f++) {
        const reps = s.repetitionCount(f);
        for (let rep = 1; rep <= Math.min(reps, 5); rep++) {
          const comps = s.components(f, rep);
          for (let c = 1; c <= comps.length; c++) void s.value(f, c, 2, rep);
        }
        void s.raw(f);
      }
    }
  }
}

test('fuzz: random bytes and mutated corpus messages never throw', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 400 }), (b) => readEverything(b)),
    { numRuns: 500 },
  );
  fc.assert(
    fc.property(
      fc.nat(samples.length - 1),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 20 }),
      (i, edits) => {
        const b = Buffer.from(samples[i] ?? Buffer.alloc(0));
        for (const [at, v] of edits) if (b.length > 0) b[at % b.length] = v;
        readEverything(b);
        readEverything(b.subarray(0, (edits[0]?.[0] ?? 0) % (b.length + 1)));
      },
    ),
    { numRuns: 300 },
  );
});

test('property: any text escaped byte by byte as \\Xhh\\ decodes back exactly (UTF-8 and ISO-8859-1 messages)', () => {
  const hexEscaped = (bytes: Buffer): string => [...bytes].map((b) => `\\X${b.toString(16).toUpperCase().padStart(2, '0')}\\`).join('');
  fc.assert(
    fc.property(fc.string({ unit: fc.oneof(fc.constantFrom('é', 'Ω', '😀', '€', 'a', ' '), fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c))), minLength: 1, maxLength: 10 }), fc.boolean(), (value, latin1) => {
      const target = latin1 ? [...value].filter((ch) => ch.charCodeAt(0) <= 0xff).join('') || 'a' : value;
      const bytes = Buffer.from(target, latin1 ? 'latin1' : 'utf8');
      const msg = `MSH|^~\\&|A|B|C|D|20240101||ORU^R01|1|P|2.5||||||${latin1 ? '8859/1' : 'UNICODE UTF-8'}\rOBX|1|ST|X||${hexEscaped(bytes)}\r`;
      const m = parseHl7(Buffer.from(msg, 'latin1')).messages[0];
      assert.equal(m?.segment('OBX')?.value(5), target);
      assert.deepEqual(m?.warnings ?? [], []);
    }),
    { numRuns: 300 },
  );
});
