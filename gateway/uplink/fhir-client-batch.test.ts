/**
 * `bundleType: 'batch'` against the real mutual-TLS harness server: one batch per dependency
 * level with references resolved to the server's ids, every entry's status checked, and
 * partial failures classified per entry (some batch-responses are injected as faults, since
 * the harness cannot make a single entry fail transiently on its own).
 */
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Bundle, Observation } from '@medplum/fhirtypes';
import { createDevCa, issueDeviceCert, issueServerCert } from '../../provisioning/dev-ca.js';
import { startFhirServer, type FhirTestServer } from '../../test/harness/fhir-server.js';
import { CANARIES } from '../../test/harness/canary.js';
import { convertAstm } from '../fhir/astm-to-fhir.js';
import { withProvenance } from '../fhir/provenance.js';
import { messageDigest } from '../daemon/transform-worker.js';
import { FhirUplinkClient } from './fhir-client.js';

const ca = createDevCa({ commonName: 'batch test CA' });
const serverCert = issueServerCert(ca, { hostnames: ['localhost'], ips: ['127.0.0.1'] });
const device = issueDeviceCert(ca, { deviceId: 'dev-batch' });

function labBundle(status: 'F' | 'C', value = '5.5'): Bundle {
  const raw = ['H|\\^&|||Sim|||||||P|LIS2-A2', `P|1|${CANARIES[2]}`, `O|1|${CANARIES[5]}||^^^GLU|R`, `R|1|^^^GLU|${value}|mmol/L|3.9-6.1|N||${status}||||20261203101000`, 'L|1|N'].join('\r');
  const digest = messageDigest(Buffer.from(raw));
  const { bundle } = convertAstm(raw, { sourceId: 'chem-1', messageId: digest, timeZone: 'UTC' });
  return withProvenance(bundle, { sourceId: 'chem-1', messageDigest: digest, deviceId: 'dev-batch', softwareVersion: '0.0.0', recordedAt: 0 });
}

const batchResponse = (...entries: object[]): object => ({ resourceType: 'Bundle', type: 'batch-response', entry: entries });
const created = (location: string): object => ({ response: { status: '201 Created', location } });

describe('FhirUplinkClient, bundleType batch', () => {
  let server: FhirTestServer;
  let client: FhirUplinkClient;

  before(async () => {
    server = await startFhirServer({ ca: ca.certPem, cert: serverCert.certPem, key: serverCert.keyPem });
    client = new FhirUplinkClient({ baseUrl: server.url, ca: ca.certPem, cert: device.certPem, key: device.keyPem, bundleType: 'batch' });
  });
  after(async () => {
    await client.close();
    await server.close();
  });
  beforeEach(() => server.clear());

  test('sends one batch per dependency level with literal references; replays and corrections add nothing', async () => {
    const r = await client.postBundle(labBundle('F'));
    assert.equal(r.outcome, 'ok');
    // Device+Patient, Specimen, ServiceRequest, Observation, DiagnosticReport, Provenance.
    assert.equal(server.requests.length, 6);
    assert.deepEqual(server.validationErrors, []);
    const [obs] = (await server.search('Observation')) as Observation[];
    assert.match(obs?.subject?.reference ?? '', /^Patient\/[\w-]+$/);
    assert.match(obs?.specimen?.reference ?? '', /^Specimen\/[\w-]+$/);
    const [prov] = await server.search('Provenance');
    assert.ok((prov as { target: { reference: string }[] }).target.every((t) => /^[A-Z]\w+\/[\w-]+$/.test(t.reference)));

    assert.equal((await client.postBundle(labBundle('F'))).outcome, 'ok');
    assert.equal((await client.postBundle(labBundle('C', '5.7'))).outcome, 'ok');
    const counts = await server.countByType();
    assert.deepEqual(counts, { Device: 1, DiagnosticReport: 1, Observation: 1, Patient: 1, Provenance: 2, ServiceRequest: 1, Specimen: 1 });
    const [corrected] = (await server.search('Observation')) as Observation[];
    assert.equal(corrected?.status, 'corrected');
    assert.equal(corrected?.valueQuantity?.value, 5.7);
  });

  test('an entry failing transiently makes the bundle transient; later levels are not sent; the retry completes it', async () => {
    server.faults.push({ kind: 'status', status: 200, body: batchResponse(created('Device/d1'), { response: { status: '503 Service Unavailable' } }) });
    const r = await client.postBundle(labBundle('F'));
    assert.equal(r.outcome, 'transient');
    assert.equal(r.status, 503);
    assert.deepEqual(r.entries?.map((e) => [e.index, e.resourceType, e.status, e.outcome]), [[1, 'Patient', 503, 'transient']]);
    assert.equal(server.requests.length, 1, 'nothing sent after the failed level');
    assert.equal((await client.postBundle(labBundle('F'))).outcome, 'ok');
    assert.equal((await server.countByType()).Observation, 1);
  });

  test('an entry the server rejects for its data: rejected, with the entry named by position and no PHI', async () => {
    const oo = { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'invalid', expression: ['Patient.identifier'], diagnostics: `bad value ${CANARIES[2]}` }] };
    server.faults.push({ kind: 'status', status: 200, body: batchResponse(created('Device/d1'), { response: { status: '422', outcome: oo } }) });
    const r = await client.postBundle(labBundle('F'));
    assert.equal(r.outcome, 'rejected');
    assert.equal(r.status, 422);
    assert.equal(r.summary, 'entry[1] Patient 422 error invalid @Patient.identifier');
    const { response: _serverReply, ...reportable } = r;
    for (const c of CANARIES) assert.ok(!JSON.stringify(reportable).includes(c), c);
  });

  test('auth beats transient beats rejected when entries fail differently; a short batch-response is transient', async () => {
    server.faults.push({ kind: 'status', status: 200, body: batchResponse({ response: { status: '422' } }, { response: { status: '403' } }) });
    assert.equal((await client.postBundle(labBundle('F'))).outcome, 'auth');
    server.faults.push({ kind: 'status', status: 200, body: batchResponse({ response: { status: '422' } }, { response: { status: '500' } }) });
    assert.equal((await client.postBundle(labBundle('F'))).outcome, 'transient');
    server.faults.push({ kind: 'status', status: 200, body: batchResponse(created('Device/d1')) });
    const short = await client.postBundle(labBundle('F'));
    assert.deepEqual([short.outcome, short.entries?.[0]?.status], ['transient', 0]);
  });

  test('a batch the server refuses as a whole is classified by its status', async () => {
    server.faults.push({ kind: 'status', status: 400, body: { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'structure' }] } });
    const r = await client.postBundle(labBundle('F'));
    assert.deepEqual([r.outcome, r.status, r.summary], ['rejected', 400, 'error structure']);
    server.faults.push({ kind: 'status', status: 503, retryAfter: '7' });
    const t = await client.postBundle(labBundle('F'));
    assert.deepEqual([t.outcome, t.retryAfterMs], ['transient', 7000]);
  });
});
