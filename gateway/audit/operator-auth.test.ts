import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { authenticateOperator, matchOperator, parseOperators, tokenDigest } from './operator-auth.js';

test('operator tokens: digests in the config, a private token file, every entry compared', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'labedge-op-'));
  try {
    const operators = [{ name: 'alice', tokenSha256: tokenDigest('alice-token-0123456789') }, { name: 'bob', tokenSha256: tokenDigest('bob-token-0123456789ab') }];
    assert.deepEqual(matchOperator('bob-token-0123456789ab', operators), { name: 'bob' });
    assert.equal(matchOperator('bob-token-0123456789ac', operators), undefined);
    const file = join(dir, 'token');
    await writeFile(file, 'alice-token-0123456789\n', { mode: 0o600 });
    assert.deepEqual(await authenticateOperator(file, operators), { name: 'alice' });
    await writeFile(join(dir, 'open'), 'alice-token-0123456789', { mode: 0o644 });
    await assert.rejects(authenticateOperator(join(dir, 'open'), operators), /chmod 600/);
    await writeFile(join(dir, 'short'), 'short', { mode: 0o600 });
    await assert.rejects(authenticateOperator(join(dir, 'short'), operators), /too short/);
    await assert.rejects(authenticateOperator(file, []), /no operators are configured/);
    await assert.rejects(authenticateOperator(join(dir, 'missing'), operators), (e: Error & { code?: string }) => e.code === 'LABEDGE_ERR_OPERATOR_AUTH');
    assert.deepEqual(parseOperators([{ name: 'a b', tokenSha256: 'x' }]).issues.map((i) => i.field), ['operators[0].name', 'operators[0].tokenSha256']);
    assert.deepEqual(parseOperators(undefined), { operators: [], issues: [] });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
