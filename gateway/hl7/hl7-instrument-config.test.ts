import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { parseConfig } from '../config/config.js';
import { hl7Profile } from '../profiles/hl7-profile.js';

const base = (instrument: Record<string, unknown>) => ({
  deviceId: 'box-1',
  uplink: { baseUrl: 'https://fhir.example/r4', caFile: 'ca.pem', certFile: 'd.pem', keyFile: 'd.key' },
  instruments: [{ id: 'hl7-1', protocol: 'hl7', ...instrument }],
});
const FP = 'AB:'.repeat(31) + 'AB';

test('HL7 instruments: MLLP over TLS with pinning, plaintext only by opt-in, serial with framing', () => {
  const tls = parseConfig(base({ transport: { type: 'mllp', port: 2575, tls: { certFile: 's.pem', keyFile: 's.key', caFile: 'ca.pem', pinnedFingerprints: [FP] } } }), '/etc/labedge');
  assert.deepEqual(tls.issues, []);
  const t = tls.config?.instruments[0];
  assert.ok(t && t.protocol === 'hl7' && t.transport.type === 'mllp');
  assert.equal(t.transport.tls?.caFile, '/etc/labedge/ca.pem');
  assert.deepEqual(t.transport.tls?.pinnedFingerprints, ['ab'.repeat(32)]);
  assert.equal(t.transport.host, '0.0.0.0');

  const plain = parseConfig(base({ transport: { type: 'mllp', port: 2575 } }), '/');
  assert.deepEqual(plain.issues.map((i) => i.field), ['instruments[0].transport.tls']);
  const optIn = parseConfig(base({ transport: { type: 'mllp', port: 2575, allowPlaintext: true, release2: true, maxFrameBytes: 1024 } }), '/');
  assert.deepEqual(optIn.issues, []);
  const o = optIn.config?.instruments[0];
  assert.ok(o?.protocol === 'hl7' && o.transport.type === 'mllp' && o.transport.allowPlaintext === true && o.transport.release2 === true);

  const serial = parseConfig(base({ transport: { type: 'serial', path: '/dev/ttyUSB0', framing: 'none', baudRate: 19200 } }), '/');
  assert.deepEqual(serial.issues, []);
  const s = serial.config?.instruments[0];
  assert.ok(s?.protocol === 'hl7' && s.transport.type === 'serial' && s.transport.framing === 'none' && s.transport.baudRate === 19200 && s.transport.dataBits === 8);

  const bad = parseConfig(base({ transport: { type: 'serial', path: '/dev/x', framing: 'stx', parity: 'maybe' } }), '/');
  assert.deepEqual(bad.issues.map((i) => i.field).sort(), ['instruments[0].transport.framing', 'instruments[0].transport.parity']);
  const badPin = parseConfig(base({ transport: { type: 'mllp', port: 1, tls: { certFile: 'a', keyFile: 'b', caFile: 'c', pinnedFingerprints: ['xyz'] } } }), '/');
  assert.deepEqual(badPin.issues.map((i) => i.field), ['instruments[0].transport.tls.pinnedFingerprints']);
  const tcp = parseConfig(base({ transport: { type: 'tcp', port: 1 } }), '/');
  assert.deepEqual(tcp.issues.map((i) => i.field), ['instruments[0].transport.type']);
});

test('HL7 device profiles: a named profile, overrides on top, and every bad field reported at once', () => {
  const mllp = { type: 'mllp', port: 2575, allowPlaintext: true };
  const urit = parseConfig(base({ profile: 'urit-5160', transport: mllp }), '/');
  assert.deepEqual(urit.issues, []);
  const u = urit.config?.instruments[0];
  assert.ok(u?.protocol === 'hl7');
  assert.deepEqual(hl7Profile(u), { unitsAsText: true });
  const tuned = parseConfig(base({ profile: 'radiometer-abl', overrides: { placeholderReason: 'not-performed', crOnly: true }, transport: mllp }), '/');
  assert.deepEqual(tuned.issues, []);
  const t = tuned.config?.instruments[0];
  assert.ok(t?.protocol === 'hl7');
  assert.deepEqual(hl7Profile(t), { numericStrings: true, placeholderReason: 'not-performed', crOnly: true });
  assert.deepEqual(hl7Profile(undefined), {}, 'generic: every quirk off');
  const bad = parseConfig(base({ profile: 'sysmex-xn', overrides: { unitsAsText: 'yes', placeholderReason: 'never', decimalMark: ',' }, transport: mllp }), '/');
  assert.deepEqual(bad.issues.map((i) => i.field).sort(), [
    'instruments[0].overrides.decimalMark',
    'instruments[0].overrides.placeholderReason',
    'instruments[0].overrides.unitsAsText',
    'instruments[0].profile',
  ]);
});
