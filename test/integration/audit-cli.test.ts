import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { auditStoreKit, deviceKeyPem, fillChain, type AuditStoreKit } from '../harness/audit-kit.js';
import { CANARIES, canariesIn } from '../harness/canary.js';
import { runInProcess } from '../harness/phi-scan.js';
import { auditCommand } from '../../gateway/cli/cmd-audit.js';
import { validateFhirResource } from '../harness/fhir-validate.js';
import { createTransformStep, messageDigest } from '../../gateway/daemon/transform-worker.js';
import { checkpointNow } from '../../gateway/audit/checkpointer.js';
import { tokenDigest } from '../../gateway/audit/operator-auth.js';
import { entryKey, AUDIT_HEAD_KEY } from '../../gateway/audit/audit-keys.js';
import type { DaemonEvents } from '../../gateway/daemon/events.js';
import type { InstrumentConfig } from '../../gateway/config/config.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function labedge(args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'gateway/cli/main.ts'), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const KEY = deviceKeyPem('rsa');
/** The same command in this process (no process start): for the many calls; the real CLI is spawned where exit codes and stderr matter. */
const audit = (args: string[]) => runInProcess(auditCommand, args);
const TOKEN = 'operator-token-0123456789abcdef';

describe('labedge audit: verify, checkpoints, export, trace', () => {
  let kit: AuditStoreKit;
  let raw: Buffer;
  let inboundId = '';
  let provenanceDigest = '';
  let config = '';
  let tokenFile = '';
  const dd = () => ['--data-dir', kit.dataDir];

  before(async () => {
    kit = await auditStoreKit('labedge-audit-cli-');
    raw = await readFile(new URL('../fixtures/canary/canary-result.astm', import.meta.url));
    const store = await kit.open();
    try {
      inboundId = await store.commitInbound({ sourceId: 'canary-1', raw, receivedAt: Date.now(), meta: { frames: 1, complete: true } });
      const instruments = new Map<string, InstrumentConfig>([['canary-1', { id: 'canary-1', protocol: 'astm', encoding: 'auto', timeZone: 'UTC', transport: { type: 'tcp', host: '127.0.0.1', port: 1 } }]]);
      await createTransformStep({ store, instruments, events: new EventEmitter<DaemonEvents>(), provenance: { deviceId: 'labedge-test' } })();
      const [head] = await store.outboundHeads();
      assert.ok(head, 'mapped');
      const bundle = head.bundle as { entry: { resource: { resourceType: string; entity?: { what: { identifier: { value: string } } }[] } }[] };
      provenanceDigest = bundle.entry.find((e) => e.resource.resourceType === 'Provenance')?.resource.entity?.[0]?.what.identifier.value ?? '';
      const response = { resourceType: 'Bundle', type: 'transaction-response', entry: bundle.entry.map((e, i) => ({ response: { status: '201 Created', location: `${e.resource.resourceType}/${i + 1}/_history/1` } })) };
      await store.delivered(head.id, { sourceId: 'canary-1', status: 200, response, server: 'https://fhir.test/R4' });
      await fillChain(store, 300, 100);
      await checkpointNow(store.audit, { deviceId: 'labedge-test', keyPem: KEY, now: Date.now() });
      await fillChain(store, 50, 50);
    } finally {
      await store.close();
    }
    tokenFile = join(kit.dir, 'operator.token');
    await writeFile(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
    config = join(kit.dir, 'labedge.json');
    await writeFile(
      config,
      JSON.stringify({
        deviceId: 'labedge-test',
        dataDir: kit.dataDir,
        uplink: { baseUrl: 'https://fhir.test/R4', caFile: 'ca.pem', certFile: 'device.pem', keyFile: 'device.key' },
        instruments: [],
        operators: [{ name: 'jdoe', tokenSha256: tokenDigest(TOKEN) }],
      }),
    );
  });
  after(() => kit.cleanup());

  it('verify: an untouched chain is OK (exit 0)', () => {
    const r = labedge(['audit', 'verify', ...dd()]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /353 entries verified .*1 checkpoint\(s\) checked/);
    assert.match(r.stdout, /^OK/m);
  });

  it('export: jsonl, FHIR AuditEvents that validate, RFC 5424 syslog; none carries PHI', async () => {
    const jsonl = await audit(['export', '--since', '1h', ...dd()]);
    assert.equal(jsonl.code, 0, jsonl.stderr);
    const records = jsonl.stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(records.slice(0, 3).map((r) => r.kind), ['ingest', 'transform', 'deliver']);
    const fhir = await audit(['export', '--since', '2000-01-01', '--format', 'fhir', ...dd()]);
    assert.equal(fhir.code, 0, fhir.stderr);
    const events = fhir.stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.ok(events.length >= 353);
    for (const e of events.slice(0, 10)) assert.deepEqual(validateFhirResource(e), []);
    const syslog = await audit(['export', '--since', '1h', '--format', 'syslog', ...dd()]);
    assert.equal(syslog.code, 0, syslog.stderr);
    assert.match(syslog.stdout.split('\n')[0] ?? '', /^<110>1 \S+ labedge-test labedge - INGEST \[labedge@32473 seq="1" kind="ingest"/);
    assert.deepEqual(canariesIn(jsonl.stdout + fhir.stdout + syslog.stdout + jsonl.stderr + fhir.stderr + syslog.stderr), []);
    assert.equal((await audit(['export', ...dd()])).code, 2, '--since is required');
  });

  it('trace: ingest → transform → deliver with one digest, equal to the Provenance entity; no PHI without a credential', async () => {
    const r = labedge(['audit', 'trace', inboundId, ...dd()]);
    assert.equal(r.code, 0, r.stderr);
    const digest = messageDigest(raw);
    assert.equal(provenanceDigest, digest, 'the Provenance sent upstream names the raw bytes by the same digest');
    assert.match(r.stdout, new RegExp(`message ${inboundId}  sha256 ${digest}`));
    for (const kind of ['ingest', 'transform', 'deliver']) assert.match(r.stdout, new RegExp(`seq \\d+ .* ${kind} `));
    assert.match(r.stdout, /digests agree across stages; journey complete/);
    assert.match(r.stdout, /Observation\/\d+\/_history\/1/);
    assert.deepEqual(canariesIn(r.stdout + r.stderr), []);
    const json = JSON.parse((await audit(['trace', digest, '--json', ...dd()])).stdout);
    assert.deepEqual(json.stages.map((s: { kind: string }) => s.kind), ['ingest', 'transform', 'deliver']);
    assert.ok(json.stages.every((s: { digest?: string }) => s.digest === undefined || s.digest === digest));
  });

  it('trace with an operator credential shows the payload, and the access is audited; a wrong token is refused and audited', async () => {
    const bad = join(kit.dir, 'bad.token');
    await writeFile(bad, 'not-the-operator-token-000', { mode: 0o600 });
    const refused = labedge(['audit', 'trace', inboundId, '--config', config, '--operator-token-file', bad]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /operator token does not match/);
    assert.deepEqual(canariesIn(refused.stdout + refused.stderr), []);

    const shown = await audit(['trace', inboundId, '--config', config, '--operator-token-file', tokenFile]);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /payload: \d+ bytes, sha256 matches the ingest digest/);
    assert.ok(shown.stdout.includes(CANARIES[0] as string), 'the authorised operator sees the message');

    const tail = (await audit(['export', '--since', '1h', ...dd()])).stdout.trim().split('\n').map((l) => JSON.parse(l)).slice(-3);
    const kinds = tail.map((t) => t.kind);
    assert.ok(kinds.includes('operator-auth-failure'));
    const access = tail.find((t) => t.kind === 'payload-access');
    assert.equal(access?.operator, 'jdoe');
    assert.deepEqual(access?.ids, [inboundId]);
    assert.equal((await audit(['verify', ...dd()])).code, 0, 'the chain stays intact');
  });

  it('verify names the first bad seq (exit 1): a deleted entry, then a truncation only an outside checkpoint shows', async () => {
    const cp = await audit(['checkpoints', '--last', ...dd()]);
    assert.equal(cp.code, 0, cp.stderr);
    const cpFile = join(kit.dir, 'checkpoint.json');
    await writeFile(cpFile, cp.stdout);
    const seq = JSON.parse(cp.stdout).seq as number;

    await kit.raw((db) => db.del(entryKey(57)));
    let r = labedge(['audit', 'verify', ...dd()]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /BROKEN at seq 57 \(deleted\)/);
    assert.equal(r.stderr.trim().split('\n').length, 1);
    assert.match(r.stderr, /^labedge: audit chain broken at seq 57 \(deleted\)/);

    // Now cut the chain there, with its head mark and the stored checkpoints: nothing inside the box disagrees any more.
    await kit.raw(async (db) => {
      for await (const key of db.keys({ gte: entryKey(58), lt: 'a"' })) await db.del(key);
      await db.del(AUDIT_HEAD_KEY);
      for await (const key of db.keys({ gte: 'c!', lt: 'c"' })) await db.del(key);
    });
    assert.equal((await audit(['verify', ...dd()])).code, 1, 'a missing head mark is itself a break');
    r = await audit(['verify', '--from-checkpoint', cpFile, ...dd()]);
    assert.equal(r.code, 1);
    assert.ok(seq > 57);
    assert.match(r.stderr, /broken at seq 57 \(truncated\): the chain ends at seq 56 but a signed checkpoint covers seq \d+/);
  });
});
