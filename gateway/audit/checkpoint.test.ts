import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deviceKeyPem } from '../../test/harness/audit-kit.js';
import { checkpointSignatureValid, keyFingerprint, parseCheckpoint, signCheckpoint } from './checkpoint.js';

test('checkpoints sign and verify with RSA, EC and Ed25519 device keys; any change breaks the signature', () => {
  for (const type of ['rsa', 'ec', 'ed25519'] as const) {
    const keyPem = deviceKeyPem(type);
    const cp = signCheckpoint({ deviceId: 'labedge-0042', head: { seq: 12, hash: 'a'.repeat(64) }, time: 1_800_000_000_000, previous: { seq: 4, hash: 'b'.repeat(64) }, keyPem });
    assert.ok(checkpointSignatureValid(cp), type);
    assert.deepEqual(parseCheckpoint(JSON.parse(JSON.stringify(cp))), cp, 'survives a file round trip');
    for (const forged of [{ ...cp, seq: 13 }, { ...cp, hash: 'c'.repeat(64) }, { ...cp, time: cp.time + 1 }, { ...cp, deviceId: 'other' }, { ...cp, previous: { seq: 5, hash: 'b'.repeat(64) } }]) {
      assert.equal(checkpointSignatureValid(forged), false, `${type}: forged ${JSON.stringify(forged).slice(0, 40)}`);
    }
    assert.equal(checkpointSignatureValid(cp, 'AAAA'), false, 'a different trusted key');
    assert.match(keyFingerprint(cp.publicKey), /^[0-9a-f]{16}$/);
  }
  assert.equal(parseCheckpoint({ v: 1, seq: -1 }), undefined);
  assert.throws(() => signCheckpoint({ deviceId: 'x', head: { seq: 1, hash: 'a'.repeat(64) }, time: 0, keyPem: 'not a key' }), /cannot sign/);
});
