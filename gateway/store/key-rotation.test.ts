import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { Level } from 'level';
import { LabedgeError } from '../core/errors.js';
import { unwrapDataKey, wrapDataKey } from './crypto.js';
import type { KekProvider } from './kek-provider.js';
import { cryptoErase } from './key-erase.js';
import { FileKekProvider } from './keys.js';
import { QueueStore } from './queue-store.js';

/**
 * Key management: rotation (new writes under the new key, old records readable, a bounded
 * re-wrap, then the old key retired), another KEK provider behind the same interface, and
 * crypto-erase (the records can never be read again).
 */
let root: string;
let dataDir: string;
let keyFile: string;
const opened: QueueStore[] = [];
const raw = (n: number) => Buffer.from(`H|\\^&\rP|1||PID-${n}\rL|1|N\r`);

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'labedge-rot-'));
  dataDir = join(root, 'data');
  keyFile = join(root, 'keys', 'kek');
});
afterEach(async () => {
  for (const s of opened.splice(0)) await s.close();
  await rm(root, { recursive: true, force: true });
});

async function openStore(kek?: KekProvider): Promise<QueueStore> {
  const store = await QueueStore.open({ dataDir, keyFile, kek });
  opened.push(store);
  return store;
}

describe('data-key rotation', () => {
  it('new writes use the new key, old records stay readable, the re-wrap moves them in bounded steps, then key 1 is retired', async () => {
    const store = await openStore();
    const before: string[] = [];
    for (let n = 0; n < 30; n++) before.push(await store.commitInbound({ sourceId: `a-${n % 3}`, raw: raw(n), receivedAt: n }));
    await store.rejected(before[0] ?? '', { reasonCode: 'mapping-error' });
    await store.transformed(before[1] ?? '', { sourceId: 'a-1', bundle: { n: 1 } });
    const rotation = store.keyRotation;
    assert.equal(await rotation.rotate(), 2);
    const after = await store.commitInbound({ sourceId: 'a-0', raw: raw(99), receivedAt: 99 });
    const census = await rotation.census();
    assert.ok((census.get(1) ?? 0) > 30 && (census.get(2) ?? 0) >= 2, JSON.stringify([...census]));
    assert.equal((await store.listInbound(100)).length, 29, 'old and new records read alike');

    let steps = 0;
    let retired: number[] = [];
    for (;;) {
      const step = await rotation.rewrapStep(8);
      steps += 1;
      assert.ok(step.rewrapped <= 8, 'bounded batches');
      retired = retired.concat(step.retired);
      if (step.done) break;
      assert.ok(steps < 50);
    }
    assert.deepEqual(retired, [1]);
    assert.deepEqual([...(await rotation.census()).keys()], [2], 'every value is sealed under key 2');
    assert.equal(rotation.pending, false);
    await store.close();

    // Key 1 is gone from the store; everything still opens (the audit trail re-sealed too).
    const raw1 = new Level<string, Buffer>(join(dataDir, 'store'), { keyEncoding: 'utf8', valueEncoding: 'buffer' });
    assert.equal(await raw1.get('k!00000001'), undefined);
    await raw1.close();
    const again = await openStore();
    const listed = (await again.listInbound(100)).map((r) => r.id);
    assert.deepEqual(listed, [...before.slice(2), after]);
    assert.equal((await again.listDeadLetters())[0]?.reasonCode, 'mapping-error');
    assert.deepEqual((await again.outboundHeads())[0]?.bundle, { n: 1 });
  });

  it('a KEK provider other than the file (as a TPM2 or PKCS#11 one would be) slots in behind the same interface', async () => {
    const chipKey = randomBytes(32);
    let calls = 0;
    const tpmLike: KekProvider = {
      description: 'test key store',
      exists: async () => true,
      create: async () => undefined,
      wrap: async (id, dek) => (calls++, wrapDataKey(chipKey, id, dek)),
      unwrap: async (id, wrapped) => (calls++, unwrapDataKey(chipKey, id, wrapped)),
      destroy: async () => void chipKey.fill(0),
    };
    let store = await openStore(tpmLike);
    const id = await store.commitInbound({ sourceId: 'a', raw: raw(1), receivedAt: 1 });
    await store.keyRotation.rotate();
    await store.close();
    store = await openStore(tpmLike);
    assert.deepEqual((await store.listInbound())[0]?.id, id);
    assert.ok(calls >= 4);
    await assert.rejects(stat(keyFile), /ENOENT/, 'no key file is involved');
  });
});

describe('crypto-erase', () => {
  it('destroys the wrapped keys and the KEK: the records can never be read, and the store says why', async () => {
    const store = await openStore();
    await store.commitInbound({ sourceId: 'a', raw: raw(1), receivedAt: 1 });
    await store.keyRotation.rotate();
    await store.close();
    const result = await cryptoErase(dataDir, new FileKekProvider(keyFile));
    assert.deepEqual(result, { dataKeys: 2, kekDestroyed: true });
    await assert.rejects(stat(keyFile), /ENOENT/);
    await assert.rejects(stat(join(dataDir, 'wrapped-keys.json')), /ENOENT/, 'the backup of the wrapped keys is gone too');
    await assert.rejects(QueueStore.open({ dataDir, keyFile }), (e: unknown) => e instanceof LabedgeError && e.code === 'LABEDGE_ERR_KEY' && /crypto-erased at/.test(e.message));
    const db = new Level<string, Buffer>(join(dataDir, 'store'), { keyEncoding: 'utf8', valueEncoding: 'buffer' });
    assert.deepEqual(await db.keys({ gte: 'k!', lt: 'k"' }).all(), []);
    await db.close();
  });
});
