import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { spawnDaemon, startUpstream, writeDaemonConfig } from '../harness/daemon-process.js';
import { runLabedge } from '../harness/phi-scan.js';

/**
 * Single writer, through the real daemon: a second `labedge run` on the same data directory
 * (a balena hand-over, an operator's mistake) waits up to `store.leaseWaitMs`, then exits 1
 * with one line naming the holder, never a LevelDB lock crash loop; one that waits longer
 * takes over as soon as the first stops. Meanwhile `queue stats` shows the counts the
 * running daemon reports in its lease.
 */
test('a second daemon on the same store: a clear refusal naming the holder, or a hand-over when the first stops', { timeout: 120_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'labedge-two-daemons-'));
  const upstream = await startUpstream(join(dir, 'pki'));
  t.after(async () => {
    await upstream.close();
    await rm(dir, { recursive: true, force: true });
  });
  const dataDir = join(dir, 'data');
  const config = async (name: string, leaseWaitMs: number): Promise<string> => {
    await mkdir(join(dir, name));
    return writeDaemonConfig(join(dir, name), { upstream, dataDir, instruments: [], extra: { store: { minFreeDiskBytes: 0, leaseWaitMs } } });
  };
  const impatient = await config('b', 500);
  const patient = await config('c', 60_000);

  const first = spawnDaemon(await config('a', 0));
  t.after(() => first.kill('SIGKILL'));
  await first.waitFor('labedge started', 60_000);

  const second = spawnDaemon(impatient);
  const code = await new Promise<number | null>((resolve) => second.child.once('exit', (c) => resolve(c)));
  assert.equal(code, 1, second.output());
  const refusal = second.output().split('\n').filter((l) => l.startsWith('labedge:'));
  assert.equal(refusal.length, 1, `one line on stderr: ${second.output().slice(-1000)}`);
  assert.match(refusal[0] ?? '', new RegExp(`locked by pid ${first.child.pid} on host \\S+ \\(since .*renewed \\d+ s ago\\)`));
  assert.doesNotMatch(second.output(), /\n\s+at /, 'no stack trace');

  // An operator's `queue stats` meanwhile: the counts the running daemon reports in its lease.
  const stats = await runLabedge(['queue', 'stats', '--json', '--data-dir', dataDir]);
  assert.equal(stats.code, 0, stats.stderr);
  const reported = JSON.parse(stats.stdout) as Record<string, unknown>;
  assert.deepEqual([reported.inbound, reported.outbound, reported.deadLetter], [0, 0, 0]);
  assert.match(String(reported.from), new RegExp(`^pid ${first.child.pid} on host `));
  const plain = await runLabedge(['queue', 'stats', '--data-dir', dataDir]);
  assert.match(plain.stdout, /^inbound 0\noutbound 0\ndead-letter 0\n\(reported by the running daemon, pid \d+ on host \S+ .*renewed \d+ s ago\)\)\n$/);
  const list = await runLabedge(['queue', 'list', '--data-dir', dataDir]);
  assert.equal(list.code, 1, 'listing needs the store itself');
  assert.match(list.stderr, /locked by pid/);

  const third = spawnDaemon(patient);
  t.after(() => third.kill('SIGKILL'));
  await third.waitFor(`the store is held by pid ${first.child.pid}`, 30_000); // it says it waits for the hand-over
  await first.kill('SIGTERM');
  await third.waitFor('labedge started', 60_000);
  assert.doesNotMatch(third.output(), /"severity":"error"/, 'a clean hand-over raises no error alarm');
});
