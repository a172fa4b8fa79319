import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { auditStoreKit, deviceKeyPem } from '../../test/harness/audit-kit.js';
import { silentLogger } from '../core/logger.js';
import { DaemonAudit } from './daemon-audit.js';
import { prunePayloads } from './payload-retention.js';
import { verifyChain } from './verify.js';
import type { AuditCheckpoint } from './audit-types.js';
import type { QueueStore } from '../store/queue-store.js';

async function kinds(store: QueueStore, fromSeq = 1): Promise<string[]> {
  const out: string[] = [];
  for await (const e of store.audit.entries(fromSeq)) out.push(e.kind);
  return out;
}

test('the daemon side: start/stop, config changes only when the config changed, auth alarms, a final checkpoint that extends the last', async () => {
  const kit = await auditStoreKit();
  const keyFile = join(kit.dir, 'device.key');
  await writeFile(keyFile, deviceKeyPem('ec'), { mode: 0o600 });
  const events = new EventEmitter();
  const checkpoints: AuditCheckpoint[] = [];
  events.on('audit-checkpoint', (cp: AuditCheckpoint) => checkpoints.push(cp));
  const run = async (config: object, during?: (d: DaemonAudit) => Promise<void>) => {
    const store = await kit.open();
    const d = new DaemonAudit({ audit: store.audit, events, logger: silentLogger(), deviceId: 'labedge-test', keyFile, config, server: 'https://fhir.test/R4', instruments: 1 });
    await d.start();
    await during?.(d);
    await d.stop();
    return store;
  };
  try {
    let store = await run({ a: 1 });
    assert.deepEqual(await kinds(store), ['app-start', 'config-change', 'app-stop']);
    await store.close();
    store = await run({ a: 1 }, async () => {
      events.emit('uplink-alarm', { kind: 'auth', active: true, status: 401 });
      events.emit('uplink-alarm', { kind: 'circuit-open', active: true });
      events.emit('uplink-alarm', { kind: 'auth', active: false });
      events.emit('certificate-renewed', { certSha256: 'd'.repeat(64), serial: '0A1B', notAfter: '2027-12-01T00:00:00.000Z' });
    });
    assert.deepEqual(await kinds(store, 4), ['app-start', 'uplink-auth-failure', 'uplink-auth-failure', 'renewal', 'app-stop'], 'same config: no change recorded');
    await store.close();
    store = await run({ a: 2 });
    assert.deepEqual(await kinds(store, 9), ['app-start', 'config-change', 'app-stop']);
    assert.equal(checkpoints.length, 3, 'one checkpoint per stop');
    assert.deepEqual(checkpoints.map((c) => c.seq), [3, 8, 11]);
    assert.deepEqual(checkpoints[2]?.previous, { seq: 8, hash: checkpoints[1]?.hash });
    const report = await verifyChain(store.audit);
    assert.equal(report.ok, true);
    assert.equal(report.checkpoints, 3);
    await store.close();
  } finally {
    await kit.cleanup();
  }
});

test('payload retention: expired raw payloads are deleted with an entry saying so; the chain and digests stay', async () => {
  const kit = await auditStoreKit();
  const store = await kit.open();
  try {
    const day = 86_400_000;
    const now = 100 * day;
    const ids: string[] = [];
    for (const age of [40, 35, 31, 5, 1]) ids.push(await store.commitInbound({ sourceId: 'a', raw: Buffer.from(`message ${age}`), receivedAt: now - age * day }));
    // A payload is a queued message's only copy of its bytes until the message is transformed:
    // the 35-day-old one is still queued, so it stays; expiry goes on around it, one exact range
    // on each side.
    await store.handledAtLink(ids[0] ?? '', 'a');
    await store.handledAtLink(ids[2] ?? '', 'a');
    assert.deepEqual(await prunePayloads(store.audit, { now, retentionMs: 30 * day }), { pruned: 2, firstRef: 'r-0000000000000001', lastRef: 'r-0000000000000003' });
    assert.equal(typeof (await store.audit.readPayload('r-0000000000000002')), 'object');
    const expiredBodies = async (): Promise<unknown[]> => {
      const bodies: unknown[] = [];
      for await (const e of store.audit.entries()) if (e.kind === 'payload-expired') bodies.push(e.body);
      return bodies;
    };
    assert.deepEqual(await expiredBodies(), [
      { count: 1, firstRef: 'r-0000000000000001', lastRef: 'r-0000000000000001', retentionDays: 30 },
      { count: 1, firstRef: 'r-0000000000000003', lastRef: 'r-0000000000000003', retentionDays: 30 },
    ]);
    await store.handledAtLink(ids[1] ?? '', 'a');
    const result = await prunePayloads(store.audit, { now, retentionMs: 30 * day });
    assert.equal(result.pruned, 1);
    assert.deepEqual((await expiredBodies()).at(-1), { count: 1, firstRef: 'r-0000000000000002', lastRef: 'r-0000000000000002', retentionDays: 30 });
    assert.equal(await store.audit.readPayload('r-0000000000000001'), 'expired');
    assert.equal(typeof (await store.audit.readPayload('r-0000000000000004')), 'object');
    assert.equal((await prunePayloads(store.audit, { now, retentionMs: 30 * day })).pruned, 0, 'nothing more to do');
    assert.equal((await verifyChain(store.audit)).ok, true);
  } finally {
    await store.close();
    await kit.cleanup();
  }
});
