/**
 * The transform worker's HL7 dispatch: records marked `meta.protocol = 'hl7'` are mapped with the
 * v2-to-FHIR mapper; records the intake rejected (AR/CR) are quarantined with the ERR code and
 * position, never mapped.
 */
import { strict as assert } from 'node:assert';
import { EventEmitter } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { DaemonEvents } from '../../gateway/daemon/events.js';
import { createTransformStep } from '../../gateway/daemon/transform-worker.js';
import { QueueStore } from '../../gateway/store/queue-store.js';
import { oru } from './hl7-kit.js';

test('HL7 records are mapped to FHIR; rejected ones are dead-lettered with their ERR code', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'labedge-hl7-transform-'));
  const store = await QueueStore.open({ dataDir: join(dir, 'data'), keyFile: join(dir, 'keys', 'kek') });
  t.after(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  await store.commitInbound({ sourceId: 'hl7-1', raw: Buffer.from(oru('T-1')), receivedAt: 1, meta: { protocol: 'hl7', messageType: 'ORU' } });
  await store.commitInbound({ sourceId: 'hl7-1', raw: Buffer.from('MSH|^~\\&|A|B|C|D|2024||^R01|X|P|2.5\r'), receivedAt: 2, meta: { protocol: 'hl7', rejected: '101', rejectedAt: 'MSH-9' } });
  const events = new EventEmitter<DaemonEvents>();
  const seen: string[] = [];
  events.on('transformed', (e) => seen.push(`transformed ${e.resources}`));
  events.on('rejected', (e) => seen.push(`rejected ${e.reasonCode}`));
  const step = createTransformStep({ store, instruments: new Map([['hl7-1', { id: 'hl7-1', protocol: 'hl7', encoding: 'auto', timeZone: 'Europe/Berlin', transport: { type: 'mllp', host: '127.0.0.1', port: 0, allowPlaintext: true } }]]), events });
  await step();
  assert.deepEqual(seen, ['transformed 8', 'rejected hl7-rejected']);
  const [out] = await store.outboundHeads();
  const bundle = out?.bundle as { entry?: { resource?: { resourceType?: string } }[] };
  assert.equal(bundle.entry?.filter((e) => e.resource?.resourceType === 'Observation').length, 3);
  const [dead] = await store.listDeadLetters();
  assert.equal(dead?.reasonCode, 'hl7-rejected');
  assert.equal(dead?.detail, 'hl7-rejected ERR 101 MSH-9');
});
