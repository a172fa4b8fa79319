import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { decodePayload, encodePayload, type ArchivedPayload } from './audit-codec.js';

/** Bytes that compress (repeated instrument-like text) and bytes that do not. */
const raw = fc.oneof(
  fc.uint8Array({ maxLength: 4000 }).map((b) => Buffer.from(b)),
  fc.tuple(fc.string({ maxLength: 40 }), fc.nat({ max: 300 })).map(([s, n]) => Buffer.from(s.repeat(n), 'utf8')),
);

describe('archived payload codec', () => {
  it('property: round trip, compressed or not, byte for byte', () => {
    fc.assert(
      fc.property(fc.string(), fc.nat(), fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('hex')), raw, (sourceId, receivedAt, digest, bytes) => {
        const p: ArchivedPayload = { sourceId, receivedAt, digest, raw: bytes };
        const encoded = encodePayload(p);
        assert.deepEqual(decodePayload(encoded), p);
        assert.ok(encoded.length <= bytes.length + 200, 'never (much) bigger than the bytes it holds');
      }),
    );
  });

  it('property: garbage, or a compressed body cut short, decodes to undefined and never throws', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(), (bytes, cut) => {
        decodePayload(Buffer.from(bytes)); // must not throw
        const text = encodePayload({ sourceId: 's', receivedAt: 1, digest: 'd', raw: Buffer.from('R|1|^^^GLU|5.1\r'.repeat(100)) });
        const short = text.subarray(0, Math.max(4, text.length - 1 - (cut % 50)));
        const decoded = decodePayload(short);
        assert.ok(decoded === undefined || decoded.raw.length < 1500, 'a cut-short body is not taken for the message');
      }),
    );
  });
});
