import assert from 'node:assert/strict';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { Level } from 'level';
import { QueueStore, type StoreAlarm } from './queue-store.js';
import { AUDIT_HEAD_KEY } from '../audit/audit-keys.js';

/**
 * After damage, the queue is compared with the audit trail (reconcile.ts). The damage here is
 * keys removed behind the store's back plus one stray key (a damage signal the open reports);
 * real damage that hides a key (a table's type byte flipped to "deleted") is in
 * store-open.test.ts and the damage trials (test/crash).
 */
const CANARY = 'QUIXOTE^ZEBEDIAH';
let root: string;
let dataDir: string;
let keyFile: string;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'labedge-reconcile-'));
  dataDir = join(root, 'data');
  keyFile = join(root, 'keys', 'kek');
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const raw = (n: number): Buffer => Buffer.from(`H|\\^&\rP|1||PID-${n}||${CANARY}\rR|1|^^^GLU|${n}\rL|1|N\r`);

/** Three messages from analyzer-1: the first waits inbound, the second waits outbound, the third too (inbound). */
async function build(): Promise<{ ids: string[]; outboundId: string }> {
  const store = await QueueStore.open({ dataDir, keyFile });
  const ids: string[] = [];
  for (let n = 1; n <= 3; n++) ids.push(await store.commitInbound({ sourceId: 'analyzer-1', raw: raw(n), receivedAt: Date.UTC(2026, 11, 4, 8, n) }));
  const outboundId = await store.transformed(ids[1] ?? '', { sourceId: 'analyzer-1', bundle: { resourceType: 'Bundle', type: 'transaction', entry: [{}] } });
  await store.close();
  return { ids, outboundId };
}

/** Removes keys as a damaged table block can hide them, and leaves a stray key the open reports as damage. */
async function damage(keys: string[]): Promise<void> {
  const db = new Level<string, Buffer>(join(dataDir, 'store'), { keyEncoding: 'utf8', valueEncoding: 'buffer' });
  await db.batch([...keys.map((key) => ({ type: 'del' as const, key })), { type: 'put' as const, key: 'j!0000000000000001', value: Buffer.from('x') }]);
  await db.close();
}

async function reopen(): Promise<{ store: QueueStore; alarms: StoreAlarm[] }> {
  const alarms: StoreAlarm[] = [];
  const store = await QueueStore.open({ dataDir, keyFile, onAlarm: (a) => alarms.push(a) });
  return { store, alarms };
}

const key = (id: string): string => id.replaceAll('-', '!');

