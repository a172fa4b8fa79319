/**
 * `npm run test:crash -- --rounds N [--instruments K] [--damage-trials T] [--seed S]`
 *
 * N SIGKILLs of the real daemon under load (crash-harness.ts), then T file-damage trials
 * (damage-trials.ts, default N/10). Progress goes to stderr; stdout ends with exactly one line:
 *   crash rounds=N acked=A delivered=D duplicates=X lost=Y reordered=Z
 * Exit code 1 when anything acknowledged was lost, duplicated or reordered, a refused message
 * was delivered, a store opened with an error alarm, or file damage went unnoticed.
 */
import { parseArgs } from 'node:util';
import { crashLine, runCrashHarness } from './crash-harness.js';
import { runDamageTrials } from './damage-trials.js';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '20' },
    instruments: { type: 'string', default: '3' },
    'damage-trials': { type: 'string' },
    seed: { type: 'string' },
    quiet: { type: 'boolean', default: false },
  },
});
const rounds = Number(values.rounds);
const instruments = Number(values.instruments);
const damageTrials = values['damage-trials'] === undefined ? Math.max(1, Math.ceil(rounds / 10)) : Number(values['damage-trials']);
const seed = values.seed === undefined ? Date.now() : Number(values.seed);
if (![rounds, instruments, damageTrials, seed].every((n) => Number.isInteger(n) && n >= 0)) {
  process.stderr.write('usage: npm run test:crash -- --rounds N [--instruments K] [--damage-trials T] [--seed S]\n');
  process.exit(2);
}
const log = (line: string): void => {
  if (!values.quiet) process.stderr.write(`${line}\n`);
};

const report = await runCrashHarness({ rounds, instruments, log });
for (const p of report.problems) log(`problem: ${p}`);
if (report.refusedButDelivered > 0) log(`problem: ${report.refusedButDelivered} refused message(s) were delivered`);
const damage = await runDamageTrials(damageTrials, seed, log);
for (const d of damage.details) log(`silent loss: ${d}`);
process.stdout.write(
  `damage trials=${damage.trials} intact=${damage.intact} detected=${damage.detected} refused=${damage.refused} silent=${damage.silent} missing=${damage.missing} named=${damage.named} seed=${seed}\n`,
);
process.stdout.write(`${crashLine(report)}\n`);
const bad = report.lost + report.duplicates + report.reordered + report.refusedButDelivered + report.problems.length + damage.silent;
process.exitCode = bad > 0 ? 1 : 0;
