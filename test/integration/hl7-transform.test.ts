/**
 * The transform worker's HL7 dispatch: records marked `meta.protocol = 'hl7'` are mapped with the
 * v2-to-FHIR mapper; records the intake rejected (AR/CR) are quarantined with the ERR code and
 * position, never mapped; the instrument's HL7 device profile is applied, and the translation delta
 * lands in the transform audit entry.
 */
import { strict as assert } from 'node:assert';
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { DaemonEvents } from '../../gateway/daemon/events.js';
import { createTransformStep } from '../../gateway/daemon/transform-worker.js';
import { QueueStore } from '../../gateway/store/queue-store.js';
import type { AnyInstrumentConfig } from '../../gateway/config/config.js';
import { convertHl7 } from '../../gateway/fhir/hl7/hl7-to-fhir.js';
import { hl7Profile } from '../../gateway/profiles/hl7-profile.js';
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

test('the HL7 device profile reaches the mapping, and the delta is stored with the transform audit entry', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'labedge-hl7-profile-'));
  const store = await QueueStore.open({ dataDir: join(dir, 'data'), keyFile: join(dir, 'keys', 'kek') });
  t.after(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  // The same Radiometer ABL capture from two instruments: one configured with its profile, one generic.
  const raw = readFileSync(new URL('../fixtures/hl7/abl735-ORU_R01-bloodgas.hl7', import.meta.url));
  const transport = { type: 'mllp' as const, host: '127.0.0.1', port: 0, allowPlaintext: true };
  const instruments = new Map<string, AnyInstrumentConfig>([
    ['abl-profiled', { id: 'abl-profiled', protocol: 'hl7', encoding: 'auto', timeZone: 'Europe/Berlin', profile: 'radiometer-abl', transport }],
    ['abl-generic', { id: 'abl-generic', protocol: 'hl7', encoding: 'auto', timeZone: 'Europe/Berlin', transport }],
  ]);
  const profiledId = await store.commitInbound({ sourceId: 'abl-profiled', raw, receivedAt: 1, meta: { protocol: 'hl7' } });
  await store.commitInbound({ sourceId: 'abl-generic', raw, receivedAt: 2, meta: { protocol: 'hl7' } });
  await createTransformStep({ store, instruments, events: new EventEmitter<DaemonEvents>() })();
  const outs = await store.outboundHeads();
  const quantities = (sourceId: string): number => {
    const bundle = outs.find((o) => o.sourceId === sourceId)?.bundle as { entry?: { resource?: { resourceType?: string; valueQuantity?: unknown } }[] } | undefined;
    return (bundle?.entry ?? []).filter((e) => e.resource?.resourceType === 'Observation' && e.resource.valueQuantity !== undefined).length;
  };
  assert.ok(quantities('abl-profiled') >= 10, 'numericStrings: ST numbers became valueQuantity');
  assert.equal(quantities('abl-generic'), 0, 'without the profile ST stays text');

  // The translation delta: positions (never content) of what was not mapped, in the transform's audit entry.
  const expected = convertHl7(raw, { sourceId: 'abl-profiled', messageId: 'x', profile: hl7Profile({ profile: 'radiometer-abl' }) }).unmapped;
  assert.ok(expected.length > 0);
  const entries = [];
  for await (const e of store.audit.entries()) entries.push(e);
  const transform = entries.find((e) => e.kind === 'transform' && e.body.inboundId === profiledId);
  assert.ok(transform, 'a transform entry for the message');
  assert.deepEqual(transform.body.unmapped, expected);
  for (const p of transform.body.unmapped as string[]) assert.match(p, /^([A-Z][A-Z0-9]{2}-\d+|segment \d+)$/);
  assert.ok(!JSON.stringify(transform.body).includes('F872518654'), 'no patient id in the audit entry body');
});
