import assert from 'node:assert/strict';
import { open, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { auditStoreKit, type AuditStoreKit } from '../harness/audit-kit.js';
import { canariesIn } from '../harness/canary.js';
import { runLabedge } from '../harness/phi-scan.js';
import { QueueStore, type StoreAlarm } from '../../gateway/store/queue-store.js';
import { RELAYED_ALARMS_FILE } from '../../gateway/store/alarm-relay.js';

/**
 * An operator's command that opens a damaged store (the daemon stopped) repairs it as the
 * daemon would; what it found is said on the terminal, and kept for the daemon, which raises
 * it at its next start: fleet monitoring hears of damage whoever opened the store first.
 */
describe('an operator command on a damaged store', () => {
  let kit: AuditStoreKit;

  before(async () => {
    kit = await auditStoreKit('labedge-queue-damage-');
    const raw = await readFile(new URL('../fixtures/canary/canary-result.astm', import.meta.url));
    const store = await kit.open();
    for (let n = 0; n < 6; n++) await store.commitInbound({ sourceId: 'canary-1', raw, receivedAt: Date.now() + n });
    await store.close();
    await (await kit.open()).close(); // the log becomes a table
    const dir = join(kit.dataDir, 'store');
    const [table] = (await readdir(dir)).filter((n) => n.endsWith('.ldb'));
    assert.ok(table);
    const h = await open(join(dir, table), 'r+');
    await h.write(Buffer.from([0xff]), 0, 1, 20);
    await h.close();
  });
  after(async () => {
    await kit.cleanup();
  });

  it('says what it found on stderr (no PHI), and the daemon raises it at its next open', async () => {
    const r = await runLabedge(['queue', 'stats', '--data-dir', kit.dataDir]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /labedge: error: the store is damaged \(.*fail their checksum.*\); the damaged copy is kept at .*\(LABEDGE_ERR_STORE_DAMAGED\)/);
    assert.deepEqual(canariesIn(r.stdout + r.stderr), []);
    assert.ok((await stat(join(kit.dataDir, RELAYED_ALARMS_FILE))).size > 0);

    const alarms: StoreAlarm[] = [];
    const daemonStore = await QueueStore.open({ dataDir: kit.dataDir, keyFile: kit.keyFile, onAlarm: (a) => alarms.push(a) });
    await daemonStore.close();
    const relayed = alarms.filter((a) => a.message.startsWith('raised by `labedge queue stats` at '));
    assert.ok(relayed.some((a) => a.severity === 'error' && a.code === 'LABEDGE_ERR_STORE_DAMAGED' && /fail their checksum/.test(a.message)), JSON.stringify(alarms));
    assert.ok(!(await readdir(kit.dataDir)).includes(RELAYED_ALARMS_FILE), 'raised once, then removed');
    assert.deepEqual(canariesIn(JSON.stringify(alarms)), []);
  });
});
