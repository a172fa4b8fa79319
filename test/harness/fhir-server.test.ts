import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, request } from 'undici';
import { createDevCa, issueDeviceCert, issueServerCert } from '../../provisioning/dev-ca.js';
import { startFhirServer, type FhirTestServer } from './fhir-server.js';

const SYS = 'urn:oid:1.2.3.4.5';
const ca = createDevCa({ commonName: 'harness test CA' });
const serverCert = issueServerCert(ca, { hostnames: ['localhost'], ips: ['127.0.0.1'] });
const device = issueDeviceCert(ca, { deviceId: 'dev-harness' });

const uuid = (n: number): string => `urn:uuid:00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

/** A lab report: patient and specimen by conditional create, results and report by conditional update. */
function labBundle(opts: { obsStatus?: string; results?: number; type?: 'transaction' | 'batch' } = {}): any {
  const results = opts.results ?? 10;
  const obs = Array.from({ length: results }, (_, i) => ({
    fullUrl: uuid(100 + i),
    resource: {
      resourceType: 'Observation',
      identifier: [{ system: SYS, value: `acc-1.test-${i}` }],
      status: i === 0 && opts.obsStatus ? opts.obsStatus : 'final',
      code: { coding: [{ system: 'http://loinc.org', code: `${2000 + i}-0` }] },
      subject: { reference: uuid(1) },
      specimen: { reference: uuid(2) },
      valueQuantity: { value: 4.2 + i, unit: 'mmol/L' },
    },
    request: { method: 'PUT', url: `Observation?identifier=${encodeURIComponent(`${SYS}|acc-1.test-${i}`)}` },
  }));
  return {
    resourceType: 'Bundle',
    type: opts.type ?? 'transaction',
    entry: [
      {
        fullUrl: uuid(1),
        resource: { resourceType: 'Patient', identifier: [{ system: SYS, value: 'mrn-1' }] },
        request: { method: 'POST', url: 'Patient', ifNoneExist: `identifier=${SYS}|mrn-1` },
      },
      {
        fullUrl: uuid(2),
        resource: { resourceType: 'Specimen', identifier: [{ system: SYS, value: 'acc-1' }], subject: { reference: uuid(1) } },
        request: { method: 'POST', url: 'Specimen', ifNoneExist: `identifier=${SYS}|acc-1` },
      },
      ...obs,
      {
        fullUrl: uuid(3),
        resource: {
          resourceType: 'DiagnosticReport',
          identifier: [{ system: SYS, value: 'acc-1' }],
          status: 'final',
          code: { text: 'panel' },
          subject: { reference: uuid(1) },
          result: obs.map((o) => ({ reference: o.fullUrl })),
        },
        request: { method: 'PUT', url: `DiagnosticReport?identifier=${SYS}|acc-1` },
      },
    ],
  };
}

describe('test FHIR server', () => {
  let server: FhirTestServer;
  let agent: Agent;

  const call = async (method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown): Promise<{ status: number; headers: Record<string, unknown>; json: any }> => {
    const res = await request(`${server.url}${path}`, {
      method,
      dispatcher: agent,
      headers: { 'content-type': 'application/fhir+json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.body.text();
    return { status: res.statusCode, headers: res.headers, json: text ? JSON.parse(text) : undefined };
  };

  before(async () => {
    server = await startFhirServer({ ca: ca.certPem, cert: serverCert.certPem, key: serverCert.keyPem });
    agent = new Agent({ connect: { ca: ca.certPem, cert: device.certPem, key: device.keyPem, rejectUnauthorized: true } });
  });
  after(async () => {
    await agent.close();
    await server.close();
  });
  beforeEach(() => server.clear());

  test('a transaction posted twice leaves exactly one of each resource (conditional create and update)', async () => {
    assert.match(server.url, /^https:\/\/127\.0\.0\.1:\d+\/fhir\/R4$/);
    const first = await call('POST', '', labBundle());
    assert.equal(first.status, 200);
    assert.equal(first.json.type, 'transaction-response');
    assert.deepEqual(first.json.entry.map((e: any) => e.response.status), Array(13).fill('201'));
    const second = await call('POST', '', labBundle());
    assert.equal(second.status, 200);
    // Conditional create found the existing Patient and Specimen; conditional update matched every result.
    assert.deepEqual(second.json.entry.map((e: any) => e.response.status), Array(13).fill('200'));
    assert.deepEqual(await server.countByType(), { DiagnosticReport: 1, Observation: 10, Patient: 1, Specimen: 1 });
    for (let i = 0; i < 10; i++) {
      assert.equal((await server.search('Observation', { identifier: `${SYS}|acc-1.test-${i}` })).length, 1);
    }
    assert.equal((await server.search('Patient', `identifier=${SYS}|mrn-1`)).length, 1);

    // urn:uuid references were rewritten to the stored resources, on both posts.
    const [patient] = await server.search('Patient');
    const [report] = (await server.search('DiagnosticReport')) as any[];
    const observations = (await server.search('Observation')) as any[];
    assert.equal(report.subject.reference, `Patient/${patient!.id}`);
    assert.deepEqual(new Set(report.result.map((r: any) => r.reference)), new Set(observations.map((o) => `Observation/${o.id}`)));
    for (const o of observations) assert.equal(o.subject.reference, `Patient/${patient!.id}`);
    assert.deepEqual(second.json.entry.map((e: any) => e.response.location), first.json.entry.map((e: any) => e.response.location));
  });

  test('a corrected Observation with the same identifier updates the stored one in place', async () => {
    await call('POST', '', labBundle());
    const [before] = (await server.search('Observation', { identifier: `${SYS}|acc-1.test-0` })) as any[];
    assert.equal(before.status, 'final');
    const res = await call('POST', '', labBundle({ obsStatus: 'corrected' }));
    assert.equal(res.status, 200);
    const after = (await server.search('Observation', { identifier: `${SYS}|acc-1.test-0` })) as any[];
    assert.equal(after.length, 1);
    assert.equal(after[0].id, before.id);
    assert.equal(after[0].status, 'corrected');
    assert.notEqual(after[0].meta.versionId, before.meta.versionId);
    assert.equal((await server.countByType()).Observation, 10);
  });

  test('plain GET search by identifier and with _count', async () => {
    await call('POST', '', labBundle({ results: 3 }));
    const one = await call('GET', `/Observation?identifier=${encodeURIComponent(`${SYS}|acc-1.test-1`)}`);
    assert.equal(one.status, 200);
    assert.equal(one.json.type, 'searchset');
    assert.equal(one.json.entry.length, 1);
    const all = await call('GET', '/Observation?_count=1000');
    assert.equal(all.json.entry.length, 3);
    const read = await call('GET', `/Observation/${one.json.entry[0].resource.id}`);
    assert.equal(read.status, 200);
    assert.equal(read.json.identifier[0].value, 'acc-1.test-1');
    assert.equal((await call('GET', '/Observation/nope')).status, 404);
    assert.equal((await call('GET', '/../other')).status, 404);
  });

  test('an invalid resource fails the request with 400 + OperationOutcome and is recorded', async () => {
    const bundle = labBundle({ results: 2 });
    delete bundle.entry[2].resource.status;
    const res = await call('POST', '', bundle);
    assert.equal(res.status, 400);
    assert.equal(res.json.resourceType, 'OperationOutcome');
    assert.ok(res.json.issue.some((i: any) => /status/.test(i.details.text)));
    assert.equal(server.validationErrors.length, 1);
    assert.equal(server.validationErrors[0]!.resourceType, 'Bundle');
    assert.deepEqual(await server.countByType(), {});
    const single = await call('POST', '/Patient', { resourceType: 'Patient', bogus: true });
    assert.equal(single.status, 400);
    assert.equal(server.validationErrors.length, 2);
    assert.equal((await call('POST', '', '{not json')).status, 400);
  });

  test('a transaction whose entry fails is rolled back entirely', async () => {
    const bundle = labBundle({ results: 2 });
    // Processed after the creates: an update whose id does not match its URL.
    bundle.entry.push({ resource: { resourceType: 'Patient', id: 'b' }, request: { method: 'PUT', url: 'Patient/a' } });
    const res = await call('POST', '', bundle);
    assert.equal(res.status, 400);
    assert.equal(res.json.resourceType, 'OperationOutcome');
    assert.match(res.json.issue[0].details.text, /Incorrect resource ID/);
    assert.deepEqual(res.json.issue[0].expression, ['Bundle.entry[5]']);
    assert.deepEqual(await server.countByType(), {});
    // The same entries as a batch: each stands alone.
    bundle.type = 'batch';
    const batch = await call('POST', '', bundle);
    assert.equal(batch.status, 200);
    assert.equal(batch.json.type, 'batch-response');
    assert.equal(batch.json.entry.at(-1).response.status, '400');
    assert.deepEqual(await server.countByType(), { DiagnosticReport: 1, Observation: 2, Patient: 1, Specimen: 1 });
  });

  test('injected faults: status with Retry-After, delay, reset before and after commit', async () => {
    server.faults.push({ kind: 'status', status: 503, retryAfter: '2' }, { kind: 'delay', ms: 50 });
    const unavailable = await call('POST', '', labBundle({ results: 1 }));
    assert.equal(unavailable.status, 503);
    assert.equal(unavailable.headers['retry-after'], '2');
    assert.equal(unavailable.json.issue[0].code, 'transient');
    assert.deepEqual(await server.countByType(), {});
    const started = Date.now();
    assert.equal((await call('POST', '', labBundle({ results: 1 }))).status, 200);
    assert.ok(Date.now() - started >= 45);

    server.clear();
    server.faults.push({ kind: 'reset' });
    await assert.rejects(call('POST', '', labBundle({ results: 1 })));
    assert.deepEqual(await server.countByType(), {});
    server.faults.push({ kind: 'reset', afterCommit: true });
    await assert.rejects(call('POST', '', labBundle({ results: 1 })));
    assert.equal((await server.countByType()).Observation, 1);
    assert.deepEqual(
      server.requests.map((r) => [r.method, r.path, r.status, r.fault]),
      [
        ['POST', '/fhir/R4', 0, 'reset'],
        ['POST', '/fhir/R4', 0, 'reset'],
      ],
    );
    assert.equal(server.requests[0]!.clientCn, 'dev-harness');
  });

  test('a client without a certificate is refused during the TLS handshake', async () => {
    const anonymous = new Agent({ connect: { ca: ca.certPem, rejectUnauthorized: true } });
    try {
      await assert.rejects(request(server.url, { dispatcher: anonymous }));
    } finally {
      await anonymous.close();
    }
    assert.equal(server.requests.length, 0);
    assert.deepEqual(server.tlsErrors, ['ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE']);
  });
});
