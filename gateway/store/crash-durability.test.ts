import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { LabedgeError } from '../core/errors.js';
import { QueueStore } from './queue-store.js';

/**
 * Invariant 1 under kill -9: a child process commits (four concurrent writers, so group
 * commit is exercised) and moves records inbound → outbound, printing each id only after
 * its promise resolved. The parent SIGKILLs it at a random moment, reopens the store and
 * checks every printed id is there, and that no record is both inbound and outbound.
 * Rounds: LABEDGE_CRASH_ROUNDS (default 3); run with a larger number for a long soak.
 */
const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, '..', '..');
const ROUNDS = Number(process.env.LABEDGE_CRASH_ROUNDS ?? 3);

const CHILD = (storeModule: string): string => `
import { QueueStore } from ${JSON.stringify(storeModule)};
const [dataDir, keyFile] = process.argv.slice(2);
const store = await QueueStore.open({ dataDir, keyFile });
// stdout to a pipe is synchronous on Linux: a printed line has left the process.
process.stdout.write('ready\\n');
let n = 0;
async function writer(w) {
  for (;;) {
    const id = await store.commitInbound({ sourceId: 'analyzer-' + w, raw: Buffer.from('msg ' + w + ' ' + n++), receivedAt: Date.now() });
    process.stdout.write('C ' + id + '\\n');
  }
}
async function mover() {
  for (;;) {
    const batch = await store.listInbound(5);
    for (const r of batch) {
      const out = await store.transformed(r.id, { sourceId: r.sourceId, bundle: { from: r.id } });
      process.stdout.write('T ' + r.id + ' ' + out + '\\n');
    }
    if (batch.length === 0) await new Promise((r) => setTimeout(r, 1));
  }
}
await Promise.all([writer(0), writer(1), writer(2), writer(3), mover()]);
`;

interface Printed {
  committed: Set<string>;
  transformed: Map<string, string>;
}

function runAndKill(script: string, dataDir: string, keyFile: string, onReady: (child: ChildProcess) => Promise<void>): Promise<Printed> {
  const printed: Printed = { committed: new Set(), transformed: new Map() };
  const child = spawn(process.execPath, ['--import', 'tsx', script, dataDir, keyFile], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  let buffer = '';
  let stderr = '';
  let lines = 0;
  let readyHandled = false;
  // The ready check opens the store from this process: it must be over before the caller reopens.
  let readyCheck: Promise<void> = Promise.resolve();
  return new Promise<Printed>((resolvePromise, reject) => {
    const killAt = 5 + Math.floor(Math.random() * 400); // after this many lines, plus a random delay
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout?.on('data', (d: Buffer) => {
      buffer += d.toString();
      const parts = buffer.split('\n');
      buffer = parts.pop() ?? ''; // only complete lines count
      for (const line of parts) {
        const [tag, a, b] = line.split(' ');
        if (tag === 'ready' && !readyHandled) {
          readyHandled = true;
          readyCheck = onReady(child);
          readyCheck.catch(reject);
        } else if (tag === 'C' && a) printed.committed.add(a);
        else if (tag === 'T' && a && b) printed.transformed.set(a, b);
        lines += 1;
        // Never before the ready check is over: a kill during it would free the lock it expects held.
        if (lines === killAt) void readyCheck.catch(() => undefined).then(() => setTimeout(() => child.kill('SIGKILL'), Math.random() * 30));
      }
    });
    child.on('exit', (code, signal) => {
      if (signal === 'SIGKILL') readyCheck.then(() => resolvePromise(printed), reject);
      else reject(new Error(`child exited early (code ${code}): ${stderr.slice(0, 2000)}`));
    });
  });
}

describe('crash durability (kill -9)', () => {
  let root: string;
  let script: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'labedge-crash-'));
    script = join(root, 'child.mts');
    await writeFile(script, CHILD(pathToFileURL(join(here, 'queue-store.ts')).href));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it(`every id printed after its commit survives SIGKILL (${ROUNDS} rounds)`, { timeout: 25_000 + ROUNDS * 5_000 }, async () => {
    const dataDir = join(root, 'data');
    const keyFile = join(root, 'keys', 'kek');
    const everCommitted = new Set<string>();
    const everTransformed = new Map<string, string>();
    let delivered = new Set<string>();
    for (let round = 0; round < ROUNDS; round++) {
      const printed = await runAndKill(script, dataDir, keyFile, async () => {
        if (round !== 0) return;
        // While the child holds the store, another process cannot open it.
        await assert.rejects(QueueStore.open({ dataDir, keyFile }), (e: unknown) => e instanceof LabedgeError && e.code === 'LABEDGE_ERR_STORE_LOCKED');
      });
      for (const id of printed.committed) everCommitted.add(id);
      for (const [i, o] of printed.transformed) everTransformed.set(i, o);
      assert.ok(printed.committed.size > 0, 'the child committed something before the kill');

      const store = await QueueStore.open({ dataDir, keyFile });
      try {
        const inbound = new Set((await store.listInbound(1_000_000)).map((r) => r.id));
        // Drain outbound per source to see every record (and check FIFO on the way).
        const outboundByInbound = new Map<string, string>();
        const lastPerSource = new Map<string, string>();
        for (let heads = await store.outboundHeads(); heads.length > 0; heads = await store.outboundHeads()) {
          for (const h of heads) {
            const prev = lastPerSource.get(h.sourceId);
            assert.ok(prev === undefined || prev < h.inboundId, `FIFO for ${h.sourceId}`);
            lastPerSource.set(h.sourceId, h.inboundId);
            outboundByInbound.set(h.inboundId, h.id);
            await store.delivered(h.id);
          }
        }
        for (const id of outboundByInbound.keys()) assert.ok(!inbound.has(id), `${id} is both inbound and outbound`);
        delivered = new Set([...delivered, ...outboundByInbound.keys()]);
        for (const id of everCommitted) assert.ok(inbound.has(id) || delivered.has(id), `committed ${id} was lost`);
        for (const [i, o] of everTransformed) {
          assert.ok(delivered.has(i) && !inbound.has(i), `transformed ${i} is not outbound`);
          if (outboundByInbound.has(i)) assert.equal(outboundByInbound.get(i), o);
        }
        assert.deepEqual(await store.stats(), { inbound: inbound.size, outbound: 0, deadLetter: 0 });
      } finally {
        await store.close();
      }
    }
  });
});
