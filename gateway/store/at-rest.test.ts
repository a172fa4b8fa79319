import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { extname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Level } from 'level';
import { QueueStore } from './queue-store.js';

/**
 * Invariant 3: a copied database directory reveals nothing. Canary PHI goes in through
 * every path (raw, meta, source id, bundle, dead letter); afterwards the bytes of every
 * file under the store are searched. Positive controls prove the search really reads
 * both the write-ahead .log and the compacted .ldb tables.
 */
const NAME = 'ZZCANARY^QUENTIN';
const PID = 'CANARY-PID-93817';
const INSTRUMENT = 'ZZCANARY-COBAS-SN4711';
const ASTM = `H|\\^&|||${INSTRUMENT}\rP|1||${PID}||${NAME}||19600101|M\rO|1|${PID}-ACC\rR|1|^^^GLU|5.5|mmol/L\rL|1|N\r`;

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

describe('store at rest', () => {
  let root: string;
  let dataDir: string;
  let keyFile: string;
  const incompressible: Buffer[] = [];
  const lastKeys: string[] = [];
  const control = Buffer.concat([Buffer.from('PLAINTEXT-CONTROL-'), randomBytes(48)]);

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'labedge-atrest-'));
    dataDir = join(root, 'data');
    keyFile = join(root, 'secret', 'kek');

    const writeCanaries = async (store: QueueStore, round: number): Promise<string[]> => {
      const ids: string[] = [];
      for (let n = 0; n < 40; n++) {
        // Compressible text, repeated many times...
        ids.push(await store.commitInbound({ sourceId: INSTRUMENT, raw: Buffer.from(ASTM.repeat(5)), receivedAt: n, meta: { patient: NAME, pid: PID } }));
        // ...and values that will not compress, which LevelDB would store verbatim.
        const noise = randomBytes(256);
        incompressible.push(noise);
        ids.push(await store.commitInbound({ sourceId: `${INSTRUMENT}-${round}`, raw: Buffer.concat([noise, Buffer.from(PID)]), receivedAt: n }));
      }
      for (const id of ids.slice(0, 10)) {
        await store.transformed(id, { sourceId: INSTRUMENT, bundle: { resourceType: 'Bundle', entry: [{ resource: { name: NAME, identifier: PID } }] } });
      }
      for (const id of ids.slice(10, 14)) await store.rejected(id, { reasonCode: 'mapping', detail: `P.5 ${NAME}` });
      const heads = await store.outboundHeads();
      if (heads[0]) await store.deadLetterOutbound(heads[0].id, { reasonCode: 'http-422' });
      return ids;
    };

    let store = await QueueStore.open({ dataDir, keyFile });
    await writeCanaries(store, 1);
    await store.close();

    // A plaintext control value, written straight to LevelDB; the next open moves it into an .ldb table.
    const raw = new Level<string, Buffer>(join(dataDir, 'store'), { keyEncoding: 'utf8', valueEncoding: 'buffer' });
    await raw.open();
    await raw.put('z!control', control, { sync: true });
    await raw.close();

    store = await QueueStore.open({ dataDir, keyFile });
    const ids = await writeCanaries(store, 2);
    lastKeys.push(...ids.slice(-3).map((id) => id.replaceAll('-', '!')));
    await store.close();
  });

  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('the search covers both .log and .ldb files (positive controls)', async () => {
    const files = await filesUnder(join(dataDir, 'store'));
    const ldb = files.filter((f) => extname(f) === '.ldb');
    const logs = files.filter((f) => extname(f) === '.log');
    assert.ok(ldb.length > 0, 'an .ldb table exists');
    assert.ok(logs.length > 0, 'a .log exists');
    const ldbBytes = await Promise.all(ldb.map((f) => readFile(f)));
    assert.ok(ldbBytes.some((b) => b.includes(control)), 'a plaintext value is visible in an .ldb file');
    const logBytes = Buffer.concat(await Promise.all(logs.map((f) => readFile(f))));
    for (const key of lastKeys) assert.ok(logBytes.includes(Buffer.from(key)), `record key ${key} is visible in the .log`);
  });

  it('no canary PHI, instrument name or raw bytes appear in any file under the data directory', async () => {
    const files = await filesUnder(dataDir);
    assert.ok(files.length >= 4);
    const needles: Array<[string, Buffer]> = [
      ['name', Buffer.from(NAME)],
      ['name (no caret)', Buffer.from('ZZCANARY')],
      ['patient id', Buffer.from(PID)],
      ['instrument', Buffer.from(INSTRUMENT)],
      ['astm text', Buffer.from('R|1|^^^GLU')],
      ['name utf16', Buffer.from(NAME, 'utf16le')],
      ['name base64', Buffer.from(Buffer.from(ASTM).toString('base64').slice(0, 24))],
    ];
    for (const [i, noise] of incompressible.entries()) {
      needles.push([`noise ${i}`, noise.subarray(0, 24)]);
      needles.push([`noise ${i} base64`, Buffer.from(noise.subarray(0, 24).toString('base64'))]);
      needles.push([`noise ${i} hex`, Buffer.from(noise.subarray(0, 24).toString('hex'))]);
    }
    for (const file of files) {
      const bytes = await readFile(file);
      for (const [label, needle] of needles) assert.ok(!bytes.includes(needle), `${label} found in ${file}`);
    }
  });

  it('the data is still all there (the search looked at a live store)', async () => {
    const store = await QueueStore.open({ dataDir, keyFile });
    try {
      const stats = await store.stats();
      assert.equal(stats.inbound + stats.outbound + stats.deadLetter, 160);
      const [first] = await store.listInbound(1);
      assert.ok(first?.raw.includes(Buffer.from(PID)));
    } finally {
      await store.close();
    }
  });
});
