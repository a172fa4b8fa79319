import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { LabedgeError } from '../core/errors.js';
import { QueueStore, type StoreAlarm } from './queue-store.js';
import { LEASE_FILE, readLease } from './store-lease.js';

/**
 * Single writer: a second daemon on the same store (a balena hand-over) is refused with an
 * error that names the holder, can wait for the hand-over instead of crash-looping, and
 * takes over the lease of a holder that died.
 */
const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, '..', '..');

const HOLDER = (storeModule: string): string => `
import { QueueStore } from ${JSON.stringify(storeModule)};
const [dataDir, keyFile] = process.argv.slice(2);
const store = await QueueStore.open({ dataDir, keyFile });
await store.commitInbound({ sourceId: 'a', raw: Buffer.from('held'), receivedAt: 1 });
process.stdout.write('ready\\n');
setInterval(() => undefined, 1000);
`;

function startHolder(script: string, dataDir: string, keyFile: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', script, dataDir, keyFile], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((res, rej) => {
    let err = '';
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout?.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) res(child);
    });
    child.once('exit', (code) => rej(new Error(`holder exited (${code}): ${err.slice(0, 1000)}`)));
  });
}

describe('single writer (lease)', () => {
  let root: string;
  let script: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'labedge-lease-'));
    script = join(root, 'holder.mts');
    await writeFile(script, HOLDER(pathToFileURL(join(here, 'queue-store.ts')).href));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('a second writer is refused with the holder named; a waiting one takes over after the holder dies', { timeout: 30_000 }, async () => {
    const dataDir = join(root, 'a');
    const keyFile = join(root, 'keys', 'a.kek');
    const child = await startHolder(script, dataDir, keyFile);
    try {
      await assert.rejects(QueueStore.open({ dataDir, keyFile }), (e: unknown) => {
        assert.ok(e instanceof LabedgeError && e.code === 'LABEDGE_ERR_STORE_LOCKED');
        assert.match(e.message, new RegExp(`pid ${child.pid} on host ${hostname()}`));
        assert.match(e.message, /renewed \d+ s ago/);
        return true;
      });
      // A hand-over: this open waits while the old holder still runs, then the old one dies (kill -9, no cleanup).
      const alarms: StoreAlarm[] = [];
      const waiting = QueueStore.open({ dataDir, keyFile, leaseWaitMs: 15_000, onAlarm: (a) => alarms.push(a) });
      setTimeout(() => child.kill('SIGKILL'), 700);
      const store = await waiting;
      try {
        assert.equal((await store.stats()).inbound, 1, 'the holder’s committed record is there');
        assert.ok(alarms.some((a) => a.code === 'LABEDGE_ERR_STORE_LOCKED' && a.severity === 'info' && a.message.includes(`pid ${child.pid}`)), 'the stale lease was taken over, and said so');
        assert.equal((await readLease(dataDir))?.pid, process.pid);
      } finally {
        await store.close();
      }
      assert.equal(await readLease(dataDir), undefined, 'a clean close releases the lease');
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('a lease file left by a dead process is taken over (the LevelDB lock is free)', async () => {
    const dataDir = join(root, 'b');
    const keyFile = join(root, 'keys', 'b.kek');
    await (await QueueStore.open({ dataDir, keyFile })).close();
    const stale = { pid: 999_999, host: 'old-container', since: '2026-01-01T00:00:00.000Z', renewed: '2026-01-01T00:00:10.000Z' };
    await writeFile(join(dataDir, LEASE_FILE), JSON.stringify(stale));
    const alarms: StoreAlarm[] = [];
    const store = await QueueStore.open({ dataDir, keyFile, onAlarm: (a) => alarms.push(a) });
    try {
      assert.match(alarms[0]?.message ?? '', /took over the lease of pid 999999 on host old-container .*which no longer holds the store/);
      assert.equal(JSON.parse(await readFile(join(dataDir, LEASE_FILE), 'utf8')).pid, process.pid);
    } finally {
      await store.close();
    }
  });
});
