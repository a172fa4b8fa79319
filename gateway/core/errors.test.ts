import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ERROR_CODES, LabedgeError, describeError, isLabedgeError } from './errors.js';

test('every error code is documented in docs/errors.md, and nothing stale is', () => {
  const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
  const documented = new Set([...doc.matchAll(/`(LABEDGE_ERR_[A-Z0-9_]+)`/g)].map((m) => m[1]));
  assert.deepEqual([...documented].sort(), Object.keys(ERROR_CODES).sort());
});

test('LabedgeError is recognised by brand, and describeError never quotes foreign messages', () => {
  const e = new LabedgeError('LABEDGE_ERR_KEY', 'key file missing');
  assert.ok(isLabedgeError(e));
  assert.ok(e instanceof LabedgeError);
  assert.ok(!isLabedgeError(new Error('x')));
  assert.equal(describeError(e), 'LABEDGE_ERR_KEY: key file missing');
  // A foreign error's message might quote input (PHI); only its name and code are used.
  const foreign = Object.assign(new TypeError('patient Smith^John not found'), { code: 'ERR_X' });
  assert.equal(describeError(foreign), 'TypeError ERR_X');
});

test('a system error is described by its code, call and network endpoint, never by its path or message', async () => {
  const { readFile } = await import('node:fs/promises');
  const { connect } = await import('node:net');
  const missing = await readFile('/nonexistent/Smith_John.astm').catch((e: unknown) => e);
  assert.equal(describeError(missing), 'Error ENOENT (open)');
  const refused = await new Promise<unknown>((resolve) => connect(9, '127.0.0.1').once('error', resolve));
  assert.equal(describeError(refused), 'Error ECONNREFUSED (connect 127.0.0.1:9)');
});
