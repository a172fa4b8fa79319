/**
 * SMART Backend Services against a harness token endpoint (test/harness/smart-token-server.ts,
 * which checks the assertion independently) and the mutual-TLS FHIR harness with a bearer check.
 */
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { createDevCa, issueDeviceCert, issueServerCert } from '../../provisioning/dev-ca.js';
import { startFhirServer, type FhirTestServer } from '../../test/harness/fhir-server.js';
import { startSmartTokenServer, type SmartTokenServer } from '../../test/harness/smart-token-server.js';
import { FakeClock } from '../core/clock.js';
import { isLabedgeError } from '../core/errors.js';
import { FhirUplinkClient, type FhirUplinkClientOptions } from './fhir-client.js';
import { jwkThumbprint } from './jwt.js';
import { DEFAULT_SMART_SCOPES, SmartTokenSource } from './smart-auth.js';

const ca = createDevCa({ commonName: 'smart test CA' });
const serverCert = issueServerCert(ca, { hostnames: ['localhost'], ips: ['127.0.0.1'] });
const device = issueDeviceCert(ca, { deviceId: 'dev-smart' });
const deviceKey = createPrivateKey(device.keyPem);
const CLIENT_ID = 'labedge-dev-smart';
const bundle = { resourceType: 'Bundle', type: 'transaction', entry: [{ fullUrl: 'urn:uuid:9a1b5c2e-0000-4000-8000-000000000001', resource: { resourceType: 'Device', identifier: [{ system: 'urn:x', value: 'd' }] }, request: { method: 'POST', url: 'Device', ifNoneExist: 'identifier=urn:x|d' } }] };

