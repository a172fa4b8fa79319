import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LabedgeError } from '../core/errors.js';
import { assertKeyFileOutside, createKek, loadKek } from './keys.js';

const isKeyError = (e: unknown): boolean => e instanceof LabedgeError && e.code === 'LABEDGE_ERR_KEY';
const isConfigError = (e: unknown): boolean => e instanceof LabedgeError && e.code === 'LABEDGE_ERR_CONFIG';

describe('key file', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'labedge-keys-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('is created 0600 in a new 0700 directory, 32 bytes, and loads back', async () => {
    const keyFile = join(dir, 'secrets', 'nested', 'kek');
    const kek = await createKek(keyFile);
    assert.equal(kek.length, 32);
    assert.equal((await stat(keyFile)).mode & 0o777, 0o600);
    assert.equal((await stat(join(dir, 'secrets', 'nested'))).mode & 0o777, 0o700);
    assert.deepEqual(await loadKek(keyFile), kek);
    assert.deepEqual(await readFile(keyFile), kek);
  });

  it('keeps an existing key when created twice (no overwrite)', async () => {
    const keyFile = join(dir, 'twice');
    const first = await createKek(keyFile);
    assert.deepEqual(await createKek(keyFile), first);
  });

  for (const mode of [0o644, 0o640, 0o604, 0o660, 0o601]) {
    it(`refuses a key file with mode ${mode.toString(8)}`, async () => {
      const keyFile = join(dir, `mode-${mode.toString(8)}`);
      await createKek(keyFile);
      await chmod(keyFile, mode);
      await assert.rejects(loadKek(keyFile), (e: unknown) => isKeyError(e) && /group or others/.test((e as Error).message));
    });
  }

  it('refuses a key file of the wrong length', async () => {
    const keyFile = join(dir, 'short');
    await writeFile(keyFile, Buffer.alloc(16), { mode: 0o600 });
    await assert.rejects(loadKek(keyFile), isKeyError);
  });

  it('refuses a missing key file and a directory', async () => {
    await assert.rejects(loadKek(join(dir, 'absent')), isKeyError);
    await assert.rejects(loadKek(dir), isConfigError, 'a directory is a configuration error (exit 2)');
  });

  it('must live outside the database directory', () => {
    assert.throws(() => assertKeyFileOutside('/data/store/kek', '/data/store'), isConfigError);
    assert.throws(() => assertKeyFileOutside('/data/store/sub/kek', '/data/store/'), isConfigError);
    assert.throws(() => assertKeyFileOutside('/data/store', '/data/store'), isConfigError);
    assert.doesNotThrow(() => assertKeyFileOutside('/data/kek', '/data/store'));
    assert.doesNotThrow(() => assertKeyFileOutside('/data/store-kek', '/data/store'));
    assert.doesNotThrow(() => assertKeyFileOutside('/etc/labedge/kek', '/data/store'));
  });
});
