import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, spawn } from 'node:child_process';
import { mkdtemp, writeFile, rm, readFile, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { canariesIn, canariesInDir } from '../harness/canary.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const FIXTURES = join(ROOT, 'test/fixtures');

function labedge(args: string[], input?: Buffer) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'gateway/cli/main.ts'), ...args], { cwd: ROOT, input, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('usage errors exit 2 with one line on stderr', () => {
  for (const args of [['frobnicate'], ['run'], ['convert'], ['simulate', '--port', '/dev/null'], ['convert', '--from', 'xml', 'x']]) {
    const r = labedge(args);
    assert.equal(r.code, 2, args.join(' '));
    assert.equal(r.stderr.trim().split('\n').length, 1, `one line for ${args.join(' ')}`);
    assert.match(r.stderr, /^labedge: /);
  }
  const help = labedge(['--help']);
  assert.deepEqual([help.code, help.stderr], [0, '']);
  assert.match(help.stdout, /^usage: labedge <command>/);
  const bare = labedge([]);
  assert.deepEqual([bare.code, bare.stdout], [2, ''], 'no command: usage on stderr, exit 2');
  assert.match(bare.stderr, /^usage: labedge <command>/);
  const port = labedge(['simulate', '--port', '/dev/nonexistent-tty', '--file', join(FIXTURES, 'canary/canary-result.astm')]);
  assert.equal(port.code, 2);
  assert.match(port.stderr, /^labedge: cannot open serial port \/dev\/nonexistent-tty: /);
});

test('run with an invalid config reports every problem at once and exits 2', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'labedge-cfg-'));
  try {
    const file = join(dir, 'bad.json');
    await writeFile(file, JSON.stringify({ uplink: { baseUrl: 'http://plain' }, instruments: [{ id: 'a b', transport: { type: 'serial' } }] }));
    const r = labedge(['run', '--config', file]);
    assert.equal(r.code, 2);
    for (const field of ['deviceId', 'uplink.baseUrl', 'uplink.caFile', 'instruments[0].id', 'instruments[0].transport.path']) assert.ok(r.stderr.includes(field), field);
    assert.equal(labedge(['run', '--config', join(dir, 'missing.json')]).code, 2);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('convert prints a transaction Bundle for records, and the same for a framed capture', () => {
  const records = labedge(['convert', '--source', 'c311', '--tz', 'UTC', join(FIXTURES, 'astm/senaite-roche-cobas-c311.astm')]);
  assert.equal(records.code, 0, records.stderr);
  const bundle = JSON.parse(records.stdout);
  assert.equal(bundle.resourceType, 'Bundle');
  assert.equal(bundle.type, 'transaction');
  const observations = bundle.entry.filter((e: any) => e.resource.resourceType === 'Observation');
  assert.equal(observations.length, 7);
  const framed = labedge(['convert', '--source', 'c311', '--tz', 'UTC', join(FIXTURES, 'astm/senaite-roche-cobas-c311.frames')]);
  assert.equal(framed.code, 0, framed.stderr);
});

test('convert reads an ASTM message from stdin; warnings carry positions, not content', async () => {
  const bytes = await readFile(join(FIXTURES, 'canary/canary-result.astm'));
  const r = labedge(['convert', '-'], bytes);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).type, 'transaction');
  assert.deepEqual(canariesIn(r.stderr), [], 'warnings carry positions, not content');
});

test('demo --json delivers every result of the replayed transcripts, and leaks no PHI', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'labedge-demo-test-'));
  try {
    const dataDir = join(dir, 'data');
    const args = ['--import', 'tsx', join(ROOT, 'gateway/cli/main.ts'), 'demo', '--json', '--data-dir', dataDir, '--baud', '38400',
      '--transcript', join(FIXTURES, 'astm/senaite-sysmex-xp100.astm'), '--transcript', join(FIXTURES, 'canary/canary-result.astm'),
      '--transcript', join(FIXTURES, 'astm/senaite-roche-cobas-c311.astm')];
    const child = spawn(process.execPath, args, { cwd: ROOT });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const code = await new Promise((resolve) => child.on('exit', resolve));
    assert.equal(code, 0, `${out}\n${err}`);
    const summary = JSON.parse(out.trim().split('\n').at(-1)!);
    assert.equal(summary.observations, 20 + 2 + 7);
    assert.equal(summary.ok, true);
    assert.deepEqual(canariesIn(out + err), [], 'no PHI in demo output');
    assert.deepEqual(await canariesInDir(dataDir), [], 'no PHI in the data directory');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('demo falls back to the same link protocol over TCP loopback where socat is missing, and says so', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'labedge-nosocat-'));
  try {
    // A PATH with node and nothing else: no socat to be found.
    await symlink(process.execPath, join(dir, 'node'));
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'gateway/cli/main.ts'), 'demo', '--json', '--baud', '38400', '--transcript', join(FIXTURES, 'astm/senaite-roche-cobas-c311.astm')], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, PATH: dir },
      timeout: 60_000,
    });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.equal(r.stdout.split('\n').filter((l) => l.includes('socat not found')).length, 1);
    assert.equal(JSON.parse(r.stdout.trim().split('\n').at(-1)!).observations, 7);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('inspection commands on a data directory without a store fail and create nothing', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'labedge-nostore-'));
  try {
    const missing = join(dir, 'data');
    for (const args of [['queue', 'stats'], ['queue', 'list'], ['audit', 'verify'], ['audit', 'checkpoints'], ['keys', 'status']]) {
      const r = labedge([...args, '--data-dir', missing]);
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, /^labedge: no labedge store in .* \(check --data-dir, or the config's dataDir\)/, args.join(' '));
      assert.equal(r.stdout, '');
    }
    const { readdir } = await import('node:fs/promises');
    assert.deepEqual(await readdir(dir), [], 'no data directory, no key directory created');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('convert: input with no message fails (exit 1, nothing on stdout); several messages in a records file give one Bundle each', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'labedge-convert-'));
  try {
    const garbage = join(dir, 'garbage.bin');
    const { randomBytes } = await import('node:crypto');
    await writeFile(garbage, randomBytes(4000));
    const inputs = [garbage, '/dev/null', '/bin/ls'];
    for (const args of inputs.flatMap((f) => [[f], ...['astm', 'hl7', 'auto'].map((from) => ['--from', from, f])])) {
      const r = labedge(['convert', ...args]);
      assert.equal(r.code, 1, args.join(' '));
      assert.equal(r.stdout, '');
      assert.match(r.stderr, /^labedge: no (ASTM|HL7 v2) message .* found in the input; nothing converted\n$/, 'one line');
    }
    const records = labedge(['convert', '--tz', 'UTC', join(FIXTURES, 'astm/rubyastm-erba-em200.astm')]);
    const frames = labedge(['convert', '--tz', 'UTC', join(FIXTURES, 'astm/rubyastm-erba-em200.frames')]);
    assert.equal(records.code, 0, records.stderr);
    const [a, b] = [JSON.parse(records.stdout), JSON.parse(frames.stdout)] as { entry?: unknown[] }[][];
    assert.ok(Array.isArray(a) && Array.isArray(b));
    assert.deepEqual(a.map((x) => x.entry?.length), b.map((x) => x.entry?.length), 'records and capture of the same messages agree');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
