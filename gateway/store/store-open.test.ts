import assert from 'node:assert/strict';
import { mkdir, mkdtemp, open, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Level } from 'level';
import { LabedgeError } from '../core/errors.js';
import { QueueStore, type StoreAlarm } from './queue-store.js';

/**
 * Integrity on open: a damaged store is kept aside and repaired, never recreated empty;
 * damage that LevelDB's recovery would swallow (a truncated or bit-flipped write-ahead log,
 * a lost directory) raises an alarm, found by the commit witness or LevelDB's own LOG.
 */
let root: string;
let dataDir: string;
let keyFile: string;
const opened: QueueStore[] = [];

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'labedge-open-'));
  dataDir = join(root, 'data');
  keyFile = join(root, 'keys', 'kek');
});
afterEach(async () => {
  for (const s of opened.splice(0)) await s.close();
  await rm(root, { recursive: true, force: true });
});

async function openWithAlarms(): Promise<{ store: QueueStore; alarms: StoreAlarm[] }> {
  const alarms: StoreAlarm[] = [];
  const store = await QueueStore.open({ dataDir, keyFile, onAlarm: (a) => alarms.push(a) });
  opened.push(store);
  return { store, alarms };
}

async function commit(n: number, tag: string): Promise<string[]> {
  const store = await QueueStore.open({ dataDir, keyFile });
  const ids: string[] = [];
  for (let i = 0; i < n; i++) ids.push(await store.commitInbound({ sourceId: 'analyzer-1', raw: Buffer.from(`H|\\^&\rP|1||${tag}-${i}\rL|1|N\r`), receivedAt: i }));
  await store.close();
  return ids;
}

const files = async (ext: string): Promise<string[]> =>
  (await readdir(join(dataDir, 'store'))).filter((n) => n.endsWith(ext)).sort().map((n) => join(dataDir, 'store', n));

const codeOf = (code: string) => (e: unknown) => e instanceof LabedgeError && e.code === code;

/** One bit flipped 70 % into the write-ahead log: LevelDB drops the records from there. */
async function flipLogBit(): Promise<void> {
  const [log] = await files('.log');
  assert.ok(log);
  const bytes = await readFile(log);
  const at = Math.floor(bytes.length * 0.7);
  const h = await open(log, 'r+');
  await h.write(Buffer.from([(bytes[at] ?? 0) ^ 0x10]), 0, 1, at);
  await h.close();
}

