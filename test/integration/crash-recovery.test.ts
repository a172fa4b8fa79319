import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { openPtyPair } from '../../hardware/pty-pair.js';
import { simulateAstmInstrument } from '../../gateway/sim/astm-instrument.js';
import { startUpstream, writeDaemonConfig, spawnDaemon, type DaemonProcess } from '../harness/daemon-process.js';

/** A synthetic result message with a unique specimen id and three results. */
function message(line: number, n: number): string[] {
  const spec = `CR-${line}-${n}`;
  return [
    'H|\\^&|||CrashSim^1.0|||||||P|LIS2-A2|20261203101500',
    `P|1|CRPID-${line}-${n}`,
    `O|1|${spec}||^^^GLU\\^^^NA\\^^^K|R`,
    `R|1|^^^GLU|${5 + n / 10}|mmol/L|3.9-6.1|N||F||||20261203101000`,
    `R|2|^^^NA|${130 + n}|mmol/L|135-145|N||F||||20261203101000`,
    `R|3|^^^K|4.${n % 10}|mmol/L|3.5-5.1|N||F||||20261203101000`,
    'L|1|N',
  ];
}

test('SIGKILL mid-transmission: every acknowledged message reaches the server exactly once', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'labedge-crash-'));
  const upstream = await startUpstream(join(dir, 'pki'));
  const lines = [await openPtyPair(), await openPtyPair()];
  t.after(async () => {
    await upstream.close();
    await Promise.all(lines.map((l) => l.close()));
    await rm(dir, { recursive: true, force: true });
  });
  const config = await writeDaemonConfig(dir, {
    upstream,
    instruments: lines.map((l, i) => ({ id: `line-${i + 1}`, path: l.hostPath, baudRate: 19200 })),
  });
  const ready = async (d: DaemonProcess) => {
    await d.waitFor('labedge started');
    for (const l of lines) await d.waitFor(l.hostPath);
  };

  let daemon = spawnDaemon(config);
  const first = daemon;
  await ready(daemon);
  const perLine = 14;
  const acked: string[] = [];
  const sending = lines.map((l, li) =>
    simulateAstmInstrument({
      settings: { path: l.instrumentPath, baudRate: 19200, dataBits: 8, parity: 'none', stopBits: 1 },
      messages: Array.from({ length: perLine }, (_, n) => message(li + 1, n)),
      replyTimeoutMs: 700,
      onMessage: (n, ok) => {
        if (ok) acked.push(`CR-${li + 1}-${n}`);
      },
    }),
  );

  // Kill at a random moment while messages are in flight, then bring the box back.
  await sleep(600 + Math.floor(Math.random() * 900));
  const ackedBeforeKill = acked.length;
  await daemon.kill('SIGKILL');
  await sleep(300);
  daemon = spawnDaemon(config);
  t.after(() => daemon.kill('SIGTERM'));
  await ready(daemon);
  await Promise.all(sending);
  assert.ok(ackedBeforeKill > 0, 'some messages were acknowledged before the kill');
  assert.ok(acked.length > ackedBeforeKill, 'messages were acknowledged after the restart');

  const deadline = Date.now() + 40_000;
  let specimens: string[] = [];
  for (;;) {
    const found = (await upstream.fhir.search('Specimen', '_count=1000')) as { identifier?: { value?: string }[] }[];
    specimens = found.map((r) => r.identifier?.[0]?.value ?? '');
    if (acked.every((s) => specimens.includes(s)) || Date.now() > deadline) break;
    await sleep(200);
  }
  const missing = acked.filter((s) => !specimens.includes(s));
  // The daemons' logs (PHI-free by design) say where a missing message stopped.
  const logs = (d: DaemonProcess): string => d.output().split('\n').filter((l) => /"level":(4|5)0|alarm|committed|delivered|restor/.test(l)).slice(-40).join('\n');
  assert.deepEqual(missing, [], `no acknowledged message lost\nbefore the kill:\n${logs(first)}\nafter:\n${logs(daemon)}`);
  assert.equal(new Set(specimens).size, specimens.length, 'no specimen duplicated');
  // Wait for the last Observations to land, then check none is duplicated.
  await sleep(500);
  const counts = await upstream.fhir.countByType();
  assert.equal(counts.Observation, 3 * specimens.length, 'three Observations per delivered message, no duplicates');
  assert.deepEqual(upstream.fhir.validationErrors, []);
});
