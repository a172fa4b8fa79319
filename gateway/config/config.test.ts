import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from './config.js';

const base = {
  deviceId: 'labedge-0042',
  dataDir: '/var/lib/labedge/data',
  uplink: { baseUrl: 'https://fhir.example/R4', caFile: '/etc/labedge/ca.pem', certFile: '/etc/labedge/device.pem', keyFile: '/etc/labedge/device.key' },
  instruments: [],
};
const problems = (raw: object): string[] => parseConfig(raw, '/etc/labedge').issues.map((i) => `${i.field}: ${i.message}`);

test('the key file must be outside the whole data directory (a copied data directory reveals nothing)', () => {
  for (const keyFile of ['/var/lib/labedge/data/kek', '/var/lib/labedge/data/store/kek', '/var/lib/labedge/data']) {
    assert.deepEqual(problems({ ...base, keyFile }), ['keyFile: must be outside dataDir: a copied data directory must reveal nothing'], keyFile);
  }
  for (const keyFile of ['/var/lib/labedge/data-keys/kek', '/etc/labedge/kek', 'kek']) assert.deepEqual(problems({ ...base, keyFile }), [], keyFile);
  assert.deepEqual(problems(base), [], 'the default, <dataDir>-keys/kek, is outside');
});

test('a misspelt setting is an error with its path, not a silent default', () => {
  const serial = { id: 'xp', transport: { type: 'serial', path: '/dev/ttyUSB0', baudrate: 19200 } };
  assert.deepEqual(problems({ ...base, uplnk: {}, instruments: [{ ...serial, protcol: 'astm' }] }), [
    'uplnk: is not a known setting',
    'instruments[0].protcol: is not a known setting',
    'instruments[0].transport.baudrate: is not a known setting',
  ]);
});

test('unknown uplink and SMART settings are errors too', () => {
  const uplink = { ...base.uplink, timeout: 5000, smart: { clientId: 'box', tokenUrl: 'https://auth.example/token', scope: 'system/Observation.cu' } };
  assert.deepEqual(problems({ ...base, uplink }), ['uplink.timeout: is not a known setting', 'uplink.smart.scope: is not a known setting']);
});

test('unknown HL7 transport, TLS and store settings are errors with their paths', () => {
  const mllp = { id: 'lis', protocol: 'hl7', transport: { type: 'mllp', port: 2575, allowPlaintext: true, maxConection: 4, tls: { certFile: 'c', keyFile: 'k', caFile: 'a', pinned: [] } } };
  const serial = { id: 'hl7s', protocol: 'hl7', transport: { type: 'serial', path: '/dev/ttyUSB1', baudrate: 19200 } };
  const store = { maxByte: 1, retention: { deadLetterDay: 120 } };
  assert.deepEqual(problems({ ...base, instruments: [mllp, serial], store }), [
    'instruments[0].transport.maxConection: is not a known setting',
    'instruments[0].transport.tls.pinned: is not a known setting',
    'instruments[1].transport.baudrate: is not a known setting',
    'store.maxByte: is not a known setting',
    'store.retention.deadLetterDay: is not a known setting',
  ]);
});

test('the payload archive gets a quarter of a small store by default, and may not be set to fill it', () => {
  const archive = (store: object): number => parseConfig({ ...base, store }, '/etc/labedge').config?.store?.retention.payloadArchiveMaxBytes ?? -1;
  assert.equal(archive({}), 256 * 1024 * 1024, 'the default store: 256 MiB of 1 GiB');
  assert.equal(archive({ maxBytes: 100_000_000 }), 25_000_000);
  assert.equal(archive({ maxBytes: 1e9, retention: { payloadArchiveMaxBytes: 6e8 } }), 6e8);
  assert.deepEqual(problems({ ...base, store: { maxBytes: 100_000_000, retention: { payloadArchiveMaxBytes: 100_000_000 } } }), [
    'store.retention.payloadArchiveMaxBytes: must be less than store.maxBytes (100000000): the archive alone would fill the store',
  ]);
});

test('an unknown key in an operator entry is an error with its path', () => {
  const operators = [{ name: 'ana', tokenSha256: 'a'.repeat(64), role: 'admin' }];
  assert.deepEqual(problems({ ...base, operators }), ['operators[0].role: is not a known setting']);
});
