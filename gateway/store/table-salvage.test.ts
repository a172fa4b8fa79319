import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { Level } from 'level';
import { checkTable, entries, readTable, blockContents } from './table-check.js';
import { salvageTable } from './table-salvage.js';

/**
 * Mending damaged tables: whatever the damage, the rewritten table passes the check, its keys
 * are in LevelDB's order (out-of-order keys abort a compaction), and LevelDB opens, reads and
 * compacts it after RepairDB with every entry of the intact blocks unchanged.
 */
let root: string;
let table: Buffer;
let tableName: string;
const want = new Map<string, Buffer>();

type Classic = Level<string, Buffer> & { compactRange(a: string, b: string): Promise<void> };
const repair = (dir: string): Promise<void> => (Level as unknown as { repair(d: string): Promise<void> }).repair(dir);

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'labedge-salvage-'));
  const db = new Level<string, Buffer>(join(root, 'db'), { valueEncoding: 'buffer' }) as Classic;
  // Incompressible values, as the store's sealed ones are: uncompressed blocks.
  for (let i = 0; i < 400; i++) {
    const key = `${'ior'[i % 3]}!${i.toString(16).padStart(16, '0')}`;
    const value = randomBytes(60 + (i % 50));
    want.set(key, value);
    await db.put(key, value);
  }
  for (let i = 0; i < 400; i += 7) {
    const key = `${'ior'[i % 3]}!${i.toString(16).padStart(16, '0')}`;
    want.delete(key);
    await db.del(key);
  }
  await db.close();
  // Reopened so the log becomes a table that still holds the deletions beside the values.
  const again = new Level<string, Buffer>(join(root, 'db'), { valueEncoding: 'buffer' });
  await again.open();
  await again.close();
  tableName = (await readdir(join(root, 'db'))).filter((n) => n.endsWith('.ldb')).sort().at(-1) ?? '';
  table = await readFile(join(root, 'db', tableName));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

/** Every internal key of a table, in file order. */
function keysOf(file: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (const b of readTable(file).blocks ?? []) for (const e of entries(blockContents(file, b.handle) ?? Buffer.alloc(0)) ?? []) out.push(e.key);
  return out;
}

function inOrder(keys: Buffer[]): boolean {
  for (let i = 1; i < keys.length; i++) {
    const a = keys[i - 1] as Buffer;
    const b = keys[i] as Buffer;
    const byUser = Buffer.compare(a.subarray(0, -8), b.subarray(0, -8));
    if (byUser > 0 || (byUser === 0 && a.readBigUInt64LE(a.length - 8) <= b.readBigUInt64LE(b.length - 8))) return false;
  }
  return true;
}

