import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync, verify } from 'node:crypto';
import { jwkThumbprint, jwtAlgFor, signJwt } from './jwt.js';
import { isLabedgeError } from '../core/errors.js';

describe('JWT signing', () => {
  it('signs RS384 with an RSA key; the signature verifies independently', () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const jwt = signJwt({ iss: 'c', n: 1 }, privateKey, 'k1');
    const [h, c, s] = jwt.split('.') as [string, string, string];
    assert.deepEqual(JSON.parse(Buffer.from(h, 'base64url').toString()), { alg: 'RS384', typ: 'JWT', kid: 'k1' });
    assert.deepEqual(JSON.parse(Buffer.from(c, 'base64url').toString()), { iss: 'c', n: 1 });
    assert.ok(verify('sha384', Buffer.from(`${h}.${c}`), createPublicKey(privateKey), Buffer.from(s, 'base64url')));
    assert.ok(!verify('sha384', Buffer.from(`${h}.${c}x`), createPublicKey(privateKey), Buffer.from(s, 'base64url')));
  });

  it('signs ES384 (IEEE P1363) with a P-384 key; refuses other keys', () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
    const [h, c, s] = signJwt({}, privateKey, 'k').split('.') as [string, string, string];
    assert.equal(Buffer.from(s, 'base64url').length, 96);
    assert.ok(verify('sha384', Buffer.from(`${h}.${c}`), { key: createPublicKey(privateKey), dsaEncoding: 'ieee-p1363' }, Buffer.from(s, 'base64url')));
    assert.throws(() => jwtAlgFor(generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey), isLabedgeError);
    assert.throws(() => jwtAlgFor(generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey), isLabedgeError);
  });

  it('computes the RFC 7638 thumbprint (the RFC\'s own example)', () => {
    const n = '0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw';
    const key = createPublicKey({ format: 'jwk', key: { kty: 'RSA', n, e: 'AQAB' } });
    assert.equal(jwkThumbprint(key), 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs');
  });
});
