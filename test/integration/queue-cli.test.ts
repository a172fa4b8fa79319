import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { auditStoreKit, type AuditStoreKit } from '../harness/audit-kit.js';
import { CANARIES, canariesIn } from '../harness/canary.js';
import { runLabedge, type CliResult } from '../harness/phi-scan.js';
import { tokenDigest } from '../../gateway/audit/operator-auth.js';

/**
 * `labedge queue stats|list|dlq list|dlq show ID|dlq replay ID|dlq purge`, the real CLI on a
 * real store holding canary PHI: the listings show opaque ids and counts only; `dlq show`,
 * `replay` and `purge` need an operator credential, and every attempt (refused or not) is in
 * the audit trail, which still verifies afterwards.
 */
const TOKEN = 'queue-operator-token-0123456789';

describe('labedge queue (operator CLI)', () => {
  let kit: AuditStoreKit;
  let config = '';
  let tokenFile = '';
  let badTokenFile = '';
  const letters: string[] = [];
  const dd = (): string[] => ['--data-dir', kit.dataDir];
  const noCanary = (name: string, r: CliResult): void => assert.deepEqual(canariesIn(r.stdout + r.stderr), [], `${name} shows no PHI`);
  const auditKinds = async (): Promise<string> => {
    const r = await runLabedge(['audit', 'export', '--since', '1h', ...dd()]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout;
  };

  before(async () => {
    kit = await auditStoreKit('labedge-queue-cli-');
    const raw = await readFile(new URL('../fixtures/canary/canary-result.astm', import.meta.url));
    const store = await kit.open();
    try {
      const ids = [];
      for (let n = 0; n < 4; n++) ids.push(await store.commitInbound({ sourceId: 'canary-1', raw, receivedAt: Date.now() + n }));
      await store.transformed(ids[0] ?? '', { sourceId: 'canary-1', bundle: { resourceType: 'Bundle', type: 'transaction', entry: [] } });
      await store.rejected(ids[1] ?? '', { reasonCode: 'mapping-error', detail: 'R.3' });
      await store.rejected(ids[2] ?? '', { reasonCode: 'parse-error', detail: 'P.6' });
      for (const d of await store.listDeadLetters(10)) letters.push(d.id);
    } finally {
      await store.close();
    }
    tokenFile = join(kit.dir, 'operator.token');
    badTokenFile = join(kit.dir, 'wrong.token');
    await writeFile(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
    await writeFile(badTokenFile, 'not-the-operator-token-at-all\n', { mode: 0o600 });
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

  it('stats, list and dlq list: counts and opaque ids, no PHI, no credential needed', async () => {
    const stats = await runLabedge(['queue', 'stats', '--json', ...dd()]);
    assert.equal(stats.code, 0, stats.stderr);
    assert.deepEqual(JSON.parse(stats.stdout), { inbound: 1, outbound: 1, deadLetter: 2 });
    const list = await runLabedge(['queue', 'list', ...dd()]);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^inbound i-\S+ source=canary-1 bytes=\d+/m);
    assert.match(list.stdout, /^outbound-head o-\S+ source=canary-1 attempts=0/m);
    const dlq = await runLabedge(['queue', 'dlq', 'list', ...dd()]);
    assert.equal(dlq.code, 0, dlq.stderr);
    for (const id of letters) assert.match(dlq.stdout, new RegExp(`^dead-letter ${id} source=canary-1 stage=transform reason=\\S+`, 'm'));
    for (const [name, r] of Object.entries({ stats, list, dlq })) noCanary(name, r);
  });

  it('dlq show needs the operator credential; a wrong one is refused and audited, the right one shows the message and is audited', async () => {
    const id = letters[0] ?? '';
    const noToken = await runLabedge(['queue', 'dlq', 'show', id, '--config', config]);
    assert.equal(noToken.code, 2, 'usage error without --operator-token-file');
    const wrong = await runLabedge(['queue', 'dlq', 'show', id, '--config', config, '--operator-token-file', badTokenFile]);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /^labedge: the operator token does not match any configured operator\n$/);
    noCanary('refused show', wrong);
    const shown = await runLabedge(['queue', 'dlq', 'show', id, '--config', config, '--operator-token-file', tokenFile]);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, new RegExp(`^dead-letter ${id} .*reason=mapping-error`, 'm'));
    assert.ok(CANARIES.some((c) => shown.stdout.includes(c)), 'the authorised view shows the raw message');
    const trail = await auditKinds();
    assert.match(trail, /"kind":"operator-auth-failure"/);
    assert.match(trail, new RegExp(`"kind":"dlq-access".*"operator":"jdoe".*"dlq-show"|"kind":"dlq-access".*"dlq-show".*"operator":"jdoe"`));
    noCanary('audit export', { code: 0, stdout: trail, stderr: '' });
  });

  it('dlq replay puts the letter back in the pipeline; dlq purge deletes the rest; both audited, the chain verifies', async () => {
    const replay = await runLabedge(['queue', 'dlq', 'replay', letters[0] ?? '', '--config', config, '--operator-token-file', tokenFile]);
    assert.equal(replay.code, 0, replay.stderr);
    assert.match(replay.stdout, new RegExp(`^replayed ${letters[0]} as i-\\S+$`, 'm'));
    const purge = await runLabedge(['queue', 'dlq', 'purge', '--config', config, '--operator-token-file', tokenFile]);
    assert.equal(purge.code, 0, purge.stderr);
    assert.match(purge.stdout, /^purged 1 dead letter\(s\)$/m);
    const stats = await runLabedge(['queue', 'stats', '--json', ...dd()]);
    assert.deepEqual(JSON.parse(stats.stdout), { inbound: 2, outbound: 1, deadLetter: 0 });
    const trail = await auditKinds();
    assert.match(trail, /"dlq-replay"/);
    assert.match(trail, /"dlq-purge"/);
    const verify = await runLabedge(['audit', 'verify', ...dd()]);
    assert.equal(verify.code, 0, verify.stdout + verify.stderr);
    for (const [name, r] of Object.entries({ replay, purge, stats, verify })) noCanary(name, r);
  });
});