describe('table salvage', () => {
  it('an intact table is rewritten entry for entry', () => {
    const s = salvageTable(table);
    assert.ok(s);
    assert.equal(s.dropped, 0);
    assert.deepEqual(checkTable(s.table), []);
    assert.deepEqual(keysOf(s.table), keysOf(table));
  });

  it('whatever bits are flipped: never throws, and what it writes passes the check and is in order', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(table.length - 1), fc.nat(7)), { minLength: 1, maxLength: 6 }), (flips) => {
        const copy = Buffer.from(table);
        for (const [at, bit] of flips) copy[at] = (copy[at] as number) ^ (1 << bit);
        const s = salvageTable(copy);
        if (!s) return;
        assert.deepEqual(checkTable(s.table), []);
        assert.ok(inOrder(keysOf(s.table)), 'keys in LevelDB order');
      }),
      { numRuns: 400 },
    );
  });

  it('a type byte flipped to "deletion" on an entry that has a value is flipped back', () => {
    // A value entry written whole (at a restart point), so its type byte can be found by its key.
    const name = [...want.keys()].find((k) => table.indexOf(k) > 0 && table[table.indexOf(k) + k.length] === 1) ?? '';
    const at = table.indexOf(name);
    assert.ok(at > 0);
    const copy = Buffer.from(table);
    copy[at + name.length] = 0;
    assert.ok(checkTable(copy).length > 0);
    const s = salvageTable(copy);
    assert.ok(s);
    const key = keysOf(s.table).find((k) => k.subarray(0, -8).toString() === name);
    assert.equal(key?.[key.length - 8], 1);
  });

  it('a damaged key that sorts past its block costs entries of that block only, never the intact blocks after it', () => {
    const blocks = readTable(table).blocks ?? [];
    assert.ok(blocks.length >= 3);
    const target = blocks[0] as (typeof blocks)[number];
    const first = entries(blockContents(table, target.handle) ?? Buffer.alloc(0))?.[0];
    assert.ok(first);
    // The block's first key is written whole at its start (after three one-byte varints): flip its top bit ('i' → 0xe9).
    const at = target.handle.offset + 3;
    assert.equal(table[at], first.key[0]);
    const copy = Buffer.from(table);
    copy[at] = (copy[at] as number) ^ 0x80;
    const s = salvageTable(copy);
    assert.ok(s);
    const kept = new Set(keysOf(s.table).map((k) => k.toString('hex')));
    const original = keysOf(table);
    const inBlock = new Set((entries(blockContents(table, target.handle) ?? Buffer.alloc(0)) ?? []).map((e) => e.key.toString('hex')));
    const lost = original.filter((k) => !kept.has(k.toString('hex')));
    // The key's bytes are shared by the entries after it up to the next restart point: those go too, nothing beyond the block.
    assert.ok(lost.length >= 1 && lost.length < inBlock.size, `${lost.length} lost`);
    for (const k of lost) assert.ok(inBlock.has(k.toString('hex')), 'only entries of the damaged block are lost');
  });

  it('LevelDB opens the mended store after RepairDB: intact entries unchanged, and it compacts', async () => {
    const dir = join(root, 'mended');
    await rm(dir, { recursive: true, force: true });
    const src = join(root, 'db');
    const { cp } = await import('node:fs/promises');
    await cp(src, dir, { recursive: true });
    const damaged = Buffer.from(table);
    for (const at of [100, 2000, 2001, Math.floor(table.length / 2)]) damaged[at] = (damaged[at] as number) ^ 0x24;
    const s = salvageTable(damaged);
    assert.ok(s);
    await writeFile(join(dir, tableName), s.table);
    await rm(join(dir, 'LOCK'), { force: true });
    await repair(dir);
    const db = new Level<string, Buffer>(dir, { valueEncoding: 'buffer' }) as Classic;
    await db.open();
    try {
      let same = 0;
      for await (const [k, v] of db.iterator()) if (want.get(k)?.equals(v)) same += 1;
      // Every entry of an intact block is kept unchanged; those of damaged blocks may be lost.
      const atRisk = (readTable(damaged).blocks ?? []).filter((b) => !b.intact).reduce((n, b) => n + (entries(blockContents(table, b.handle) ?? Buffer.alloc(0))?.length ?? 0), 0);
      assert.ok(atRisk > 0);
      assert.ok(same >= want.size - atRisk, `${same} of ${want.size} entries kept unchanged (${atRisk} in damaged blocks)`);
      await db.put('z!', Buffer.from('x'));
      await db.compactRange('a', 'zz');
    } finally {
      await db.close();
    }
  });

  it('without its index (damaged, or cut off by a truncation), the data blocks before the damage are found and kept', () => {
    const original = keysOf(table);
    const copy = Buffer.from(table);
    copy[table.length - 48 - 10] = (copy[table.length - 48 - 10] as number) ^ 1; // inside the index block, just before the footer
    assert.equal(readTable(copy).blocks, undefined);
    assert.deepEqual(keysOf(salvageTable(copy)?.table ?? Buffer.alloc(0)), original);
    const blocks = readTable(table).blocks ?? [];
    const second = blocks[1]?.handle;
    assert.ok(second, 'more than one data block');
    for (const cut of [second.offset + second.size + 5, second.offset + 7, Math.floor(table.length * 0.6)]) {
      const kept = keysOf(salvageTable(table.subarray(0, cut))?.table ?? Buffer.alloc(0));
      const whole = blocks.filter((b) => b.handle.offset + b.handle.size + 5 <= cut).length;
      const expected = blocks.slice(0, whole).reduce((n, b) => n + (entries(blockContents(table, b.handle) ?? Buffer.alloc(0))?.length ?? 0), 0);
      assert.equal(kept.length, expected, `cut at ${cut}`);
      assert.deepEqual(kept, original.slice(0, expected));
    }
  });
});
