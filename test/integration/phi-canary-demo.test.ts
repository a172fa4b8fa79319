import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { canaryInputs } from '../harness/canary.js';
import { PhiWitness, runInProcess, runLabedge } from '../harness/phi-scan.js';
import { auditCommand } from '../../gateway/cli/cmd-audit.js';
import { validateFhirResource } from '../harness/fhir-validate.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));

/**
 * The PHI canary suite over the demo: canary PHI in every field of the replayed messages;
 * afterwards every operator-facing output (demo, queue, audit verify/export/trace/checkpoints)
 * and every file of the data directory is searched. The audit trail must show each message's
 * whole journey with one digest, and verify.
 */
test('demo with canary PHI everywhere: no canary in any output or file; every journey is in the verified audit trail', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'labedge-phi-demo-'));
  try {
    const dataDir = join(dir, 'data');
    const witness = new PhiWitness();
    const demo = await runLabedge(['demo', '--json', '--data-dir', dataDir, '--baud', '115200',
      '--transcript', canaryInputs.transcripts.allFields, '--transcript', canaryInputs.transcripts.classic, '--transcript', join(FIXTURES, 'astm/senaite-roche-cobas-c311.astm')], { timeoutMs: 120_000 });
    witness.addCli('demo', demo);
    assert.equal(demo.code, 0, demo.stdout + demo.stderr);
    const summary = JSON.parse(demo.stdout.trim().split('\n').at(-1) as string);
    assert.equal(summary.ok, true);
    assert.equal(summary.audit.ok, true, 'the demo verifies its audit chain');
    assert.equal(summary.audit.provenanceMatched, summary.messagesIngested, 'every Provenance upstream carries the raw-bytes digest of an ingest entry');
    assert.match(demo.stdout, /audit chain +\d+ entries, verified/);

    const dd = ['--data-dir', dataDir];
    // One at a time: the store has a single writer (a lock), as on the box. The audit
    // commands run in this process (same code as the CLI, without a process start each).
    const audit = (args: string[]) => runInProcess(auditCommand, [...args, ...dd]);
    const stats = await runLabedge(['queue', 'stats', ...dd]);
    const list = await runLabedge(['queue', 'list', ...dd]);
    const dlq = await runLabedge(['queue', 'dlq', 'list', ...dd]);
    const verify = await audit(['verify']);
    const jsonl = await audit(['export', '--since', '1h']);
    const fhir = await audit(['export', '--since', '1h', '--format', 'fhir']);
    const syslog = await audit(['export', '--since', '1h', '--format', 'syslog']);
    const checkpoints = await audit(['checkpoints']);
    for (const [name, r] of Object.entries({ stats, list, dlq, verify, jsonl, fhir, syslog, checkpoints })) {
      witness.addCli(name, r);
      assert.equal(r.code, 0, `${name}: ${r.stderr}`);
    }
    assert.match(verify.stdout, /^OK/m);
    assert.ok(checkpoints.stdout.trim().split('\n').length >= 1, 'a checkpoint was signed at shutdown');

    const records = jsonl.stdout.trim().split('\n').map((l) => JSON.parse(l) as { kind: string; inboundId?: string; digest?: string });
    const ingests = records.filter((r) => r.kind === 'ingest');
    assert.equal(ingests.length, summary.messagesIngested);
    assert.ok(records.some((r) => r.kind === 'app-start') && records.some((r) => r.kind === 'app-stop'));
    for (const line of fhir.stdout.trim().split('\n')) assert.deepEqual(validateFhirResource(JSON.parse(line)), []);

    const traces = [];
    for (const i of ingests) traces.push(await audit(['trace', i.inboundId as string]));
    traces.forEach((t, n) => {
      witness.addCli(`trace ${ingests[n]?.inboundId}`, t);
      assert.equal(t.code, 0, t.stderr);
      assert.match(t.stdout, / ingest .* transform .* deliver /s);
      assert.match(t.stdout, /digests agree across stages; journey complete/);
      assert.ok(t.stdout.includes(ingests[n]?.digest as string));
    });

    witness.addDir(dir);
    assert.deepEqual(await witness.leaks(), []);
    assert.ok(witness.count > 20);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
