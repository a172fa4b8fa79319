import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classifyError, classifyResponse, errorCodeOf } from './classify.js';

const oo = (...codes: string[]): object => ({ resourceType: 'OperationOutcome', issue: codes.map((code) => ({ severity: 'error', code })) });
const err = (code: string, cause?: unknown): Error => Object.assign(new Error('boom'), { code, cause });

test('HTTP statuses', () => {
  for (const s of [200, 201, 204]) assert.equal(classifyResponse(s), 'ok');
  for (const s of [408, 425, 429, 500, 502, 503, 504, 599]) assert.equal(classifyResponse(s), 'transient', String(s));
  for (const s of [400, 409, 412, 413, 422]) assert.equal(classifyResponse(s), 'rejected', String(s));
  // No OperationOutcome blaming the data: a wrong base URL or a proxy, not this record's fault.
  for (const s of [404, 405, 406, 410, 415]) assert.equal(classifyResponse(s), 'transient', String(s));
  for (const s of [404, 405, 410, 415]) assert.equal(classifyResponse(s, oo('not-found')), 'rejected', String(s));
  for (const s of [401, 403, 407]) assert.equal(classifyResponse(s), 'auth', String(s));
  for (const s of [100, 301, 302, 304, 307]) assert.equal(classifyResponse(s), 'transient', String(s));
});

test('the OperationOutcome refines a 4xx, never a 5xx or an auth status', () => {
  assert.equal(classifyResponse(422, oo('invalid', 'required')), 'rejected');
  assert.equal(classifyResponse(400, oo('throttled')), 'transient');
  assert.equal(classifyResponse(409, oo('lock-error')), 'transient');
  assert.equal(classifyResponse(400, oo('transient', 'invalid')), 'rejected');
  assert.equal(classifyResponse(400, oo('security')), 'auth');
  assert.equal(classifyResponse(500, oo('invalid')), 'transient');
  assert.equal(classifyResponse(401, oo('invalid')), 'auth');
  // Warnings and non-outcomes do not count.
  assert.equal(classifyResponse(400, { resourceType: 'OperationOutcome', issue: [{ severity: 'warning', code: 'transient' }] }), 'rejected');
  assert.equal(classifyResponse(400, { resourceType: 'Bundle', issue: [{ severity: 'error', code: 'transient' }] }), 'rejected');
  assert.equal(classifyResponse(400, 'nonsense'), 'rejected');
});

test('network errors are transient, TLS and certificate errors are auth', () => {
  for (const c of ['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_SOCKET', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT', 'ERR_TLS_HANDSHAKE_TIMEOUT']) {
    assert.equal(classifyError(err(c)), 'transient', c);
  }
  for (const c of ['CERT_HAS_EXPIRED', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'ERR_TLS_CERT_ALTNAME_INVALID', 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED', 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA', 'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE', 'ERR_SSL_WRONG_VERSION_NUMBER']) {
    assert.equal(classifyError(err(c)), 'auth', c);
  }
  // Wrapped errors (fetch-style TypeError with a cause) are looked through.
  assert.equal(classifyError(new TypeError('fetch failed', { cause: err('CERT_HAS_EXPIRED') })), 'auth');
  assert.equal(classifyError(new Error('x')), 'transient');
  assert.equal(classifyError('a string'), 'transient');
  const cyclic = err('ECONNRESET');
  (cyclic as { cause?: unknown }).cause = cyclic;
  assert.equal(classifyError(cyclic), 'transient');
});

test('errorCodeOf names the error without its message', () => {
  assert.equal(errorCodeOf(err('UND_ERR_SOCKET')), 'UND_ERR_SOCKET');
  assert.equal(errorCodeOf(new TypeError('fetch failed', { cause: err('ECONNRESET') })), 'ECONNRESET');
  assert.equal(errorCodeOf(new RangeError('Patient Smith')), 'RangeError');
  assert.equal(errorCodeOf(42), 'unknown');
});
