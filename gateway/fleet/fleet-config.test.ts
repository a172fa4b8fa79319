import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../config/config.js';
import { checkpointEvent, encodeEvent, storeAlarmEvent, uplinkAlarmEvent } from './fleet-payloads.js';

const config = (extra: Record<string, unknown>): unknown => ({
  deviceId: 'box-1',
  timeZone: 'UTC',
  instruments: [],
  uplink: { baseUrl: 'https://fhir.example/R4', caFile: 'ca.pem', certFile: 'device.pem', keyFile: 'device.key' },
  ...extra,
});
const fields = (r: ReturnType<typeof parseConfig>): string[] => r.issues.map((i) => i.field).sort();

test('fleet is off when absent; when given, the device certificate defaults to the uplink one and paths resolve', () => {
  assert.equal(parseConfig(config({}), '/etc/labedge').config?.fleet, undefined);
  const r = parseConfig(config({ fleet: { brokerUrl: 'mqtts://fleet.example:8883', caFile: 'fleet-ca.pem' } }), '/etc/labedge');
  assert.deepEqual(r.issues, []);
  assert.deepEqual(r.config?.fleet, { brokerUrl: 'mqtts://fleet.example:8883', caFile: '/etc/labedge/fleet-ca.pem', certFile: '/etc/labedge/device.pem', keyFile: '/etc/labedge/device.key', topicPrefix: 'labedge' });
  const own = parseConfig(config({ fleet: { brokerUrl: 'mqtts://fleet.example', caFile: 'ca2.pem', certFile: 'fleet.pem', keyFile: 'fleet.key', topicPrefix: 'site-a/labedge' } }), '/x');
  assert.deepEqual(own.issues, []);
  assert.equal(own.config?.fleet?.certFile, '/x/fleet.pem');
  assert.equal(own.config?.fleet?.topicPrefix, 'site-a/labedge');
});

test('bad fleet settings are all reported in one pass, by field', () => {
  assert.deepEqual(fields(parseConfig(config({ fleet: 'yes' }), '/')), ['fleet']);
  const r = parseConfig(config({ deviceId: 'box/1', fleet: { brokerUrl: 'mqtt://fleet.example:1883', caFile: '', keyFile: 7, topicPrefix: 'labedge/#', retain: true } }), '/');
  assert.deepEqual(fields(r), ['deviceId', 'fleet.brokerUrl', 'fleet.caFile', 'fleet.keyFile', 'fleet.retain', 'fleet.topicPrefix']);
  assert.equal(r.config, undefined);
});

test('payload builders keep whitelisted fields only and refuse values that are not codes', () => {
  const smuggled = { kind: 'auth', active: true, code: 'Zzcanaryfam Quentessa', status: 401, detail: 'CANARY-PID-93817' } as Parameters<typeof uplinkAlarmEvent>[0];
  assert.deepEqual(uplinkAlarmEvent(smuggled), { type: 'uplink-alarm', kind: 'auth', active: true, status: 401 });
  assert.equal(uplinkAlarmEvent({ kind: 'other', active: true }), undefined);
  assert.equal(storeAlarmEvent({ code: 'LABEDGE_ERR_STORE_FULL', severity: 'fatal', cleared: false }), undefined);
  const text = encodeEvent(storeAlarmEvent({ code: 'X', severity: 'info', cleared: true, message: 'CANSPEC-55121' } as Parameters<typeof storeAlarmEvent>[0])!, 5).toString();
  assert.equal(text, '{"v":1,"at":5,"type":"store-alarm","code":"X","severity":"info","cleared":true}');
  const cp = { v: 1 as const, deviceId: 'box-1', seq: 3, hash: 'a'.repeat(64), time: 9, alg: 'sha256', publicKey: 'AAAA', signature: 'BBBB' };
  assert.deepEqual(checkpointEvent({ ...cp, note: 'Canarystrasse' } as typeof cp), { type: 'audit-checkpoint', checkpoint: cp });
  assert.equal(checkpointEvent({ ...cp, hash: 'not a hash' }), undefined);
});