describe('SMART Backend Services', () => {
  let clock: FakeClock;
  let tokens: SmartTokenServer;
  let fhir: FhirTestServer;
  let discovery: Record<string, unknown>;
  let accept = true;
  let other: SmartTokenServer | undefined;
  const clients: FhirUplinkClient[] = [];
  const client = (smart: Partial<NonNullable<FhirUplinkClientOptions['smart']>> = {}): FhirUplinkClient => {
    const c = new FhirUplinkClient({ baseUrl: fhir.url, ca: ca.certPem, cert: device.certPem, key: device.keyPem, clock, smart: { clientId: CLIENT_ID, key: deviceKey, ...smart } });
    clients.push(c);
    return c;
  };
  const posts = (): number => fhir.requests.filter((r) => r.method === 'POST').length;

  before(async () => {
    clock = new FakeClock();
    tokens = await startSmartTokenServer({
      cert: serverCert.certPem, key: serverCert.keyPem, ca: ca.certPem,
      clientId: CLIENT_ID, publicKey: device.certPem, kid: jwkThumbprint(deviceKey),
      allowedScopes: [...DEFAULT_SMART_SCOPES], tokenLifetimeSec: 300, now: () => clock.now(),
    });
    discovery = {
      token_endpoint: tokens.tokenUrl,
      grant_types_supported: ['client_credentials'],
      token_endpoint_auth_methods_supported: ['private_key_jwt'],
      token_endpoint_auth_signing_alg_values_supported: ['RS384', 'ES384'],
      capabilities: ['client-confidential-asymmetric', 'permission-v2'],
    };
    fhir = await startFhirServer({ ca: ca.certPem, cert: serverCert.certPem, key: serverCert.keyPem, authorize: (h) => accept && (tokens.isValid(h) || other?.isValid(h) === true), smartConfiguration: discovery });
  });
  after(async () => {
    for (const c of clients) await c.close();
    await fhir.close();
    await tokens.close();
  });
  beforeEach(() => {
    fhir.clear();
    tokens.requests.length = 0;
    accept = true;
    clock.advance(Date.now() - clock.now());
  });

  test('discovers the token endpoint, sends a valid RS384 assertion for the narrowest scopes, and delivers with the token', async () => {
    const c = client();
    assert.equal((await c.postBundle(bundle)).outcome, 'ok');
    assert.deepEqual(fhir.requests.map((r) => [r.method, r.path, r.status]), [['GET', '/fhir/R4/.well-known/smart-configuration', 200], ['POST', '/fhir/R4', 200]]);
    const [req] = tokens.requests;
    assert.equal(req?.status, 200, req?.error);
    assert.deepEqual(req?.scopes, ['system/Observation.cu', 'system/DiagnosticReport.cu', 'system/Specimen.cu', 'system/Patient.cu', 'system/Device.cu', 'system/ServiceRequest.cu', 'system/Provenance.c']);
    assert.deepEqual(req?.header, { alg: 'RS384', typ: 'JWT', kid: jwkThumbprint(deviceKey) });
    const claims = req?.claims as Record<string, number | string>;
    assert.equal(claims.iss, CLIENT_ID);
    assert.equal(claims.sub, CLIENT_ID);
    assert.equal(claims.aud, tokens.tokenUrl);
    assert.ok(Number(claims.exp) - Number(claims.iat) <= 300 && Number(claims.exp) > clock.now() / 1000);
    assert.match(String(claims.jti), /^[0-9a-f-]{36}$/);
  });

  test('caches the token until shortly before it expires, then fetches a new one (new jti)', async () => {
    const c = client();
    for (let i = 0; i < 4; i++) assert.equal((await c.postBundle(bundle)).outcome, 'ok');
    assert.equal(tokens.requests.length, 1);
    clock.advance(239_000);
    assert.equal((await c.postBundle(bundle)).outcome, 'ok');
    assert.equal(tokens.requests.length, 1, 'still fresh');
    clock.advance(2_000); // within the last 20% (60 s) of a 300 s token
    assert.equal((await c.postBundle(bundle)).outcome, 'ok');
    assert.equal(tokens.requests.length, 2);
    assert.notEqual(tokens.requests[0]?.claims?.jti, tokens.requests[1]?.claims?.jti);
  });

  test('a 401 refreshes the token once and repeats the request; a second 401 is auth', async () => {
    const c = client();
    assert.equal((await c.postBundle(bundle)).outcome, 'ok');
    tokens.revokeAll(); // the server forgot our token before it expired
    assert.equal((await c.postBundle(bundle)).outcome, 'ok');
    assert.equal(tokens.requests.length, 2);
    assert.deepEqual(fhir.requests.filter((r) => r.method === 'POST').map((r) => r.status), [200, 401, 200]);
    accept = false;
    const r = await c.postBundle(bundle);
    assert.deepEqual([r.outcome, r.status], ['auth', 401]);
    assert.equal(tokens.requests.length, 3, 'refreshed exactly once');
    assert.equal(posts(), 5);
  });

  test('a scope the server does not allow, or a key it does not know, is auth and nothing is posted', async () => {
    const wide = await client({ scopes: ['system/*.cruds'], tokenUrl: tokens.tokenUrl }).postBundle(bundle);
    assert.deepEqual([wide.outcome, wide.status, wide.errorCode], ['auth', 400, 'smart-token-invalid_scope']);
    const stranger = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const forged = await client({ key: stranger, keyId: jwkThumbprint(deviceKey), tokenUrl: tokens.tokenUrl }).postBundle(bundle);
    assert.deepEqual([forged.outcome, forged.errorCode], ['auth', 'smart-token-invalid_client']);
    assert.match(tokens.requests[1]?.error ?? '', /bad signature/);
    assert.equal(posts(), 0);
  });

  test('signs ES384 with a separate P-384 key', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
    const es = await startSmartTokenServer({ cert: serverCert.certPem, key: serverCert.keyPem, ca: ca.certPem, clientId: CLIENT_ID, publicKey: createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }).toString(), allowedScopes: ['system/Device.cu'], now: () => clock.now() });
    try {
      other = es;
      const r = await client({ key: privateKey, tokenUrl: es.tokenUrl, scopes: ['system/Device.cu'] }).postBundle(bundle);
      assert.equal(r.outcome, 'ok');
      assert.equal(es.requests[0]?.header?.alg, 'ES384');
      assert.equal(es.requests[0]?.status, 200, es.requests[0]?.error);
    } finally {
      other = undefined;
      await es.close();
    }
  });

  test('a discovery document without private_key_jwt is auth (a configuration problem, not the data)', async () => {
    const saved = discovery.token_endpoint_auth_methods_supported;
    discovery.token_endpoint_auth_methods_supported = ['client_secret_basic'];
    try {
      const r = await client().postBundle(bundle);
      assert.deepEqual([r.outcome, r.errorCode], ['auth', 'smart-discovery-no-private-key-jwt']);
    } finally {
      discovery.token_endpoint_auth_methods_supported = saved;
    }
  });

  test('refuses assertion lifetimes over 5 minutes and non-https endpoints at construction', () => {
    const base = { clientId: 'c', discoveryUrl: 'https://x.example/.well-known/smart-configuration', key: deviceKey, clock, http: () => Promise.reject(new Error('no')) };
    assert.throws(() => new SmartTokenSource({ ...base, assertionLifetimeMs: 301_000 }), isLabedgeError);
    assert.throws(() => new SmartTokenSource({ ...base, tokenUrl: 'http://x.example/token' }), isLabedgeError);
    assert.throws(() => new SmartTokenSource({ ...base, scopes: [] }), isLabedgeError);
  });
});
