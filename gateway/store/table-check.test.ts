import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { Level } from 'level';
import { crc32c, maskCrc, unmaskCrc } from './crc32c.js';
import { snappyDecompress } from './snappy.js';
import { parseManifest, readManifest } from './manifest.js';
import { checkTable, checkTables } from './table-check.js';

/**
 * The table check against tables LevelDB itself wrote: every single-bit flip in any block
 * (contents, compression type or checksum) and every truncation is found; garbage never
 * throws. The 8-byte magic is checked too; only the footer's padding carries no meaning.
 */
let root: string;
let tables: Buffer[];

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'labedge-tables-'));
  const db = new Level<string, Buffer>(join(root, 'db'), { valueEncoding: 'buffer' });
  // Compressible values (Snappy-compressed blocks) and incompressible ones (sealed records are).
  for (let i = 0; i < 3000; i++) {
    const key = `${i % 2 ? 'i' : 'o'}!${i.toString(16).padStart(16, '0')}`;
    await db.put(key, i % 3 ? Buffer.from(`repeat ${i} `.repeat(20)) : Buffer.from(Array.from({ length: 200 }, (_, k) => (k * 7919 + i * 104729) % 251)));
  }
  // classic-level has compactRange; `level`'s browser-neutral typings leave it out.
  await (db as unknown as { compactRange(a: string, b: string): Promise<void> }).compactRange('a', 'z');
  await db.close();
  const dir = join(root, 'db');
  tables = await Promise.all((await readdir(dir)).filter((n) => n.endsWith('.ldb')).map((n) => readFile(join(dir, n))));
  assert.ok(tables.length > 0);
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

const flipped = (buf: Buffer, at: number, bit: number): Buffer => {
  const copy = Buffer.from(buf);
  copy[at] = (copy[at] as number) ^ (1 << bit);
  return copy;
};

describe('CRC-32C', () => {
  it('matches the standard check values', () => {
    assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
    assert.equal(crc32c(Buffer.alloc(32)), 0x8a9136aa);
    assert.equal(crc32c(Buffer.alloc(32, 0xff)), 0x62a8ab43);
  });
  it('extends over concatenation, and masking round-trips', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), fc.uint8Array({ maxLength: 100 }), (a, b) => {
        const whole = Buffer.concat([a, b]);
        assert.equal(crc32c(b, crc32c(a)), crc32c(whole));
        assert.equal(crc32c(whole, 0, a.length), crc32c(b));
        assert.equal(unmaskCrc(maskCrc(crc32c(whole))), crc32c(whole));
      }),
    );
  });
});

describe('Snappy decompression', () => {
  it('decodes literals and overlapping copies', () => {
    // "abc" as a literal, then a 6-byte copy at offset 3 (overlapping itself): "abcabcabc".
    assert.equal(snappyDecompress(Buffer.from([9, 0x08, 0x61, 0x62, 0x63, 0x09, 3]))?.toString(), 'abcabcabc');
    // The same with a 2-byte-offset copy.
    assert.equal(snappyDecompress(Buffer.from([9, 0x08, 0x61, 0x62, 0x63, (6 - 1) << 2 | 2, 3, 0]))?.toString(), 'abcabcabc');
  });
  it('round-trips any bytes written as literals of every length encoding', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 300 }), (data) => {
        const n = data.length - 1;
        const tag = n < 60 ? [n << 2] : n < 256 ? [60 << 2, n] : [61 << 2, n & 0xff, n >> 8];
        const len = data.length < 128 ? [data.length] : [(data.length & 0x7f) | 0x80, data.length >> 7];
        assert.deepEqual(snappyDecompress(Buffer.from([...len, ...tag, ...data])), Buffer.from(data));
      }),
    );
  });
  it('answers garbage with undefined, never an exception or an oversized buffer', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (junk) => {
        const out = snappyDecompress(junk, 4096);
        assert.ok(out === undefined || out.length <= 4096);
      }),
      { numRuns: 5000 },
    );
  });
});

