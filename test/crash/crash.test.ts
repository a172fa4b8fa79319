import assert from 'node:assert/strict';
import { test } from 'node:test';
import { crashLine, runCrashHarness } from './crash-harness.js';
import { runDamageTrials } from './damage-trials.js';

/**
 * The crash harness, bounded for CI: the real daemon SIGKILLed at random moments under load
 * from three simulated analyzers, then a few record-file damage trials. The long run is
 * `npm run test:crash -- --rounds N`. Rounds: LABEDGE_CRASH_ROUNDS (default 3).
 */
const ROUNDS = Number(process.env.LABEDGE_CRASH_ROUNDS ?? 3);

test(`SIGKILL under load (${ROUNDS} rounds): every acknowledged message delivered exactly once, in order`, { timeout: 60_000 + ROUNDS * 15_000 }, async () => {
  const report = await runCrashHarness({ rounds: ROUNDS });
  const line = crashLine(report);
  assert.ok(report.acked > 0, `messages were acknowledged: ${line}`);
  assert.equal(report.lost, 0, line);
  assert.equal(report.duplicates, 0, line);
  assert.equal(report.reordered, 0, line);
  assert.equal(report.refusedButDelivered, 0, 'a refused message was never delivered');
  assert.ok(report.delivered >= report.acked, line);
  assert.deepEqual(report.problems, [], 'every restart opened the store without an error alarm; the final open was clean and empty');
});

test('truncated and bit-flipped record files are detected, never silently lost', { timeout: 60_000 }, async () => {
  // A fixed seed keeps CI reproducible; `npm run test:crash` draws new ones every run, and
  // LABEDGE_DAMAGE_SEED replays any trial it reports.
  const seed = Number(process.env.LABEDGE_DAMAGE_SEED ?? 1000);
  const report = await runDamageTrials(6, seed);
  assert.equal(report.silent, 0, `seed ${seed}: ${report.details.join('; ')}`);
  assert.equal(report.intact + report.detected + report.refused, report.trials);
});

test('a bit flip LevelDB reads as data (a key made "deleted") raises the table-checksum alarm (seed 3001)', { timeout: 60_000 }, async () => {
  // Seed 3001 flips bits in a data block of a table: LevelDB never checks block checksums on
  // its own (classic-level cannot ask it to), and read an untransformed record as gone.
  const report = await runDamageTrials(1, 3001);
  assert.equal(report.silent, 0, report.details.join('; '));
  assert.equal(report.intact + report.detected + report.refused, 1);
});

test('damage only a seek can find (a table block\'s restart array) is repaired at open, not a crash (seed 2118, found in CI)', { timeout: 60_000 }, async () => {
  // Seed 2118 flips bits that the open's in-order key scan reads past and the state load's seek
  // trips over. With this store layout it goes through repair; should the layout change, the
  // trial still has to end detected or intact, never silent.
  const report = await runDamageTrials(1, 2118);
  assert.equal(report.silent, 0, report.details.join('; '));
  assert.equal(report.intact + report.detected + report.refused, 1);
});
