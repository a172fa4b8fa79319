import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CANARIES, canaryInputs } from '../harness/canary.js';
import { PhiWitness, runLabedge } from '../harness/phi-scan.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PHI = CANARIES.join(' ');

/** Runs a script that installs the CLI's crash handlers and then crashes with PHI in the error. */
async function crash(dir: string, body: string, debug: boolean): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const file = join(dir, `crash-${Math.random().toString(36).slice(2)}.ts`);
  const script = `import { installCrashHandlers } from ${JSON.stringify(join(ROOT, 'gateway/core/crash-handlers.ts'))};\ninstallCrashHandlers(${debug});\n${body}\n`;
  await writeFile(file, script);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', file], { cwd: ROOT });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (status) => resolve({ status, stdout, stderr }));
  });
}

test('crash reports (uncaught exception, unhandled rejection) and CLI failures carry no PHI, with or without --debug', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'labedge-phi-crash-'));
  try {
    const witness = new PhiWitness();
    const cases = {
      uncaught: `setTimeout(() => { throw Object.assign(new Error(${JSON.stringify(PHI)}), { code: 'ERR_PLANTED', cause: new Error(${JSON.stringify(PHI)}) }); }, 1);`,
      rejection: `void Promise.reject(new SyntaxError(${JSON.stringify(`Unexpected token in JSON at "${PHI}"`)}));`,
      thrownString: `setTimeout(() => { throw ${JSON.stringify(PHI)}; }, 1);`,
    };
    const runs = await Promise.all(Object.entries(cases).map(async ([name, body], i) => ({ name, debug: i !== 1, r: await crash(dir, body, i !== 1) })));
    for (const { name, debug, r } of runs) {
      {
        witness.add(`${name}${debug ? ' --debug' : ''} (stderr)`, r.stderr);
        witness.add(`${name}${debug ? ' --debug' : ''} (stdout)`, r.stdout);
        assert.equal(r.status, 1, `${name}: exit 1`);
        assert.match(r.stderr, /^labedge: crashed \((uncaught exception|unhandled rejection)\): /, r.stderr);
        if (debug && name !== 'thrownString') assert.match(r.stderr, /\n {4}at /, 'frames with --debug');
      }
    }

    // Commands that fail on canary input: one clear line, positions and codes only.
    const bad = join(dir, 'inputs');
    await writeFile(`${bad}-config.json`, canaryInputs.configText);
    await writeFile(`${bad}-capture.bin`, await canaryInputs.framedCapture());
    await writeFile(`${bad}-not-json.json`, `{ "deviceId": ${JSON.stringify(PHI)}, `);
    const results = await Promise.all([
      runLabedge(['run', '--config', `${bad}-config.json`, '--debug']),
      runLabedge(['run', '--config', `${bad}-not-json.json`]),
      runLabedge(['convert', '--from', 'astm', '--debug', canaryInputs.transcripts.malformed]),
      runLabedge(['convert', '--debug', `${bad}-capture.bin`]),
      runLabedge(['audit', 'trace', PHI.split(' ')[0] as string, '--data-dir', join(dir, 'empty-store')]),
    ]);
    // convert prints the FHIR Bundle on stdout by design (that is the data); its stderr must stay clean.
    results.forEach((r, i) => (i === 2 || i === 3 ? witness.add(`command ${i} (stderr)`, r.stderr) : witness.addCli(`command ${i}`, r)));
    assert.equal(results[0]?.code, 2);
    assert.match(results[0]?.stderr ?? '', /deviceId|uplink\.baseUrl|instruments\[0\]\.id/);
    assert.equal(results[1]?.code, 2);
    assert.equal(results[2]?.code, 0, results[2]?.stderr);
    assert.match(results[2]?.stderr ?? '', /warning: P\.8: not a valid timestamp/);
    assert.equal(results[3]?.code, 0, results[3]?.stderr);
    assert.equal(JSON.parse(results[3]?.stdout ?? '{}').resourceType, 'Bundle');
    assert.equal(results[4]?.code, 2, 'not an id: refused without echoing it');
    assert.deepEqual(await witness.leaks(), []);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