describe('reconciling the queue with the audit trail after damage', () => {
  it('restores waiting records the store lost from their archived raw bytes, and they go on as before', async () => {
    const { ids, outboundId } = await build();
    await damage([key(ids[0] ?? ''), key(outboundId)]);
    const { store, alarms } = await reopen();
    try {
      const alarm = alarms.find((a) => /waiting or kept/.test(a.message));
      assert.ok(alarm, JSON.stringify(alarms));
      assert.equal(alarm.severity, 'error');
      assert.match(alarm.message, /2 restored from their archived raw messages/);
      const inbound = await store.listInbound(10);
      // The lost outbound record comes back as the inbound record of its sequence number: mapped again, it is the same outbound id.
      assert.deepEqual(inbound.map((r) => r.id), ids);
      assert.deepEqual(inbound.map((r) => r.raw?.toString()), [1, 2, 3].map((n) => raw(n).toString()));
      assert.equal((await store.stats()).inbound, 3);
      assert.equal(await store.transformed(ids[1] ?? '', { sourceId: 'analyzer-1', bundle: { resourceType: 'Bundle', type: 'transaction', entry: [{}] } }), outboundId);
      const recovery = [];
      for await (const e of store.audit.entries()) if (e.kind === 'audit-recovery') recovery.push(e.body);
      assert.deepEqual(recovery.map((b) => b.restored), [[ids[0], ids[1]]]);
      assert.doesNotMatch(JSON.stringify(alarms), new RegExp(`${CANARY.split('^')[0]}|PID-`));
    } finally {
      await store.close();
    }
    // Reconciled once: the next (clean but for the stray key) open finds nothing missing.
    const again = await reopen();
    await again.store.close();
    assert.ok(again.alarms.some((a) => a.severity === 'info' && /all 3 record\(s\) it says are waiting or kept are here/.test(a.message)), JSON.stringify(again.alarms));
  });

  it('names a waiting record whose raw bytes are gone too, and a lost dead letter, so the instrument can send them again', async () => {
    const { ids } = await build();
    const third = ids[2] ?? '';
    const before = await QueueStore.open({ dataDir, keyFile });
    await before.rejected(ids[0] ?? '', { reasonCode: 'mapping-error', detail: 'P.5' });
    const [letter] = await before.listDeadLetters(10);
    await before.close();
    assert.ok(letter);
    await damage([key(third), `r!${third.slice(2)}`, key(letter.id)]);
    const { store, alarms } = await reopen();
    try {
      const alarm = alarms.find((a) => /cannot be restored/.test(a.message));
      assert.ok(alarm, JSON.stringify(alarms));
      assert.match(alarm.message, new RegExp(`${third} \\(analyzer-1, received 2026-12-04T08:03:00.000Z\\)`));
      assert.match(alarm.message, new RegExp(`${letter.id} \\(analyzer-1, received 2026-12-04T08:01:00.000Z\\)`));
      assert.deepEqual((await store.listInbound(10)).map((r) => r.id), []);
      assert.deepEqual(await store.listDeadLetters(10), []);
      assert.doesNotMatch(JSON.stringify(alarms), /QUIXOTE|PID-/);
    } finally {
      await store.close();
    }
  });

  it('a restored record keeps its number: the next message takes a new one (the damage took the sequence mark too)', async () => {
    const { ids } = await build();
    await damage([key(ids[2] ?? ''), 'm!seq']);
    const { store, alarms } = await reopen();
    try {
      assert.ok(alarms.some((a) => /1 restored/.test(a.message)), JSON.stringify(alarms));
      const next = await store.commitInbound({ sourceId: 'analyzer-1', raw: raw(4), receivedAt: Date.UTC(2026, 11, 4, 8, 4) });
      assert.equal(next, 'i-0000000000000004');
      const byId = new Map((await store.listInbound(10)).map((r) => [r.id, r.raw?.toString()]));
      assert.equal(byId.get(ids[2] ?? ''), raw(3).toString(), 'the restored message is still message 3');
      assert.equal(byId.get(next), raw(4).toString());
    } finally {
      await store.close();
    }
  });

  it('a record whose finishing audit entry the damage took is named, never restored (it may have been delivered)', async () => {
    const { ids, outboundId } = await build();
    // Deliver the outbound record, then lose the deliver entry with the damage: the trail still says it waits.
    const s = await QueueStore.open({ dataDir, keyFile });
    await s.delivered(outboundId);
    let deliverKey = '';
    for await (const e of s.audit.entries()) if (e.kind === 'deliver') deliverKey = `a!${e.seq.toString(16).padStart(16, '0')}`;
    await s.close();
    assert.ok(deliverKey);
    await damage([deliverKey]);
    const { store, alarms } = await reopen();
    try {
      const alarm = alarms.find((a) => /not restored, because the audit trail has a gap/.test(a.message));
      assert.ok(alarm, JSON.stringify(alarms));
      assert.match(alarm.message, new RegExp(outboundId));
      assert.equal((await store.stats()).outbound, 0, 'nothing brought back');
      // The trail reopened shorter than its witness saw: the oldest waiting record is held, not sent (the lost entry may have finished it).
      assert.ok(alarms.some((a) => /the audit trail reopened at entry \d+, but entry \d+ had been written/.test(a.message)), JSON.stringify(alarms));
      assert.match(alarm.message, new RegExp(`1 waiting record\\(s\\): they are held as dead letters .*\\(${ids[0]}\\)`));
      assert.deepEqual((await store.listInbound(10)).map((r) => r.id), [ids[2]]);
      const [held] = await store.listDeadLetters(10);
      assert.equal(held?.originId, ids[0]);
      assert.equal(held?.reasonCode, 'held-after-damage');
    } finally {
      await store.close();
    }
  });

  it("an operator's replay whose move never happened (its entry is written first) is not taken for a lost record", async () => {
    const { ids } = await build();
    const s = await QueueStore.open({ dataDir, keyFile });
    await s.rejected(ids[0] ?? '', { reasonCode: 'mapping-error', detail: 'P.5' });
    const [letter] = await s.listDeadLetters(10);
    assert.ok(letter);
    // What DeadLetterOps.replay writes before its move; the move then failed (disk full, a kill).
    await s.audit.append({ kind: 'dlq-access', body: { operator: 'op', action: 'dlq-replay', ids: [letter.id, 'i-0000000000000009'] } });
    await s.close();
    await damage([]);
    const { store, alarms } = await reopen();
    try {
      assert.ok(alarms.some((a) => a.severity === 'info' && /are here/.test(a.message)), JSON.stringify(alarms));
      assert.ok(!(await store.listInbound(10)).some((r) => r.id === 'i-0000000000000009'));
      assert.equal((await store.listDeadLetters(10)).length, 1);
    } finally {
      await store.close();
    }
  });

  it('a large loss is compared, restored and named a thousand at a time: every record in an audit-recovery entry, the first few in the alarm', async () => {
    const store = await QueueStore.open({ dataDir, keyFile });
    const ids: string[] = [];
    for (let n = 0; n < 2600; n += 200) ids.push(...(await Promise.all(Array.from({ length: 200 }, (_, k) => store.commitInbound({ sourceId: `analyzer-${k % 3}`, raw: raw(n + k), receivedAt: Date.UTC(2026, 11, 4, 8, 0, 0, n + k) })))));
    await store.close();
    // 2,500 records lost with their keys; the last 1,100 of them lost their archived raw bytes too.
    const gone = ids.slice(0, 2500);
    const bytesGone = gone.slice(1400);
    await damage([...gone.map(key), ...bytesGone.map((id) => `r!${id.slice(2)}`)]);
    const { store: again, alarms } = await reopen();
    try {
      assert.equal((await again.stats()).inbound, 2600 - bytesGone.length);
      const recovery = [];
      for await (const e of again.audit.entries()) if (e.kind === 'audit-recovery') recovery.push(e.body);
      const restored = recovery.flatMap((b) => b.restored as string[]);
      const lost = recovery.flatMap((b) => b.lost as string[]);
      assert.deepEqual(restored, gone.slice(0, 1400));
      assert.deepEqual(lost.map((l) => l.split(' ')[0]), bytesGone);
      assert.ok(recovery.every((b) => (b.restored as string[]).length <= 1000 && (b.lost as string[]).length <= 1000));
      assert.match(String((recovery.at(-1)?.issues as string[])[0]), /1400 restored, 1100 lost/);
      const alarm = alarms.find((a) => /waiting or kept/.test(a.message));
      assert.match(alarm?.message ?? '', /1400 restored .*… \(all are named in the audit trail's audit-recovery entries\)/);
      assert.match(alarm?.message ?? '', /1100 cannot be restored/);
      assert.ok((alarm?.message.length ?? 0) < 4000, 'the alarm names a few, not thousands');
    } finally {
      await again.close();
    }
  });

  it('a comparison a stopped process left due (its repair done, the store now clean) is made at the next open', async () => {
    const { ids } = await build();
    // What a process killed between its repair and the comparison leaves: records gone, nothing else amiss, the mark.
    const db = new Level<string, Buffer>(join(dataDir, 'store'), { keyEncoding: 'utf8', valueEncoding: 'buffer' });
    await db.batch([{ type: 'del', key: key(ids[2] ?? '') }]);
    await db.close();
    await writeFile(join(dataDir, 'reconcile-due'), 'LEVEL_CORRUPTION\n');
    const { store, alarms } = await reopen();
    try {
      assert.ok(alarms.some((a) => /1 restored/.test(a.message)), JSON.stringify(alarms));
      assert.equal((await store.stats()).inbound, 2, 'message 3 is back');
    } finally {
      await store.close();
    }
    await assert.rejects(stat(join(dataDir, 'reconcile-due')), 'made, so no longer due');
    const again = await reopen();
    await again.store.close();
    assert.deepEqual(again.alarms, []);
  });

  it('a record the trail says was delivered, brought back by the damage (its removal lost), is removed again: an old result must not overwrite a correction upstream', async () => {
    const { ids, outboundId } = await build();
    const grab = async (k: string): Promise<Buffer | undefined> => {
      const db = new Level<string, Buffer>(join(dataDir, 'store'), { keyEncoding: 'utf8', valueEncoding: 'buffer' });
      try {
        return await db.get(k);
      } finally {
        await db.close();
      }
    };
    const before = await grab(key(outboundId));
    assert.ok(before);
    const s = await QueueStore.open({ dataDir, keyFile });
    await s.delivered(outboundId);
    await s.close();
    // The damage: the table holding the removals is gone, the older one with the records comes back.
    const db = new Level<string, Buffer>(join(dataDir, 'store'), { keyEncoding: 'utf8', valueEncoding: 'buffer' });
    await db.batch([
      { type: 'put', key: key(outboundId), value: before },
      { type: 'put', key: 'j!0000000000000001', value: Buffer.from('x') },
    ]);
    await db.close();
    const { store, alarms } = await reopen();
    try {
      const alarm = alarms.find((a) => /came back with the damage and were removed again/.test(a.message));
      assert.ok(alarm, JSON.stringify(alarms));
      assert.match(alarm.message, new RegExp(`^no record the audit trail says is waiting or kept is missing; 1 record\\(s\\) .*\\(${outboundId}\\)`));
      assert.equal((await store.stats()).outbound, 0);
      assert.deepEqual((await store.listInbound(10)).map((r) => r.id), [ids[0], ids[2]]);
      const recovery = [];
      for await (const e of store.audit.entries()) if (e.kind === 'audit-recovery') recovery.push(e.body);
      assert.deepEqual(recovery.flatMap((b) => (b.removed as string[] | undefined) ?? []), [outboundId]);
    } finally {
      await store.close();
    }
  });

  it('a record restored by an earlier comparison is waiting for the next one too (never taken for a finished record that came back)', async () => {
    const { ids, outboundId } = await build();
    await damage([key(outboundId)]); // lost: restored as the inbound record of its seq
    let { store, alarms } = await reopen();
    assert.ok(alarms.some((a) => /1 restored/.test(a.message)), JSON.stringify(alarms));
    await store.close();
    await damage([]); // damage again (the stray key), before the restored record is mapped
    ({ store, alarms } = await reopen());
    try {
      assert.ok(alarms.some((a) => a.severity === 'info' && /all 3 record\(s\)/.test(a.message)), JSON.stringify(alarms));
      assert.deepEqual((await store.listInbound(10)).map((r) => r.id), ids, 'the restored record is still there');
    } finally {
      await store.close();
    }
  });

  it('a delivered record brought back together with the loss of its deliver entry (one table held both) is held, not delivered again over a later correction', async () => {
    const { ids, outboundId } = await build();
    const raw = new Level<string, Buffer>(join(dataDir, 'store'), { keyEncoding: 'utf8', valueEncoding: 'buffer' });
    const record = await raw.get(key(outboundId));
    const head = await raw.get(AUDIT_HEAD_KEY);
    await raw.close();
    assert.ok(record && head);
    const s = await QueueStore.open({ dataDir, keyFile });
    await s.delivered(outboundId);
    let deliverKey = '';
    for await (const e of s.audit.entries()) if (e.kind === 'deliver') deliverKey = `a!${e.seq.toString(16).padStart(16, '0')}`;
    await s.close();
    // The table holding the removal, the deliver entry and the newer head mark is lost; the older one is back.
    const db = new Level<string, Buffer>(join(dataDir, 'store'), { keyEncoding: 'utf8', valueEncoding: 'buffer' });
    await db.batch([
      { type: 'put', key: key(outboundId), value: record },
      { type: 'del', key: deliverKey },
      { type: 'put', key: AUDIT_HEAD_KEY, value: head },
      { type: 'put', key: 'j!0000000000000001', value: Buffer.from('x') },
    ]);
    await db.close();
    const { store, alarms } = await reopen();
    try {
      assert.ok(alarms.some((a) => /its last entries are lost/.test(a.message)), JSON.stringify(alarms));
      assert.equal((await store.stats()).outbound, 0, 'not queued for delivery');
      const held = (await store.listDeadLetters(10)).filter((d) => d.reasonCode === 'held-after-damage').map((d) => d.originId);
      assert.ok(held.includes(outboundId), JSON.stringify(held));
      assert.deepEqual((await store.listInbound(10)).map((r) => r.id), [ids[2]]);
    } finally {
      await store.close();
    }
  });

  it('does nothing, and reads no trail, when nothing was damaged', async () => {
    await build();
    const { store, alarms } = await reopen();
    await store.close();
    assert.deepEqual(alarms, []);
  });
});
