/**
 * `npm run bench -- NAME` runs scripts/bench/NAME.ts; `npm run bench` runs them all, one
 * process each so one benchmark's heap and timers never colour another's figures.
 * Each benchmark prints its figures and ends with one JSON line per headline figure.
 */
import { readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

const here = fileURLToPath(new URL('.', import.meta.url));
const all = readdirSync(here)
  .filter((f) => f.endsWith('.ts') && f !== 'run.ts' && !f.startsWith('_') && !f.endsWith('.test.ts'))
  .map((f) => f.slice(0, -3))
  .sort();
const [name, ...args] = process.argv.slice(2);
const selected = name ? [name] : all;
let failed = 0;
for (const bench of selected) {
  if (!all.includes(bench)) {
    process.stderr.write(`bench: no benchmark "${bench}" (have: ${all.join(', ')})\n`);
    process.exit(2);
  }
  process.stdout.write(`\n== ${bench} ==\n`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--expose-gc', join(here, `${bench}.ts`), ...args], { stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
