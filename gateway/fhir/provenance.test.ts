import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bundle, Provenance } from '@medplum/fhirtypes';
import { convertAstm } from './astm-to-fhir.js';
import { DEVICE_IDENTIFIER_SYSTEM, MESSAGE_DIGEST_SYSTEM, withProvenance, type ProvenanceContext } from './provenance.js';
import { validateFhirBundle } from '../../test/harness/fhir-validate.js';
import { QueueStore } from '../store/queue-store.js';
import { createTransformStep, messageDigest } from '../daemon/transform-worker.js';
import type { DaemonEvents } from '../daemon/events.js';
import { softwareVersion } from '../uplink/software-version.js';

const RAW = ['H|\\^&|||Sim|||||||P|LIS2-A2', 'P|1|PID-1', 'O|1|SPEC-1||^^^GLU|R', 'R|1|^^^GLU|5.5|mmol/L|3.9-6.1|N||F||||20261203101000', 'L|1|N'].join('\r');
const digest = messageDigest(Buffer.from(RAW, 'latin1'));
const ctx: ProvenanceContext = { sourceId: 'sysmex 1', messageDigest: digest, deviceId: 'labedge-0042', softwareVersion: '1.2.3', recordedAt: Date.UTC(2026, 11, 3, 10, 0, 0) };

describe('Provenance', () => {
  it('targets every entry, names the box Device and the raw message digest, and is written once per message', () => {
    const { bundle } = convertAstm(RAW, { sourceId: 'sysmex 1', messageId: digest, timeZone: 'UTC' });
    const out = withProvenance(bundle, ctx);
    assert.equal(out.entry?.length, (bundle.entry?.length ?? 0) + 1);
    assert.equal(bundle.entry?.some((e) => e.resource?.resourceType === 'Provenance'), false, 'input untouched');
    const entry = out.entry?.at(-1);
    const p = entry?.resource as Provenance;
    assert.deepEqual(p.target.map((t) => t.reference), bundle.entry?.map((e) => e.fullUrl));
    assert.deepEqual(p.agent[0]?.who?.identifier, { system: DEVICE_IDENTIFIER_SYSTEM, value: 'labedge-0042' });
    assert.equal(p.agent[0]?.who?.reference, '#labedge');
    assert.deepEqual((p.contained?.[0] as { version?: unknown }).version, [{ value: '1.2.3' }]);
    assert.deepEqual(p.entity?.[0]?.what.identifier, { system: MESSAGE_DIGEST_SYSTEM, value: digest });
    assert.equal(p.recorded, '2026-12-03T10:00:00.000Z');
    assert.deepEqual(entry?.request, { method: 'POST', url: 'Provenance', ifNoneExist: `_tag=urn:labedge:sysmex%25201:provenance|${digest}` });
    assert.deepEqual(validateFhirBundle(out), []);
    // Deterministic: the same message gives the same entry address.
    assert.equal(withProvenance(bundle, { ...ctx, recordedAt: 0 }).entry?.at(-1)?.fullUrl, entry?.fullUrl);
  });

  it('leaves an empty bundle alone and refuses a digest that is not SHA-256 hex', () => {
    const empty: Bundle = { resourceType: 'Bundle', type: 'transaction', entry: [] };
    assert.equal(withProvenance(empty, ctx), empty);
    const { bundle } = convertAstm(RAW, { sourceId: 's', messageId: 'm', timeZone: 'UTC' });
    assert.throws(() => withProvenance(bundle, { ...ctx, messageDigest: 'ABC' }), TypeError);
  });

  it('is added by the transform step with exactly messageDigest(raw) and the package version', async () => {
    const root = await mkdtemp(join(tmpdir(), 'labedge-prov-'));
    const store = await QueueStore.open({ dataDir: join(root, 'data'), keyFile: join(root, 'keys', 'kek') });
    try {
      const raw = Buffer.from(RAW, 'latin1');
      await store.commitInbound({ sourceId: 'sysmex-1', raw, receivedAt: Date.now() });
      const step = createTransformStep({ store, instruments: new Map(), events: new EventEmitter<DaemonEvents>(), provenance: { deviceId: 'labedge-0042', now: () => ctx.recordedAt } });
      await step();
      const [head] = await store.outboundHeads();
      const p = (head?.bundle as Bundle).entry?.at(-1)?.resource as Provenance;
      assert.equal(p.resourceType, 'Provenance');
      assert.equal(p.entity?.[0]?.what.identifier?.value, messageDigest(raw));
      assert.match(softwareVersion(), /^\d+\.\d+\.\d+/);
      assert.deepEqual((p.contained?.[0] as { version?: unknown }).version, [{ value: softwareVersion() }]);
    } finally {
      await store.close();
      await rm(root, { recursive: true, force: true });
    }
  });
});
