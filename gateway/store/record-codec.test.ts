import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import * as codec from './record-codec.js';
import { idOfKey, inboundKey, keyOfId, outboundKey, parseKey, deadLetterKey } from './record-keys.js';

const meta = fc.dictionary(fc.string(), fc.oneof(fc.string(), fc.boolean(), fc.integer()), { noNullPrototype: true });
const json = fc.jsonValue();

describe('record codec', () => {
  it('property: inbound round trip', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), fc.uint8Array(), fc.nat(), fc.option(meta, { nil: undefined }), (sourceId, raw, receivedAt, m) => {
        const body: codec.InboundBody = { sourceId, raw: Buffer.from(raw), receivedAt };
        if (m !== undefined) body.meta = m;
        assert.deepEqual(codec.decodeInbound(codec.encodeInbound(body)), body);
      }),
    );
  });

  it('property: outbound and dead-letter round trip', () => {
    fc.assert(
      fc.property(fc.string(), json, fc.nat(), fc.option(fc.uint8Array(), { nil: undefined }), fc.option(fc.string(), { nil: undefined }), (sourceId, bundle, at, raw, detail) => {
        const out = codec.outboundBody({ sourceId, inboundId: 'i-0000000000000001', bundle, createdAt: at, attempts: 3 });
        assert.deepEqual(codec.decodeOutbound(codec.encodeOutbound(out)), out);
        assert.deepEqual(JSON.parse(out.bundleJson), JSON.parse(JSON.stringify(bundle)));
        const dl: codec.DeadLetterBody = { sourceId, stage: 'deliver', reasonCode: 'x', at };
        if (raw !== undefined) dl.raw = Buffer.from(raw);
        if (detail !== undefined) dl.detail = detail;
        assert.deepEqual(codec.decodeDeadLetter(codec.encodeDeadLetter(dl)), dl);
      }),
    );
  });

  it('reads outbound records written before bundles were kept as text (bundle in the header)', () => {
    const bundle = { resourceType: 'Bundle', type: 'transaction', entry: [{ request: { method: 'PUT', url: 'Observation?identifier=s|1' } }, { request: { method: 'POST', url: 'Patient', ifNoneExist: 'identifier=s|p' } }] };
    const header = Buffer.from(JSON.stringify({ sourceId: 'a1', inboundId: 'i-0000000000000001', bundle, createdAt: 5, attempts: 2 }));
    const len = Buffer.alloc(4);
    len.writeUInt32BE(header.length);
    const body = codec.decodeOutbound(Buffer.concat([len, header]));
    assert.deepEqual(body, { sourceId: 'a1', inboundId: 'i-0000000000000001', bundleJson: JSON.stringify(bundle), resources: 2, updateTargets: ['Observation?identifier=s|1'], createdAt: 5, attempts: 2 });
  });

  it('property: random bytes never throw, and decode to undefined or a well-formed record', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const b = Buffer.from(bytes);
        codec.decodeInbound(b);
        codec.decodeOutbound(b);
        codec.decodeDeadLetter(b);
        codec.decodeSource(b);
        codec.decodeSeq(b);
      }),
    );
  });
});

describe('record keys', () => {
  it('are fixed-width hex so key order is numeric order', () => {
    assert.ok(inboundKey(9) < inboundKey(10));
    assert.ok(inboundKey(255) < inboundKey(256));
    assert.ok(outboundKey(1, 0xfffff) < outboundKey(2, 0));
    assert.equal(inboundKey(42), 'i!000000000000002a');
    assert.equal(outboundKey(3, 42), 'o!00000003!000000000000002a');
  });

  it('ids map back to keys of the right kind only', () => {
    const key = outboundKey(3, 42);
    assert.equal(idOfKey(key), 'o-00000003-000000000000002a');
    assert.equal(keyOfId(idOfKey(key), 'outbound'), key);
    assert.equal(keyOfId(idOfKey(key), 'inbound'), undefined);
    assert.equal(keyOfId('i-2a', 'inbound'), undefined);
    assert.equal(keyOfId('../../etc', 'inbound'), undefined);
    assert.deepEqual(parseKey(deadLetterKey(7)), { kind: 'deadLetter', seq: 7 });
  });
});
