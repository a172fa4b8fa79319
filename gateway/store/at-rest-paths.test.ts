import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Level } from 'level';
import { canariesInDir, canaryInputs } from '../../test/harness/canary.js';
import { QueueStore, type StoreAlarm } from './queue-store.js';

/**
 * Invariant 3 on every path a record can take beyond the happy one: canary PHI goes in as
 * raw messages and bundles, is dead-lettered, quarantined (a tampered value, kept as
 * ciphertext), replayed, re-sealed by a key rotation, and the store is damaged and repaired
 * (the damaged copy and the damaged write-ahead log are kept under dataDir/damaged/). Then
 * every file under the data directory (the key directory is outside it) is searched for
 * every canary, as Latin-1 and UTF-16.
 */
describe('no canary PHI anywhere under the data directory', () => {
  let root: string;
  let dataDir: string;
  let keyFile: string;
  const alarms: StoreAlarm[] = [];
  const operator = { name: 'ops' };

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'labedge-atrest-paths-'));
    dataDir = join(root, 'data');
    keyFile = join(root, 'keys', 'kek');
    const messages = await Promise.all(Object.values(canaryInputs.transcripts).map((f) => readFile(f)));
    const open = () => QueueStore.open({ dataDir, keyFile, onAlarm: (a) => alarms.push(a) });

    let store = await open();
    const ids: string[] = [];
    for (let round = 0; round < 6; round++) for (const raw of messages) ids.push(await store.commitInbound({ sourceId: 'canary-line', raw, receivedAt: round }));
    const bundle = { resourceType: 'Bundle', entry: [{ resource: { resourceType: 'Patient', name: [{ family: 'Zzcanaryfam', given: ['Quentessa'] }], identifier: [{ value: 'CANARY-PID-93817' }] } }] };
    const outs = [];
    for (const id of ids.slice(0, 6)) outs.push(await store.transformed(id, { sourceId: 'canary-line', bundle }));
    for (const id of ids.slice(6, 9)) await store.rejected(id, { reasonCode: 'mapping-error', detail: 'P.6' });
    await store.deadLetterOutbound(outs[0] ?? '', { reasonCode: 'upstream-422' });
    const letters = await store.listDeadLetters();
    await store.dlq.replay(letters[0]?.id ?? '', operator); // back to inbound
    await store.dlq.replay(letters[letters.length - 1]?.id ?? '', operator); // back to outbound
    await store.keyRotation.rotate();
    for (let step = await store.keyRotation.rewrapStep(5); !step.done; step = await store.keyRotation.rewrapStep(5));
    await store.close();

    // A tampered value: quarantined with its ciphertext kept.
    const raw = new Level<string, Buffer>(join(dataDir, 'store'), { keyEncoding: 'utf8', valueEncoding: 'buffer' });
    const victim = (ids[12] ?? '').replaceAll('-', '!');
    const value = (await raw.get(victim)) ?? Buffer.alloc(0);
    value[value.length - 1] = (value[value.length - 1] ?? 0) ^ 1;
    await raw.put(victim, value, { sync: true });
    await raw.close();
    store = await open();
    await store.listInbound(1000);
    for (let i = 0; i < 12; i++) await store.commitInbound({ sourceId: 'canary-line', raw: messages[i % messages.length] ?? Buffer.alloc(0), receivedAt: 99 });
    await store.close();

    // Damage: a flipped bit in the write-ahead log (its copy is kept), then a truncated table (the store is kept and repaired).
    const dir = join(dataDir, 'store');
    const log = (await readdir(dir)).find((n) => n.endsWith('.log')) ?? '';
    const logBytes = await readFile(join(dir, log));
    logBytes[Math.floor(logBytes.length * 0.8)] = (logBytes[Math.floor(logBytes.length * 0.8)] ?? 0) ^ 0x20;
    await writeFile(join(dir, log), logBytes);
    await (await open()).close();
    const tables = (await readdir(dir)).filter((n) => n.endsWith('.ldb')).sort();
    const newest = join(dir, tables[tables.length - 1] ?? '');
    await truncate(newest, Math.floor((await stat(newest)).size / 2));
    store = await open();
    await store.close();
  });

  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('went through every path (quarantine, replay, rotation, damaged copies)', async () => {
    const kinds = new Set(alarms.map((a) => a.code));
    assert.ok(kinds.has('LABEDGE_ERR_STORE_INTEGRITY'), 'a value was quarantined');
    assert.ok(kinds.has('LABEDGE_ERR_STORE_DAMAGED'), 'damage was found and repaired');
    const damaged = await readdir(join(dataDir, 'damaged'));
    assert.ok(damaged.some((n) => n.endsWith('-wal')) && damaged.some((n) => n.endsWith('-store')), damaged.join(', '));
  });

  it('finds nothing (and the search does find a planted canary: positive control)', async () => {
    assert.deepEqual(await canariesInDir(dataDir), []);
    await writeFile(join(root, 'control.txt'), 'x Zzcanaryfam x');
    assert.equal((await canariesInDir(root)).filter((h) => h.includes('control.txt')).length, 1);
    await rm(join(root, 'control.txt'));
  });
});