describe('integrity on open', () => {
  it('a damaged table: the store is kept aside, repaired, and opened with an alarm', async () => {
    const first = await commit(5, 'A'); // log → table on the next open (with the data key)
    await commit(0, 'x');
    const second = await commit(5, 'B');
    await commit(0, 'y'); // the second batch becomes its own, newer table
    const tables = await files('.ldb');
    assert.ok(tables.length >= 2, `tables: ${tables.length}`);
    const newest = tables[tables.length - 1] ?? '';
    await truncate(newest, Math.floor((await stat(newest)).size / 2));

    const { store, alarms } = await openWithAlarms();
    const ids = (await store.listInbound(100)).map((r) => r.id);
    // The undamaged table survives; the trail lost its newest entries with the damaged one, so its oldest
    // waiting records are held as dead letters (a lost entry may have delivered them), not sent again.
    const held = (await store.listDeadLetters(100)).filter((d) => d.reasonCode === 'held-after-damage').map((d) => d.originId);
    assert.deepEqual([...held, ...ids].slice(0, 5), first, 'the undamaged table survives');
    assert.ok(!second.every((id) => ids.includes(id)), 'the damaged table lost records…');
    const damaged = alarms.filter((a) => a.code === 'LABEDGE_ERR_STORE_DAMAGED');
    assert.ok(damaged.length >= 1, '…and the operator is told');
    const kept = (await readdir(join(dataDir, 'damaged'))).find((n) => n.endsWith('-store')) ?? '';
    assert.ok(damaged.some((a) => a.message.includes(kept)), 'the alarm says where the damaged copy is');
    assert.ok(damaged.some((a) => /fail their checksum/.test(a.message)), 'the table check found the truncated table first');
    assert.ok((await readdir(join(dataDir, 'damaged', kept))).some((n) => n.endsWith('.ldb')), 'the damaged copy keeps its tables');
    assert.ok(damaged.some((a) => /acknowledged records are missing/.test(a.message)), 'the commit witness says records are missing');
  });

  it('a flipped type byte that LevelDB would read as "deleted": the table check raises the alarm LevelDB cannot, and the record is restored', async () => {
    const ids = await commit(3, 'A');
    await commit(0, 'x'); // the log becomes a table
    const hit = [];
    let hitAt = -1;
    for (const t of await files('.ldb')) {
      const bytes = await readFile(t);
      const at = bytes.indexOf('i!0000000000000001'); // a block's first key is written whole
      // The internal key's trailer follows the user key: its first byte is the value type (1 = value, 0 = deletion).
      if (at >= 0 && bytes[at + 18] === 1) {
        hitAt = at + 18;
        const h = await open(t, 'r+');
        await h.write(Buffer.from([0]), 0, 1, at + 18);
        await h.close();
        hit.push(t);
      }
    }
    assert.equal(hit.length, 1, 'the record key was found in one table');
    const { store, alarms } = await openWithAlarms();
    const alarm = alarms.find((a) => a.code === 'LABEDGE_ERR_STORE_DAMAGED' && a.severity === 'error');
    assert.ok(alarm, 'the store says so');
    const table = (hit[0] ?? '').split('/').pop() ?? '';
    assert.match(alarm.message, new RegExp(`${table} at byte \\d+: data block: its checksum does not match \\(keys .*up to`));
    // Repair mends the table: a deletion never carries a value, so the flipped type byte is flipped back.
    assert.match(alarm.message, new RegExp(`${table} rewritten without its damaged parts`));
    assert.deepEqual((await store.listInbound(100)).map((r) => r.id), ids);
    assert.ok(alarms.some((a) => a.severity === 'info' && /all 3 record\(s\) it says are waiting or kept are here/.test(a.message)), JSON.stringify(alarms));
    assert.doesNotMatch(JSON.stringify(alarms), /A-\d/, 'no record content in the alarm');
    const kept = (await readdir(join(dataDir, 'damaged'))).find((n) => n.endsWith('-store')) ?? '';
    // The working copy was hard links: the salvage replaced its table by a new file, so the damaged copy's is as it was.
    const keptTable = await readFile(join(dataDir, 'damaged', kept, table));
    assert.equal(keptTable[hitAt], 0, 'the damaged copy keeps the damaged table, unmended');

    // Mended: the next open finds nothing.
    await store.close();
    opened.length = 0;
    const again = await openWithAlarms();
    assert.deepEqual(again.alarms, []);
  });

  it('damage met while running (a table overwritten under the open store): alarmed once, repaired at the next start', async () => {
    await commit(30, 'A');
    await commit(0, 'x'); // the log becomes a table
    const { store, alarms } = await openWithAlarms();
    const [table] = await files('.ldb');
    assert.ok(table);
    // After the open's checks, so only a read finds it. (Not a truncation: LevelDB maps its
    // tables, and a read past the end of a mapped file is SIGBUS, not an error.)
    const h = await open(table, 'r+');
    await h.write(Buffer.alloc(Math.floor((await h.stat()).size / 2), 0xff), 0);
    await h.close();
    const failure = await store.listInbound(100).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(failure, 'the read fails on the damaged table');
    store.noteFailure(new Error('an upstream timeout')); // not damage: nothing noted
    store.noteFailure(failure);
    store.noteFailure(failure);
    const running = alarms.filter((a) => a.code === 'LABEDGE_ERR_STORE_DAMAGED');
    assert.equal(running.length, 1, JSON.stringify(alarms));
    assert.match(running[0]?.message ?? '', /while running .*repaired at the next start/);
    await store.close();
    opened.length = 0;
    await new Promise((r) => setTimeout(r, 50)); // the note is written in the background

    const next = await openWithAlarms();
    assert.ok(next.alarms.some((a) => a.code === 'LABEDGE_ERR_STORE_DAMAGED' && /a read while running found/.test(a.message)), JSON.stringify(next.alarms));
    // Half the table was overwritten, its audit entries with it: the comparison says it is partial.
    assert.ok(next.alarms.some((a) => a.severity === 'error' && /comparison is partial/.test(a.message)), JSON.stringify(next.alarms));
    assert.ok((await readdir(join(dataDir, 'damaged'))).some((n) => n.endsWith('-store')), 'the damaged copy is kept');
    assert.ok(!(await readdir(dataDir)).includes('damage-found'), 'the note is gone once repaired');
    await next.store.close();
    opened.length = 0;
    const third = await openWithAlarms();
    assert.deepEqual(third.alarms.filter((a) => /while running/.test(a.message)), []);
  });

  it('repairs keep the newest three damaged copies, not one per repair forever', async () => {
    await commit(5, 'A');
    await commit(0, 'x');
    await commit(5, 'B');
    await commit(0, 'y');
    for (const stamp of ['2020-01-01', '2020-01-02', '2020-01-03']) await mkdir(join(dataDir, 'damaged', `${stamp}-store`), { recursive: true });
    const newest = (await files('.ldb')).at(-1) ?? '';
    await truncate(newest, Math.floor((await stat(newest)).size / 2));
    const { alarms } = await openWithAlarms();
    assert.ok(alarms.some((a) => /older damaged copies removed .*2020-01-01-store/.test(a.message)), JSON.stringify(alarms));
    const left = (await readdir(join(dataDir, 'damaged'))).filter((n) => n.endsWith('-store')).sort();
    assert.equal(left.length, 3);
    assert.deepEqual(left.slice(0, 2), ['2020-01-02-store', '2020-01-03-store']);
  });

  it('when repair recovers nothing, the open is refused (never an empty replacement)', async () => {
    await commit(5, 'A');
    await commit(0, 'x');
    for (const f of await files('.ldb')) {
      const h = await open(f, 'r+');
      await h.write(Buffer.alloc((await h.stat()).size, 0x5a), 0);
      await h.close();
    }
    for (const f of await files('.log')) await rm(f);
    await assert.rejects(QueueStore.open({ dataDir, keyFile }), (e: unknown) => codeOf('LABEDGE_ERR_STORE_DAMAGED')(e) && /empty replacement/.test((e as Error).message));
    assert.equal((await readdir(join(dataDir, 'damaged'))).filter((n) => n.endsWith('-store')).length, 1, 'the damaged copy is kept');
    assert.ok((await readdir(dataDir)).includes('reconcile-due'), 'marked before the repair: the comparison stays due until it is made');
  });

  it('a lost store directory is not silently replaced by an empty one', async () => {
    await commit(3, 'A');
    await rm(join(dataDir, 'store'), { recursive: true });
    await assert.rejects(QueueStore.open({ dataDir, keyFile }), (e: unknown) => codeOf('LABEDGE_ERR_STORE_DAMAGED')(e) && /empty replacement/.test((e as Error).message));
    // The operator's explicit decision: remove the witness, and a fresh store starts.
    await rm(join(dataDir, 'commit-mark'));
    const { store } = await openWithAlarms();
    assert.equal((await store.stats()).inbound, 0);
  });

  it('a truncated write-ahead log: LevelDB drops the tail silently, the commit witness does not', async () => {
    const ids = await commit(20, 'A');
    const [log] = await files('.log');
    assert.ok(log);
    await truncate(log, Math.floor((await stat(log)).size * 0.6));
    const { store, alarms } = await openWithAlarms();
    const left = (await store.listInbound(100)).length;
    assert.ok(left < ids.length, `records were lost (${left} of ${ids.length})`);
    assert.ok(alarms.some((a) => a.code === 'LABEDGE_ERR_STORE_DAMAGED' && /acknowledged records are missing/.test(a.message)), JSON.stringify(alarms));
  });

  it('a bit flip in the write-ahead log: the dropped bytes raise an alarm and the damaged log is kept (with the two newest earlier ones)', async () => {
    const ids = await commit(20, 'A');
    for (const stamp of ['2020-01-01', '2020-01-02', '2020-01-03']) await mkdir(join(dataDir, 'damaged', `${stamp}-wal`), { recursive: true });
    await flipLogBit();
    const { store, alarms } = await openWithAlarms();
    assert.ok((await store.listInbound(100)).length < ids.length);
    const alarm = alarms.find((a) => /dropped \d+ bytes/.test(a.message));
    assert.ok(alarm, JSON.stringify(alarms));
    const wals = (await readdir(join(dataDir, 'damaged'))).filter((n) => n.endsWith('-wal')).sort();
    assert.deepEqual(wals.slice(0, 2), ['2020-01-02-wal', '2020-01-03-wal']);
    const kept = wals[2] ?? '';
    assert.ok((await readdir(join(dataDir, 'damaged', kept))).some((n) => n.endsWith('.log')), 'the damaged log is kept');
  });

  it('a bit flip in the write-ahead log after an unclean exit: the check in a child recovers the log, and its dropped bytes still raise the alarm', async () => {
    const ids = await commit(20, 'A');
    await flipLogBit();
    await writeFile(join(dataDir, '.open'), '12345\n'); // as a SIGKILL leaves it
    const { store, alarms } = await openWithAlarms();
    assert.ok((await store.listInbound(100)).length < ids.length);
    assert.ok(alarms.some((a) => /dropped \d+ bytes/.test(a.message)), JSON.stringify(alarms));
    assert.ok(alarms.some((a) => /compared with the audit trail|reconciled|waiting or kept/.test(a.message)), 'the queue is compared with the audit trail');
  });

  it('a key outside every known prefix (key damage) raises an integrity alarm and is left alone', async () => {
    await commit(2, 'A');
    const raw = new Level<string, Buffer>(join(dataDir, 'store'), { keyEncoding: 'utf8', valueEncoding: 'buffer' });
    await raw.put('j!0000000000000001', Buffer.from('x'));
    await raw.close();
    const { store, alarms } = await openWithAlarms();
    assert.equal((await store.stats()).inbound, 2);
    assert.ok(alarms.some((a) => a.code === 'LABEDGE_ERR_STORE_INTEGRITY' && /1 stored keys/.test(a.message)));
  });

  it("LevelDB's own leftovers after a crash (a table file the MANIFEST does not list) are not damage", async () => {
    await commit(5, 'A');
    await commit(0, 'x');
    const [table] = await files('.ldb');
    assert.ok(table);
    // As a SIGKILL during a compaction leaves them: an empty output, and one cut before its footer.
    await writeFile(join(dataDir, 'store', '000900.ldb'), Buffer.alloc(0));
    await writeFile(join(dataDir, 'store', '000901.ldb'), (await readFile(table)).subarray(0, 1000));
    const { store, alarms } = await openWithAlarms();
    assert.deepEqual(alarms, []);
    assert.equal((await store.stats()).inbound, 5);
  });

  it('an emptied MANIFEST (a power cut): repair takes every table back in, none is set aside as stale', async () => {
    const first = await commit(5, 'A');
    await commit(0, 'x'); // a table
    const second = await commit(5, 'B');
    await commit(0, 'y'); // another
    const [manifest] = await files('');
    const name = (await readFile(join(dataDir, 'store', 'CURRENT'), 'utf8')).trim();
    assert.ok(manifest !== undefined && name.startsWith('MANIFEST-'));
    await truncate(join(dataDir, 'store', name), 0);
    const { store, alarms } = await openWithAlarms();
    assert.ok(alarms.some((a) => a.code === 'LABEDGE_ERR_STORE_DAMAGED' && a.severity === 'error'), JSON.stringify(alarms));
    assert.ok(!alarms.some((a) => /set aside/.test(a.message)), JSON.stringify(alarms));
    assert.deepEqual((await store.listInbound(100)).map((r) => r.id), [...first, ...second]);
  });

  it('a MANIFEST that lost its last edit (cut at a record boundary): the tables it no longer records are taken in by a repair, not deleted by LevelDB', async () => {
    const store = await QueueStore.open({ dataDir, keyFile });
    const ids: string[] = [];
    // Over LevelDB's 4 MB write buffer: a table is written, and recorded by a second MANIFEST edit, while the store is open.
    for (let i = 0; i < 600; i++) ids.push(await store.commitInbound({ sourceId: 'analyzer-1', raw: randomBytes(10_000), receivedAt: i }));
    await store.close();
    const name = (await readFile(join(dataDir, 'store', 'CURRENT'), 'utf8')).trim();
    const manifest = await readFile(join(dataDir, 'store', name));
    // Record boundaries (one block: the MANIFEST is small): a cut before the last record loses the last edit.
    const ends: number[] = [];
    for (let at = 0; at + 7 <= manifest.length; at += 7 + manifest.readUInt16LE(at + 4)) ends.push(at + 7 + manifest.readUInt16LE(at + 4));
    assert.ok(ends.length >= 3, 'the open wrote its snapshot and first edit; the table written later, another edit');
    await truncate(join(dataDir, 'store', name), ends.at(-2) ?? 0);
    const { store: again, alarms } = await openWithAlarms();
    assert.ok(alarms.some((a) => a.severity === 'error' && /the MANIFEST has lost its record of \d+ table file\(s\) holding data/.test(a.message)), JSON.stringify(alarms));
    assert.deepEqual((await again.listInbound(1000)).map((r) => r.id), ids);
  });

  it('a table the MANIFEST listed and dropped (a compaction input a crash left behind) is set aside by a repair, not taken back in', async () => {
    await commit(5, 'A');
    await commit(0, 'x');
    const [table] = await files('.ldb');
    assert.ok(table);
    const stale = await readFile(table);
    // Compact so that table is dropped and replaced, then put the old file back as a crash would have left it.
    const raw = new Level<string, Buffer>(join(dataDir, 'store'), { keyEncoding: 'utf8', valueEncoding: 'buffer' });
    await raw.open();
    await (raw as unknown as { compactRange: (a: string, b: string) => Promise<void> }).compactRange('\x00', '\xff');
    await raw.close();
    assert.ok(!(await files('.ldb')).includes(table), 'compacted away');
    const [live] = await files('.ldb');
    assert.ok(live);
    await writeFile(table, stale);
    const h = await open(live, 'r+'); // damage that needs a repair: a flipped byte in the live table
    await h.write(Buffer.from([0xff]), 0, 1, 20);
    await h.close();
    const { alarms } = await openWithAlarms();
    assert.ok(alarms.some((a) => new RegExp(`listed and dropped set aside .*${table.split('/').pop() ?? ''}`).test(a.message)), JSON.stringify(alarms));
  });

  it('a store another process holds is never moved for repair, even when a note says it is damaged', async () => {
    const holder = await QueueStore.open({ dataDir, keyFile });
    try {
      await holder.commitInbound({ sourceId: 'analyzer-1', raw: Buffer.from('H|\\^&\rL|1|N\r'), receivedAt: 1 });
      holder.noteFailure(Object.assign(new Error('Corruption: block checksum mismatch'), { code: 'LEVEL_CORRUPTION' }));
      await new Promise((r) => setTimeout(r, 50)); // the note is written in the background
      // Another process (an operator's CLI, say) opens the store meanwhile: refused, nothing moved.
      await assert.rejects(QueueStore.open({ dataDir, keyFile }), codeOf('LABEDGE_ERR_STORE_LOCKED'));
      assert.ok(!(await readdir(dataDir)).includes('damaged'));
      await holder.commitInbound({ sourceId: 'analyzer-1', raw: Buffer.from('H|\\^&\rL|1|N\r'), receivedAt: 2 });
    } finally {
      await holder.close();
    }
    // Once released, the next open repairs; both acknowledged records are there.
    const { store, alarms } = await openWithAlarms();
    assert.ok(alarms.some((a) => /a read while running found/.test(a.message)));
    assert.equal((await store.stats()).inbound, 2);
  });

  for (const variant of ['LOCK deleted', 'guard deleted too', "guard's LOCK deleted too"] as const) it(`operators' commands opening the store together beside a running holder (another process) never move it: a damaged table, ${variant}`, async () => {
    await commit(5, 'A');
    await commit(0, 'x'); // the log becomes a table
    const holderScript = fileURLToPath(new URL('../../test/harness/store-holder.ts', import.meta.url));
    const holder = spawn(process.execPath, ['--import', 'tsx', holderScript, dataDir, keyFile], { stdio: ['pipe', 'pipe', 'inherit'] });
    const lines = createInterface({ input: holder.stdout })[Symbol.asyncIterator]();
    const exited = new Promise((resolve) => holder.once('exit', resolve));
    try {
      assert.equal((await lines.next()).value, 'ready');
      const before = (await stat(join(dataDir, 'store'))).ino;
      // A flipped byte the table check finds (the open would repair), and LevelDB's LOCK file deleted under the holder.
      const [table] = await files('.ldb');
      assert.ok(table);
      const h = await open(table, 'r+');
      await h.write(Buffer.from([0xff]), 0, 1, 20);
      await h.close();
      await rm(join(dataDir, 'store', 'LOCK'));
      if (variant === 'guard deleted too') await rm(join(dataDir, '.guard'), { recursive: true });
      if (variant === "guard's LOCK deleted too") await rm(join(dataDir, '.guard', 'LOCK'));
      const tries = await Promise.all(
        Array.from({ length: 4 }, async () => {
          const child = spawn(process.execPath, ['--import', 'tsx', holderScript, dataDir, keyFile, '--try'], { stdio: ['ignore', 'pipe', 'inherit'] });
          let out = '';
          for await (const chunk of child.stdout) out += String(chunk);
          return out.trim();
        }),
      );
      assert.deepEqual(tries, Array(4).fill('LABEDGE_ERR_STORE_LOCKED'));
      assert.equal((await stat(join(dataDir, 'store'))).ino, before, 'the store directory was not moved');
      assert.ok(!(await readdir(dataDir)).includes('damaged'));
      holder.stdin.write('commit\n');
      assert.match(String((await lines.next()).value), /^i-0{15}6$/);
    } finally {
      holder.stdin.end();
      await exited;
    }
    // Once the holder is gone, the next open repairs the table; all six acknowledged records are there.
    const { store, alarms } = await openWithAlarms();
    assert.ok(alarms.some((a) => /fail their checksum/.test(a.message)), JSON.stringify(alarms));
    assert.equal((await store.stats()).inbound, 6);
  });

  it('a table file deleted from under the store is named as missing, not just "corruption"', async () => {
    await commit(5, 'A');
    await commit(0, 'x');
    await commit(5, 'B');
    await commit(0, 'y');
    const [table] = await files('.ldb');
    assert.ok(table);
    await rm(table);
    const { alarms } = await openWithAlarms();
    const name = table.split('/').pop() ?? '';
    assert.ok(alarms.some((a) => a.code === 'LABEDGE_ERR_STORE_DAMAGED' && a.message.includes(`1 table file(s) the MANIFEST lists are missing: ${name}`)), JSON.stringify(alarms));
  });

  it('a damaged guard (it holds no data) is made anew, its LOCK kept; a file in its place is removed', async () => {
    await commit(3, 'A');
    await writeFile(join(dataDir, '.guard', 'CURRENT'), 'garbage\n');
    let { store } = await openWithAlarms();
    assert.equal((await store.stats()).inbound, 3);
    await store.close();
    opened.splice(0);
    await rm(join(dataDir, '.guard'), { recursive: true });
    await writeFile(join(dataDir, '.guard'), 'x');
    ({ store } = await openWithAlarms());
    assert.equal((await store.stats()).inbound, 3);
  });

  it('a data directory that cannot be made says which, and why, in one line', async () => {
    await writeFile(join(root, 'a-file'), 'x');
    const under = join(root, 'a-file', 'data');
    await assert.rejects(QueueStore.open({ dataDir: under, keyFile }), (e: unknown) => codeOf('LABEDGE_ERR_STORE_COMMIT')(e) && (e as Error).message.includes(`ENOTDIR (mkdir) in ${under}`));
  });

  it('a clean reopen raises no alarm and leaves nothing behind', async () => {
    await commit(5, 'A');
    const { alarms } = await openWithAlarms();
    assert.deepEqual(alarms, []);
    assert.ok(!(await readdir(dataDir)).includes('damaged'));
  });
});
