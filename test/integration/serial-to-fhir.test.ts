import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { openPtyPair } from '../../hardware/pty-pair.js';
import { readTranscript, countResultRecords } from '../../gateway/astm/transcript.js';
import { simulateAstmInstrument } from '../../gateway/sim/astm-instrument.js';
import { startUpstream, writeDaemonConfig, spawnDaemon } from '../harness/daemon-process.js';
import { canariesIn, canariesInDir } from '../harness/canary.js';

const FIXTURES = new URL('../fixtures/', import.meta.url);
const load = async (rel: string) => readTranscript(await readFile(new URL(rel, FIXTURES)));

async function waitUntil(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

test('ASTM over pty serial lines reaches the mTLS FHIR server once, valid, with no PHI on disk or in logs', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'labedge-e2e-'));
  const upstream = await startUpstream(join(dir, 'pki'));
  const lines = [await openPtyPair(), await openPtyPair()];
  t.after(async () => {
    await upstream.close();
    await Promise.all(lines.map((l) => l.close()));
    await rm(dir, { recursive: true, force: true });
  });

  const line1 = [...(await load('astm/senaite-sysmex-xn550.astm')), ...(await load('canary/canary-result.astm'))];
  const line2 = [...(await load('astm/goastm-euroimmun-analyzer1.astm')), ...(await load('astm/chistousov-beckman-dxh.astm')).filter((m) => m.some((r) => r.startsWith('R')))];
  const expected = countResultRecords(line1) + countResultRecords(line2);

  const replay = async (dataDir: string) => {
    const config = await writeDaemonConfig(dir, {
      upstream,
      dataDir,
      instruments: [
        { id: 'sysmex-1', path: lines[0]!.hostPath, baudRate: 38400 },
        { id: 'euroimmun-1', path: lines[1]!.hostPath, baudRate: 38400 },
      ],
    });
    const daemon = spawnDaemon(config);
    try {
      await daemon.waitFor('labedge started');
      await daemon.waitFor(lines[0]!.hostPath);
      await daemon.waitFor(lines[1]!.hostPath);
      const settings = (path: string) => ({ path, baudRate: 38400, dataBits: 8 as const, parity: 'none' as const, stopBits: 1 as const });
      const [r1, r2] = await Promise.all([
        simulateAstmInstrument({ settings: settings(lines[0]!.instrumentPath), messages: line1 }),
        simulateAstmInstrument({ settings: settings(lines[1]!.instrumentPath), messages: line2 }),
      ]);
      assert.equal(r1.failed + r2.failed, 0, 'every message acknowledged');
      const total = line1.length + line2.length;
      await waitUntil(async () => (daemon.output().match(/bundle delivered/g) ?? []).length >= total, 30_000, 'all bundles delivered');
    } finally {
      await daemon.kill('SIGTERM');
    }
    return daemon.output();
  };

  const log1 = await replay(join(dir, 'data-1'));
  const counts1 = await upstream.fhir.countByType();
  assert.equal(counts1.Observation, expected, 'one Observation per result record');
  assert.deepEqual(upstream.fhir.validationErrors, []);

  // The same transcripts again, through a fresh box, into the same server: nothing new.
  const log2 = await replay(join(dir, 'data-2'));
  assert.deepEqual(await upstream.fhir.countByType(), counts1, 'a replay creates no duplicates');

  assert.deepEqual(canariesIn(log1 + log2), [], 'no PHI in the daemon output');
  assert.deepEqual(await canariesInDir(join(dir, 'data-1')), [], 'no PHI in the store files');
  const canaryInServer = await upstream.fhir.search('Patient', 'identifier=CANARY-PID-93817');
  assert.ok(JSON.stringify(canaryInServer).includes('Zzcanaryfam'), 'the canary patient did reach the FHIR server');
});