describe('MANIFEST', () => {
  it('names the live tables and the last sequence; a record cut short at the end is where a crash stopped', async () => {
    const dir = join(root, 'db');
    const manifest = await readManifest(dir);
    assert.ok(manifest);
    const tablesOnDisk = (await readdir(dir)).filter((n) => n.endsWith('.ldb')).map((n) => Number(n.slice(0, 6)));
    assert.deepEqual([...manifest.live].sort(), tablesOnDisk.sort());
    assert.ok((manifest.lastSequence ?? 0n) >= 3000n);
    const current = (await readFile(join(dir, 'CURRENT'), 'utf8')).trim();
    const log = await readFile(join(dir, current));
    assert.deepEqual(parseManifest(log.subarray(0, log.length - 3))?.live.size !== undefined, true);
    const flipped = Buffer.from(log);
    flipped[10] = (flipped[10] as number) ^ 1;
    assert.equal(parseManifest(flipped), undefined, 'a record failing its checksum: not trusted');
    // Every live table was numbered below the next file number LevelDB recorded.
    assert.ok(manifest.nextFile !== undefined && [...manifest.live].every((n) => n < (manifest.nextFile ?? 0)));
    // An emptied or zeroed MANIFEST (a power cut) says nothing of which tables are live.
    assert.equal(parseManifest(Buffer.alloc(0)), undefined);
    assert.equal(parseManifest(Buffer.alloc(4096)), undefined);
  });
  it('never throws on garbage', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (junk) => {
        const m = parseManifest(Buffer.from(junk));
        assert.ok(m === undefined || m.live instanceof Set);
      }),
      { numRuns: 3000 },
    );
    // Well-framed records (good checksums) around random VersionEdit bytes: the decoder itself.
    const record = (data: Uint8Array): Buffer => {
      const head = Buffer.alloc(7);
      head.writeUInt16LE(data.length, 4);
      head[6] = 1;
      head.writeUInt32LE(maskCrc(crc32c(data, crc32c(head, 0, 6, 7))), 0);
      return Buffer.concat([head, data]);
    };
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 60 }), { maxLength: 5 }), (edits) => {
        const m = parseManifest(Buffer.concat(edits.map(record)));
        assert.ok(m === undefined || m.live instanceof Set);
      }),
      { numRuns: 3000 },
    );
  });
});

describe('table check', () => {
  it('passes every table LevelDB wrote, compressed blocks included', () => {
    for (const t of tables) assert.deepEqual(checkTable(t), []);
  });

  it('finds a single-bit flip anywhere in a table but the footer padding', () => {
    const t = tables[0] as Buffer;
    const footer = t.length - 48;
    // Every byte of a small window at each end, and a stride through the rest.
    const positions = new Set<number>();
    for (let i = 0; i < 64; i++) positions.add(i);
    for (let i = 0; i < footer; i += 97) positions.add(i);
    for (let i = footer - 64; i < footer; i++) positions.add(i);
    for (let i = t.length - 8; i < t.length; i++) positions.add(i);
    for (const at of positions) {
      for (const bit of [0, 3, 7]) assert.ok(checkTable(flipped(t, at, bit)).length > 0, `a flip at byte ${at} bit ${bit} was not found`);
    }
  });

  it('names the key range of a damaged data block', () => {
    const t = tables[0] as Buffer;
    const [d] = checkTable(flipped(t, 10, 0));
    assert.match(d?.what ?? '', /data block: its checksum does not match/);
    assert.match(d?.upTo ?? '', /^[io]/);
    assert.equal(d?.offset, 0);
  });

  it('finds every truncation', () => {
    const t = tables[0] as Buffer;
    for (let len = 0; len < t.length; len += Math.max(1, Math.floor(t.length / 300))) {
      assert.ok(checkTable(t.subarray(0, len)).length > 0, `truncated to ${len} bytes was not found`);
    }
  });

  it('never throws on garbage, with or without a valid footer magic', () => {
    const magic = (tables[0] as Buffer).subarray(-8);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), fc.boolean(), (junk, withMagic) => {
        const file = withMagic ? Buffer.concat([junk, magic]) : Buffer.from(junk);
        assert.ok(Array.isArray(checkTable(file)));
      }),
      { numRuns: 3000 },
    );
    // A real table with random bytes overwritten: still an answer, never an exception.
    const t = tables[0] as Buffer;
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(t.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }), (edits) => {
        const copy = Buffer.from(t);
        for (const [at, v] of edits) copy[at] = v;
        const found = checkTable(copy);
        const blocks = t.length - 48;
        if (!copy.subarray(0, blocks).equals(t.subarray(0, blocks))) assert.ok(found.length > 0);
      }),
      { numRuns: 300 },
    );
  });

  it('reads a directory: a missing directory or a vanished table is no damage', async () => {
    assert.deepEqual(await checkTables(join(root, 'nowhere')), []);
    assert.deepEqual(await checkTables(join(root, 'db')), []);
  });
});
