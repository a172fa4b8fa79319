import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FrameProgress, FrameReader } from './frame-reader.js';

/** Everything a finished (or abandoned) frame exposes. */
function run(bytes: Uint8Array, bulk: boolean, max: number): unknown[] {
  const r = new FrameReader(max);
  r.begin();
  const seen: unknown[] = [];
  for (let i = 0; i < bytes.length; ) {
    const taken = bulk ? r.pushTextRun(bytes, i) : 0;
    if (taken > 0) {
      i += taken;
      continue;
    }
    const p = r.push(bytes[i] as number);
    i++;
    if (p === FrameProgress.More) continue;
    seen.push([i, p, r.fn, r.terminator, r.text.copy().toString('latin1'), p === FrameProgress.Complete ? r.rejectReason() : null, r.size]);
    r.begin();
  }
  seen.push(['end', r.fn, r.text.copy().toString('latin1'), r.size]);
  return seen;
}

test('property: the bulk text path reads frames exactly as byte-by-byte push()', () => {
  const byte = fc.oneof(fc.integer({ min: 0x20, max: 0xff }), fc.constantFrom(0x02, 0x03, 0x04, 0x0a, 0x0d, 0x17, 0x10, 0x30, 0x31, 0x41, 0x46));
  fc.assert(
    fc.property(fc.array(byte, { maxLength: 400 }), fc.constantFrom(16, 64, 247, 64000), (data, max) => {
      const bytes = Uint8Array.from(data);
      assert.deepEqual(run(bytes, true, max), run(bytes, false, max));
    }),
    { numRuns: 1000 },
  );
});
