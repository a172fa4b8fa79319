import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Pool } from 'undici';
import { createDevCa, issueDeviceCert, issueServerCert, type CertAndKey } from '../../provisioning/dev-ca.js';
import { startFhirServer, type FhirTestServer } from '../../test/harness/fhir-server.js';
import { FhirUplinkClient, type FhirUplinkClientOptions, type UplinkResult } from './fhir-client.js';
import { classifyError, errorCodeOf } from './classify.js';
import { isLabedgeError } from '../core/errors.js';

const SYS = 'urn:oid:1.2.3.4.5';
const MRN = 'mrn-7f3a9';
const ca = createDevCa({ commonName: 'uplink test CA' });
const serverCert = issueServerCert(ca, { hostnames: ['localhost'], ips: ['127.0.0.1'] });
const device = issueDeviceCert(ca, { deviceId: 'dev-uplink' });
const otherCa = createDevCa({ commonName: 'not our CA' });

const uuid = (n: number): string => `urn:uuid:00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

function bundle(status = 'final'): object {
  return {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [
      {
        fullUrl: uuid(1),
        resource: { resourceType: 'Patient', identifier: [{ system: SYS, value: MRN }] },
        request: { method: 'POST', url: 'Patient', ifNoneExist: `identifier=${SYS}|${MRN}` },
      },
      {
        fullUrl: uuid(2),
        resource: {
          resourceType: 'Observation',
          identifier: [{ system: SYS, value: 'obs-1' }],
          status,
          code: { text: 'GLU' },
          subject: { reference: uuid(1) },
          valueQuantity: { value: 5.4, unit: 'mmol/L' },
        },
        request: { method: 'PUT', url: `Observation?identifier=${SYS}|obs-1` },
      },
    ],
  };
}

const pick = (r: UplinkResult): [string, string | undefined] => [r.outcome, r.errorCode];

/** A failed attempt never echoes what we sent. */
function assertNoPhi(result: UplinkResult): void {
  assert.equal(JSON.stringify(result).includes(MRN), false);
}

async function withServer<T>(cert: CertAndKey, fn: (server: FhirTestServer) => Promise<T>): Promise<T> {
  const server = await startFhirServer({ ca: ca.certPem, cert: cert.certPem, key: cert.keyPem });
  try {
    return await fn(server);
  } finally {
    await server.close();
  }
}

async function withClient<T>(opts: FhirUplinkClientOptions, fn: (client: FhirUplinkClient) => Promise<T>): Promise<T> {
  const client = new FhirUplinkClient(opts);
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

describe('FhirUplinkClient over mutual TLS', () => {
  let server: FhirTestServer;
  let client: FhirUplinkClient;
  const tls = (): FhirUplinkClientOptions => ({ baseUrl: server.url, ca: ca.certPem, cert: device.certPem, key: device.keyPem });

  before(async () => {
    server = await startFhirServer({ ca: ca.certPem, cert: serverCert.certPem, key: serverCert.keyPem });
    client = new FhirUplinkClient(tls());
  });
  after(async () => {
    await client.close();
    await server.close();
  });
  beforeEach(() => server.clear());

  test('a transaction is delivered; a replay and a correction do not duplicate anything', async () => {
    const first = await client.postBundle(bundle());
    assert.equal(first.outcome, 'ok');
    assert.equal(first.status, 200);
    assert.equal((first.response as any).type, 'transaction-response');
    assert.equal((await client.postBundle(bundle())).outcome, 'ok');
    assert.equal((await client.postBundle(bundle('corrected'))).outcome, 'ok');
    assert.deepEqual(await server.countByType(), { Observation: 1, Patient: 1 });
    const [obs] = (await server.search('Observation', { identifier: `${SYS}|obs-1` })) as any[];
    assert.equal(obs.status, 'corrected');
    assert.deepEqual(server.requests.map((r) => [r.method, r.path, r.status, r.clientCn]), Array(3).fill(['POST', '/fhir/R4', 200, 'dev-uplink']));
  });

  test('a stored transaction is posted as its JSON text, never parsed; any other text goes through the parsed bundle', async () => {
    const neverParsed = (): object => assert.fail('the stored text of a transaction is sent as is');
    assert.equal((await client.postBundleJson(JSON.stringify(bundle()), neverParsed)).outcome, 'ok');
    assert.deepEqual(await server.countByType(), { Observation: 1, Patient: 1 });
    // Keys in another order: not recognisably a transaction as written by the mapping, so parsed (and sent as one).
    const { type, ...rest } = bundle() as { type: string };
    let parsed = 0;
    const reordered = JSON.stringify({ ...rest, type });
    const result = await client.postBundleJson(reordered, () => (parsed++, JSON.parse(reordered) as object));
    assert.deepEqual([result.outcome, parsed], ['ok', 1]);
    assert.deepEqual(await server.countByType(), { Observation: 1, Patient: 1 });
  });

  test('500 is transient', async () => {
    server.faults.push({ kind: 'status', status: 500 });
    const r = await client.postBundle(bundle());
    assert.deepEqual({ outcome: r.outcome, status: r.status, retryAfterMs: r.retryAfterMs }, { outcome: 'transient', status: 500, retryAfterMs: undefined });
    assertNoPhi(r);
    assert.deepEqual(await server.countByType(), {});
  });

  test('503 with Retry-After: 2 is transient with retryAfterMs 2000', async () => {
    server.faults.push({ kind: 'status', status: 503, retryAfter: '2' });
    const r = await client.postBundle(bundle());
    assert.equal(r.outcome, 'transient');
    assert.equal(r.status, 503);
    assert.equal(r.retryAfterMs, 2000);
  });

  test('429 with an HTTP-date Retry-After is transient, delay measured on the injected clock', async () => {
    const now = Date.UTC(2030, 0, 1, 12, 0, 0);
    const clock = { now: () => now, setTimer: () => ({ id: 0 }), clearTimer: () => undefined };
    await withClient({ ...tls(), clock }, async (c) => {
      server.faults.push({ kind: 'status', status: 429, retryAfter: new Date(now + 30_000).toUTCString() });
      const r = await c.postBundle(bundle());
      assert.deepEqual([r.outcome, r.status, r.retryAfterMs], ['transient', 429, 30_000]);
    });
  });

  test('a connection reset mid-request is transient', async () => {
    server.faults.push({ kind: 'reset' });
    const r = await client.postBundle(bundle());
    assert.equal(r.outcome, 'transient');
    assert.equal(r.status, undefined);
    assert.equal(typeof r.errorCode, 'string');
    assertNoPhi(r);
    // The next attempt goes through on a fresh connection.
    assert.equal((await client.postBundle(bundle())).outcome, 'ok');
  });

  test('a server slower than the timeout is transient; the late commit plus the retry still leave one copy', async () => {
    // undici checks header/body timeouts on a coarse (~0.5 s tick) timer, so the margins are wide.
    await withClient({ ...tls(), timeoutMs: 250 }, async (c) => {
      server.faults.push({ kind: 'delay', ms: 1800 });
      const r = await c.postBundle(bundle());
      assert.deepEqual([r.outcome, r.errorCode], ['transient', 'UND_ERR_HEADERS_TIMEOUT']);
      assert.equal((await c.postBundle(bundle())).outcome, 'ok');
      // The slow request is still processed by the server after the client gave up.
      while (server.requests[0]?.status === 0) await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(server.requests[0]?.status, 200);
      assert.deepEqual(await server.countByType(), { Observation: 1, Patient: 1 });
    });
  });

  test('422 with an OperationOutcome is rejected; so is a bundle the server finds invalid', async () => {
    const oo = { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'processing', details: { text: 'unknown code system' } }] };
    server.faults.push({ kind: 'status', status: 422, body: oo });
    const r = await client.postBundle(bundle());
    assert.deepEqual([r.outcome, r.status], ['rejected', 422]);
    assert.deepEqual(r.response, oo);

    const invalid = bundle() as any;
    delete invalid.entry[1].resource.status;
    const v = await client.postBundle(invalid);
    assert.deepEqual([v.outcome, v.status], ['rejected', 400]);
    assert.equal((v.response as any).resourceType, 'OperationOutcome');
    assert.equal(server.validationErrors.length, 1);
    assertNoPhi(v);
  });

  test('401 is auth', async () => {
    server.faults.push({ kind: 'status', status: 401 });
    const r = await client.postBundle(bundle());
    assert.deepEqual([r.outcome, r.status], ['auth', 401]);
  });

  test('no client certificate: refused; auth when the alert reaches the client (TLS 1.2), transient on TLS 1.3', async () => {
    // FhirUplinkClient refuses to start without a certificate, so this drives undici with the
    // same TLS settings minus the certificate, and classifies what it throws.
    const attempt = async (maxVersion: 'TLSv1.2' | 'TLSv1.3'): Promise<unknown> => {
      const anonymous = new Pool(new URL(server.url).origin, { connect: { ca: ca.certPem, rejectUnauthorized: true, minVersion: 'TLSv1.2', maxVersion } });
      try {
        return await anonymous.request({ method: 'POST', path: '/fhir/R4', body: '{}' }).then(
          () => assert.fail('the server must refuse an anonymous client'),
          (e: unknown) => e,
        );
      } finally {
        await anonymous.close();
      }
    };
    const tls12 = await attempt('TLSv1.2');
    assert.equal(errorCodeOf(tls12), 'ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE');
    assert.equal(classifyError(tls12), 'auth');
    // TLS 1.3: the client finishes its handshake first; undici sees the close before the
    // "certificate required" alert and reports "other side closed", like a reset.
    // (Should the alert ever win the race, it is auth; either way the data is kept.)
    const tls13 = await attempt('TLSv1.3');
    const expected: Record<string, string> = { UND_ERR_SOCKET: 'transient', ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED: 'auth' };
    assert.equal(classifyError(tls13), expected[errorCodeOf(tls13)], errorCodeOf(tls13));
    assert.equal(server.requests.length, 0);
    assert.deepEqual(server.tlsErrors, ['ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE', 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE']);
    assert.throws(() => new FhirUplinkClient({ ...tls(), cert: '' }), isLabedgeError);
  });

  test('a client certificate from a foreign CA: transient at first, auth once the handshake-phase refusals repeat', async () => {
    const stranger = issueDeviceCert(otherCa, { deviceId: 'dev-stranger' });
    await withClient({ ...tls(), cert: stranger.certPem, key: stranger.keyPem }, async (c) => {
      // A Node TLS server drops the socket after the TLS 1.3 handshake without an alert, so one
      // failure cannot be told from a reset (tls-probe.ts): transient, with the socket error code.
      const first = await c.postBundle(bundle());
      assert.equal(first.outcome, 'transient');
      assert.ok(first.errorCode === 'UND_ERR_SOCKET' || first.errorCode === 'ECONNRESET', first.errorCode);
      assert.equal((await c.postBundle(bundle())).outcome, 'transient');
      // The third refusal in a row, with no HTTP response in between, is the credentials.
      assert.deepEqual(pick(await c.postBundle(bundle())), ['auth', 'TLS_REFUSED_AFTER_HANDSHAKE']);
    });
    assert.equal(server.requests.length, 0);
    assert.ok(server.tlsErrors.length >= 3);
  });

  test('TLS 1.2: a foreign client certificate is refused during the handshake, auth after the same threshold', async () => {
    const stranger = issueDeviceCert(otherCa, { deviceId: 'dev-stranger' });
    const tls12 = await startFhirServer({ ca: ca.certPem, cert: serverCert.certPem, key: serverCert.keyPem, maxVersion: 'TLSv1.2' });
    try {
      await withClient({ ...tls(), baseUrl: tls12.url, cert: stranger.certPem, key: stranger.keyPem, handshakeRefusalThreshold: 2 }, async (c) => {
        assert.equal((await c.postBundle(bundle())).outcome, 'transient');
        assert.deepEqual(pick(await c.postBundle(bundle())), ['auth', 'TLS_REFUSED_AFTER_HANDSHAKE']);
      });
    } finally {
      await tls12.close();
    }
  });

  test('an HTTP response resets the handshake-refusal count', async () => {
    // A reset right after the request on a fresh TLS 1.3 connection looks like a refusal (it
    // may be one); two in a row with no response in between would be auth, one is not.
    await withClient({ ...tls(), handshakeRefusalThreshold: 2 }, async (c) => {
      for (let i = 0; i < 3; i++) {
        assert.equal((await c.postBundle(bundle())).outcome, 'ok');
        server.faults.push({ kind: 'reset' });
        assert.equal((await c.postBundle(bundle())).outcome, 'transient');
      }
    });
  });

  test('every request has an overall deadline, even when the idle timeouts are long', async () => {
    await withClient({ ...tls(), timeoutMs: 10_000, deadlineMs: 300 }, async (c) => {
      server.faults.push({ kind: 'delay', ms: 1500 });
      assert.deepEqual(pick(await c.postBundle(bundle())), ['transient', 'UPLINK_DEADLINE_EXCEEDED']);
    });
  });

  test('a server certificate signed by another CA is auth', async () => {
    await withServer(issueServerCert(otherCa, { hostnames: ['localhost'], ips: ['127.0.0.1'] }), async (rogue) => {
      await withClient({ ...tls(), baseUrl: rogue.url }, async (c) => {
        const r = await c.postBundle(bundle());
        assert.deepEqual([r.outcome, r.errorCode], ['auth', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE']);
      });
      assert.equal(rogue.requests.length, 0);
    });
  });

  test('an expired server certificate is auth', async () => {
    const now = Date.now();
    const expired = issueServerCert(ca, { hostnames: ['localhost'], ips: ['127.0.0.1'], notBefore: new Date(now - 2 * 86_400_000), notAfter: new Date(now - 86_400_000) });
    await withServer(expired, async (stale) => {
      await withClient({ ...tls(), baseUrl: stale.url }, async (c) => {
        const r = await c.postBundle(bundle());
        assert.deepEqual([r.outcome, r.errorCode], ['auth', 'CERT_HAS_EXPIRED']);
      });
    });
  });

  test('a server certificate for another name is auth, unless servername names it', async () => {
    await withServer(issueServerCert(ca, { hostnames: ['fhir.hospital.test'] }), async (named) => {
      await withClient({ ...tls(), baseUrl: named.url }, async (c) => {
        const r = await c.postBundle(bundle());
        assert.deepEqual([r.outcome, r.errorCode], ['auth', 'ERR_TLS_CERT_ALTNAME_INVALID']);
      });
      await withClient({ ...tls(), baseUrl: named.url, servername: 'fhir.hospital.test' }, async (c) => {
        assert.equal((await c.postBundle(bundle())).outcome, 'ok');
      });
    });
  });

  test('a server that is not there is transient', async () => {
    const gone = await startFhirServer({ ca: ca.certPem, cert: serverCert.certPem, key: serverCert.keyPem });
    const url = gone.url;
    await gone.close();
    await withClient({ ...tls(), baseUrl: url }, async (c) => {
      const r = await c.postBundle(bundle());
      assert.deepEqual([r.outcome, r.errorCode], ['transient', 'ECONNREFUSED']);
    });
  });

  test('bad configuration is refused at construction', () => {
    const base = tls();
    assert.throws(() => new FhirUplinkClient({ ...base, baseUrl: 'http://127.0.0.1/fhir' }), isLabedgeError);
    assert.throws(() => new FhirUplinkClient({ ...base, baseUrl: 'not a url' }), isLabedgeError);
    assert.throws(() => new FhirUplinkClient({ ...base, key: otherCa.keyPem }), isLabedgeError);
    assert.throws(() => new FhirUplinkClient({ ...base, ca: 'garbage' }), isLabedgeError);
    assert.throws(() => new FhirUplinkClient({ ...base, timeoutMs: 0 }), isLabedgeError);
  });
});
