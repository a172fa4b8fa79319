/**
 * Signed audit checkpoints sent upstream: the daemon's audit side posts each checkpoint as an
 * AuditEvent through the real uplink (mutual TLS) to the harness FHIR server, which validates
 * it; taken back out of the server, the checkpoint still verifies against the box's key.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createDevCa, issueDeviceCert, issueServerCert } from '../../provisioning/dev-ca.js';
import { startFhirServer } from '../harness/fhir-server.js';
import { auditStoreKit, fillChain } from '../harness/audit-kit.js';
import { openUplink } from '../../gateway/uplink/open-uplink.js';
import { silentLogger } from '../../gateway/core/logger.js';
import { DaemonAudit } from '../../gateway/audit/daemon-audit.js';
import { DEFAULT_AUDIT_SETTINGS } from '../../gateway/audit/audit-config.js';
import { checkpointBundle } from '../../gateway/audit/checkpoint-upstream.js';
import { checkpointSignatureValid, parseCheckpoint } from '../../gateway/audit/checkpoint.js';
import type { AuditCheckpoint } from '../../gateway/audit/audit-types.js';

test('each signed checkpoint reaches the FHIR server as a valid AuditEvent that still verifies', async (t) => {
  const kit = await auditStoreKit('labedge-cp-upstream-');
  const ca = createDevCa();
  const serverCert = issueServerCert(ca, { hostnames: ['localhost'], ips: ['127.0.0.1'] });
  const device = issueDeviceCert(ca, { deviceId: 'labedge-cp' });
  const files = { caFile: join(kit.dir, 'ca.pem'), certFile: join(kit.dir, 'device.pem'), keyFile: join(kit.dir, 'device.key') };
  await writeFile(files.caFile, ca.certPem);
  await writeFile(files.certFile, device.certPem);
  await writeFile(files.keyFile, device.keyPem, { mode: 0o600 });
  const server = await startFhirServer({ ca: ca.certPem, cert: serverCert.certPem, key: serverCert.keyPem });
  const store = await kit.open();
  const uplink = await openUplink({ baseUrl: server.url, ...files, timeoutMs: 5000 }, { logger: silentLogger(), watch: false });
  t.after(async () => {
    await uplink.close();
    await store.close();
    await server.close();
    await kit.cleanup();
  });

  const sent: AuditCheckpoint[] = [];
  const audit = new DaemonAudit({
    audit: store.audit,
    events: new EventEmitter(),
    logger: silentLogger(),
    deviceId: 'labedge-cp',
    keyFile: files.keyFile,
    config: {},
    server: server.url,
    instruments: 0,
    settings: { ...DEFAULT_AUDIT_SETTINGS, sendCheckpointsUpstream: true },
    sendUpstream: async (cp) => {
      sent.push(cp);
      return (await uplink.client.postBundle(checkpointBundle(cp))).outcome;
    },
  });
  await audit.start();
  await fillChain(store, 40, 40);
  await audit.checkpoint();
  await audit.stop(); // app-stop, then the final checkpoint

  assert.equal(sent.length, 2);
  assert.deepEqual(server.validationErrors, []);
  const events = (await server.search('AuditEvent')) as { entity?: { detail?: { type: string; valueBase64Binary?: string }[] }[] }[];
  assert.equal(events.length, 2);
  const upstream = events
    .map((e) => e.entity?.[0]?.detail?.find((d) => d.type === 'checkpoint')?.valueBase64Binary)
    .map((b64) => parseCheckpoint(JSON.parse(Buffer.from(b64 ?? '', 'base64').toString('utf8'))))
    .sort((a, b) => (a?.seq ?? 0) - (b?.seq ?? 0));
  assert.deepEqual(upstream.map((c) => c?.seq), sent.map((c) => c.seq));
  for (const cp of upstream) assert.ok(cp && checkpointSignatureValid(cp), 'the copy upstream verifies as signed');
  assert.deepEqual(upstream[1]?.previous, { seq: sent[0]?.seq, hash: sent[0]?.hash }, 'the later one extends the earlier');
});

test('a checkpoint the server refuses is logged and left to the next one: the daemon goes on', async (t) => {
  const kit = await auditStoreKit('labedge-cp-refused-');
  t.after(() => kit.cleanup());
  const keyFile = join(kit.dir, 'device.key');
  await writeFile(keyFile, issueDeviceCert(createDevCa(), { deviceId: 'labedge-cp' }).keyPem, { mode: 0o600 });
  const store = await kit.open();
  t.after(() => store.close());
  let calls = 0;
  const audit = new DaemonAudit({
    audit: store.audit,
    events: new EventEmitter(),
    logger: silentLogger(),
    deviceId: 'labedge-cp',
    keyFile,
    config: {},
    server: 'https://fhir.test/R4',
    instruments: 0,
    settings: { ...DEFAULT_AUDIT_SETTINGS, sendCheckpointsUpstream: true },
    sendUpstream: async () => {
      calls += 1;
      if (calls === 1) return 'rejected';
      throw new Error('connection reset');
    },
  });
  await audit.start();
  assert.ok(await audit.checkpoint(), 'signed and kept although the server refused it');
  await audit.stop();
  assert.equal(calls, 2);
  assert.equal((await store.audit.latestCheckpoint())?.seq, 3, 'both checkpoints stored on the box');
});
