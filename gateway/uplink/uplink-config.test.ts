import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../config/config.js';

const config = (uplink: Record<string, unknown>): unknown => ({
  deviceId: 'box-1',
  timeZone: 'UTC',
  instruments: [],
  uplink: { baseUrl: 'https://fhir.example/R4', caFile: 'ca.pem', certFile: 'device.pem', keyFile: 'device.key', ...uplink },
});
const fields = (r: ReturnType<typeof parseConfig>): string[] => r.issues.map((i) => i.field);

test('uplink defaults: transaction bundles, 8 in flight, pinned CA only, a 30 s timeout, no SMART', () => {
  const { config: c, issues } = parseConfig(config({}), '/etc/labedge');
  assert.deepEqual(issues, []);
  assert.deepEqual(
    { bundleType: c?.uplink.bundleType, maxInFlight: c?.uplink.maxInFlight, trust: c?.uplink.trustSystemCas, timeoutMs: c?.uplink.timeoutMs, smart: c?.uplink.smart, caFile: c?.uplink.caFile },
    { bundleType: 'transaction', maxInFlight: 8, trust: false, timeoutMs: 30_000, smart: undefined, caFile: '/etc/labedge/ca.pem' },
  );
});

test('the CA file may be left out only when the system roots are trusted explicitly', () => {
  assert.deepEqual(fields(parseConfig(config({ caFile: undefined }), '/')), ['uplink.caFile']);
  const r = parseConfig(config({ caFile: undefined, trustSystemCas: true }), '/');
  assert.deepEqual(r.issues, []);
  assert.equal(r.config?.uplink.caFile, '');
});

test('bad uplink settings are all reported in one pass, by field', () => {
  const r = parseConfig(config({ baseUrl: 'http://fhir.example', bundleType: 'message', maxInFlight: 0, trustSystemCas: 'yes', timeoutMs: 0 }), '/');
  assert.deepEqual(fields(r).sort(), ['uplink.baseUrl', 'uplink.bundleType', 'uplink.maxInFlight', 'uplink.timeoutMs', 'uplink.trustSystemCas']);
  assert.equal(r.config, undefined);
});

test('SMART: client id required, https endpoints only, token URL or discovery (not both), scopes and key file', () => {
  const ok = parseConfig(config({ bundleType: 'batch', smart: { clientId: 'labedge-1', discovery: 'https://auth.example/.well-known/smart-configuration', scopes: ['system/Observation.cu'], keyFile: 'smart.key', keyId: 'k1' } }), '/etc/labedge');
  assert.deepEqual(ok.issues, []);
  assert.deepEqual(ok.config?.uplink.smart, { clientId: 'labedge-1', discovery: 'https://auth.example/.well-known/smart-configuration', scopes: ['system/Observation.cu'], keyFile: '/etc/labedge/smart.key', keyId: 'k1' });
  assert.equal(ok.config?.uplink.bundleType, 'batch');
  const bad = parseConfig(config({ smart: { tokenUrl: 'http://auth.example/token', discovery: 'https://auth.example/x', scopes: ['has space'] } }), '/');
  assert.deepEqual(fields(bad).sort(), ['uplink.smart', 'uplink.smart.clientId', 'uplink.smart.scopes', 'uplink.smart.tokenUrl']);
  assert.deepEqual(fields(parseConfig(config({ smart: 'on' }), '/')), ['uplink.smart']);
});
