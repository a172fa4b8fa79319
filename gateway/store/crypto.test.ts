import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { HEADER_BYTES, open, seal, sealedKeyId, unwrapDataKey, wrapDataKey } from './crypto.js';

const key = randomBytes(32);
const keys = (id: number): Buffer | undefined => (id === 7 ? key : undefined);
const ctx = Buffer.from('i!000000000000002a');

describe('crypto: sealed values', () => {
  it('round-trips and names its key id', () => {
    const sealed = seal(key, 7, Buffer.from('hello'), ctx);
    assert.equal(sealedKeyId(sealed), 7);
    const result = open(keys, sealed, ctx);
    assert.ok(result.ok);
    assert.equal(result.plaintext.toString(), 'hello');
    assert.equal(result.keyId, 7);
  });

  it('uses a fresh nonce each time', () => {
    const a = seal(key, 7, Buffer.from('same'), ctx);
    const b = seal(key, 7, Buffer.from('same'), ctx);
    assert.notDeepEqual(a.subarray(5, 17), b.subarray(5, 17));
    assert.notDeepEqual(a, b);
  });

  it('fails for another record key (AAD)', () => {
    const sealed = seal(key, 7, Buffer.from('hello'), ctx);
    assert.deepEqual(open(keys, sealed, Buffer.from('i!000000000000002b')), { ok: false, failure: 'authentication' });
  });

  it('classifies truncation, unknown versions and unknown key ids', () => {
    const sealed = seal(key, 7, Buffer.from('hello'), ctx);
    assert.deepEqual(open(keys, sealed.subarray(0, HEADER_BYTES - 1), ctx), { ok: false, failure: 'truncated' });
    assert.deepEqual(open(keys, sealed.subarray(0, sealed.length - 1), ctx), { ok: false, failure: 'authentication' });
    const v2 = Buffer.from(sealed);
    v2[0] = 2;
    assert.deepEqual(open(keys, v2, ctx), { ok: false, failure: 'version' });
    const otherId = Buffer.from(sealed);
    otherId.writeUInt32BE(8, 1);
    assert.deepEqual(open(keys, otherId, ctx), { ok: false, failure: 'unknown-key' });
  });

  it('property: any single flipped bit fails to open', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 300 }), fc.nat(), fc.integer({ min: 0, max: 7 }), (plain, pos, bit) => {
        const sealed = seal(key, 7, Buffer.from(plain), ctx);
        const i = pos % sealed.length;
        sealed[i] = (sealed[i] ?? 0) ^ (1 << bit);
        assert.equal(open(keys, sealed, ctx).ok, false);
      }),
      { numRuns: 300 },
    );
  });

  it('property: round trip for any plaintext and context', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), fc.string(), (plain, context) => {
        const c = Buffer.from(context);
        const result = open(keys, seal(key, 7, Buffer.from(plain), c), c);
        assert.ok(result.ok);
        assert.deepEqual(result.plaintext, Buffer.from(plain));
      }),
      { numRuns: 200 },
    );
  });
});

describe('crypto: data key wrapping', () => {
  const kek = randomBytes(32);
  const dek = randomBytes(32);

  it('unwraps with the right KEK and key id only', () => {
    const wrapped = wrapDataKey(kek, 1, dek);
    assert.deepEqual(unwrapDataKey(kek, 1, wrapped), dek);
    assert.equal(unwrapDataKey(randomBytes(32), 1, wrapped), undefined);
    assert.equal(unwrapDataKey(kek, 2, wrapped), undefined);
  });

  it('a sealed record is not a valid wrapped key (distinct AAD label)', () => {
    const asRecord = seal(kek, 1, dek, Buffer.from('k!00000001'));
    assert.equal(unwrapDataKey(kek, 1, asRecord), undefined);
  });
});
