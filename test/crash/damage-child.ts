/**
 * One open of a damaged store (damage-trials.ts), in its own process: reads
 * `{dataDir, keyFile, seqs}` on stdin, prints the outcome as one JSON line. LevelDB may abort
 * this process on some damage; the parent then starts another, as a supervisor would.
 */
import { openAndSurvey } from './damage-trials.js';

let input = '';
for await (const chunk of process.stdin) input += (chunk as Buffer).toString();
const { dataDir, keyFile, seqs } = JSON.parse(input) as { dataDir: string; keyFile: string; seqs: number[] };
process.stdout.write(`${JSON.stringify(await openAndSurvey(dataDir, keyFile, seqs))}\n`);
