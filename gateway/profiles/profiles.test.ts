import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { fixturePath, unescapeWire } from '../../test/harness/astm-fixtures.js';
import { parseConfig } from '../config/config.js';
import { splitMessages } from '../astm/message.js';
import { CATALOG, findProfile } from './catalog.js';
import { adapterNames, findAdapter } from './adapters/registry.js';
import { convertAstmInbound } from './astm-inbound.js';
import { instrumentProfile } from './instrument-profile.js';
import { applyRecordFixes, prepareInbound } from './prepare-inbound.js';
import { parseProfileOverrides, resolveProfile } from './resolve.js';

const payload = (name: string) => unescapeWire(readFileSync(fixturePath(name), 'latin1').trim());

test('the catalog: unique names, frozen, adapters that exist, sane limits', () => {
  const names = CATALOG.map((p) => p.name);
  assert.equal(new Set(names).size, names.length);
  for (const p of CATALOG) {
    assert.ok(Object.isFrozen(p), p.name);
    if (p.payloadAdapter !== undefined) assert.ok(findAdapter(p.payloadAdapter), p.name);
    assert.ok(p.maxTextPerFrame <= 240 && p.maxFrameBytes >= 247, p.name);
    assert.ok(p.query.lookupTimeoutMs < p.query.deadlineMs, p.name);
    for (const entry of Object.values(p.codes)) if (entry.loinc !== undefined) assert.match(entry.loinc, /^\d{1,7}-\d$/);
  }
  assert.equal(resolveProfile(undefined).name, 'generic', 'no profile: generic (existing configs keep working)');
  assert.equal(resolveProfile('no-such').name, 'generic');
});

test('overrides merge into the named profile: scalars replace, tables and sub-objects merge', () => {
  const p = resolveProfile('sysmex-xn', { maxTextPerFrame: 64, codes: { XYZ: { loinc: '1234-5' } }, query: { deadlineMs: 8000 }, framing: 'auto' });
  assert.equal(p.name, 'sysmex-xn');
  assert.equal(p.maxTextPerFrame, 64);
  assert.equal(p.framing, 'auto');
  assert.equal(p.codes.WBC?.loinc, '6690-2', 'profile codes kept');
  assert.equal(p.codes.XYZ?.loinc, '1234-5');
  assert.equal(p.query.deadlineMs, 8000);
  assert.equal(p.query.reply, 'lis02a2');
  assert.equal(findProfile('sysmex-xn')?.maxTextPerFrame, 240, 'the catalog entry is untouched');
});

test('override validation reports every problem with its path', () => {
  const { issues } = parseProfileOverrides(
    { framing: 'x', maxTextPerFrame: 0, query: { reply: 'y', deadlineMs: 1 }, specimenId: { field: 0 }, payloadAdapter: 'nope', bogus: 1, codes: { A: { loinc: 5 } } },
    'instruments[0].overrides',
  );
  assert.deepEqual(issues.map((i) => i.field).sort(), [
    'instruments[0].overrides.bogus',
    'instruments[0].overrides.codes.A',
    'instruments[0].overrides.framing',
    'instruments[0].overrides.maxTextPerFrame',
    'instruments[0].overrides.payloadAdapter',
    'instruments[0].overrides.query.deadlineMs',
    'instruments[0].overrides.query.reply',
    'instruments[0].overrides.specimenId',
  ]);
  assert.ok(adapterNames().includes('spotchem-el'));
});

test('config: `profile` and `overrides` per instrument, defaults untouched, bad names refused', () => {
  const base = { deviceId: 'd', uplink: { baseUrl: 'https://x', caFile: 'a', certFile: 'b', keyFile: 'c' } };
  const ok = parseConfig(
    {
      ...base,
      instruments: [
        { id: 'a', transport: { type: 'serial', path: '/dev/x' } },
        { id: 'b', profile: 'roche-cobas-e411', overrides: { query: { deadlineMs: 9000 } }, encoding: 'latin1', transport: { type: 'tcp', host: '10.0.0.5', port: 4000, role: 'client' } },
      ],
    },
    '/',
  );
  assert.deepEqual(ok.issues, []);
  const [a, b] = ok.config?.instruments ?? [];
  assert.equal(a?.protocol === 'astm' ? instrumentProfile(a).name : '', 'generic');
  assert.ok(b?.protocol === 'astm');
  if (b?.protocol === 'astm') {
    assert.equal(b.profile, 'roche-cobas-e411');
    assert.deepEqual(b.transport, { type: 'tcp', host: '10.0.0.5', port: 4000, role: 'client' });
    const p = instrumentProfile(b);
    assert.equal(p.query.deadlineMs, 9000);
    assert.equal(p.query.reply, 'roche');
    assert.equal(p.encoding, 'latin1', 'the instrument\'s own encoding wins over the profile');
  }
  const bad = parseConfig({ ...base, instruments: [{ id: 'c', profile: 'sysmex-xx', overrides: { framing: 'serial' }, transport: { type: 'tcp', port: 1, role: 'peer' } }] }, '/');
  assert.deepEqual(bad.issues.map((i) => i.field).sort(), ['instruments[0].overrides.framing', 'instruments[0].profile', 'instruments[0].transport.role']);
});

test('record fixes: the DxH extra empty field after R.5 is removed, non-empty fields never', () => {
  const fixes = [{ record: 'R', dropEmptyFieldAfter: 5 }];
  const dxh = 'H|\\!~\rR|4|!!!HGB!718-7|146!  H |g/L||109 to 143|A||F||SYSTEM||20211028082826|AY52686\rR|5|!!!X|1|g/L|kept|A\rL|1|N';
  const out = applyRecordFixes(dxh, fixes);
  assert.equal(out.text.split('\r')[1], 'R|4|!!!HGB!718-7|146!  H |g/L|109 to 143|A||F||SYSTEM||20211028082826|AY52686');
  assert.equal(out.text.split('\r')[2], 'R|5|!!!X|1|g/L|kept|A');
  assert.deepEqual(out.warnings, ['R.6: extra empty field removed by the instrument profile']);
  // Vendor field delimiters are taken from the H record.
  assert.equal(applyRecordFixes('H#\\^&\rR#1#X#1#u##r', fixes).text, 'H#\\^&\rR#1#X#1#u#r');
});

test('Q9 adapters read their corpus payloads; anything else is refused, never misread', () => {
  const spot = findAdapter('spotchem-el')!;
  const vidas = findAdapter('mini-vidas')!;
  const s = payload('senaite-arkray-spotchem-el-raw.astm');
  const v = payload('senaite-biomerieux-minividas-raw.astm');
  assert.ok(spot.matches(s) && spot.isComplete(s) && !vidas.matches(s));
  assert.ok(vidas.matches(v) && vidas.isComplete(v) && !spot.matches(v));
  assert.equal(spot.toRecords(s)?.text.split('\r')[3], 'R|1|^^^Na|131|mmol/L||||F||||20241029130800');
  assert.equal(vidas.toRecords(v)?.text.split('\r')[3], 'R|1|^^^HBCT|0.05|||||F||||20241025183500');
  const broken = Buffer.from(v);
  broken[10] = 0x41; // checksum no longer matches
  assert.equal(vidas.matches(broken), false);
  assert.equal(vidas.toRecords(broken), undefined);
});

test('property: adapter output is always well-formed records, whatever the payload says', () => {
  const spot = findAdapter('spotchem-el')!;
  fc.assert(
    fc.property(fc.string({ maxLength: 12 }), fc.string({ maxLength: 8 }), fc.string({ maxLength: 6 }), (id, type, analyte) => {
      const clean = (x: string) => x.replace(/[\p{Cc}\]\s]/gu, '') || 'x';
      const text = `\x0224/10/29 13:08 ID# ${clean(id)} [${clean(type)}] ${clean(analyte).replace(/^[^A-Za-z]/, 'A')} 5 mmol/L\x03`;
      const out = spot.toRecords(Buffer.from(text, 'latin1'));
      if (out === undefined) return;
      const [m] = splitMessages(out.text);
      assert.deepEqual(m?.records.filter((r) => r.type !== 'R').map((r) => r.type), ['H', 'P', 'O', 'L'], 'nothing forged by the payload');
      assert.ok((m?.records.length ?? 0) <= 5);
      assert.equal(m?.patients[0]?.orders[0]?.record?.field(3), clean(id));
    }),
    { numRuns: 300 },
  );
});

test('prepareInbound: unknown and unreadable payloads are rejections with reasons, not exceptions', () => {
  const generic = resolveProfile('generic');
  assert.deepEqual(prepareInbound(Buffer.from('\x02whatever text\x03'), { framing: 'foreign', adapter: '' }, generic).kind, 'reject');
  const unknown = prepareInbound(Buffer.from('x'), { framing: 'foreign', adapter: '' }, generic);
  assert.equal(unknown.kind === 'reject' && unknown.reasonCode, 'unknown-payload');
  const unreadable = prepareInbound(Buffer.from('\x02no date\x03'), { framing: 'foreign', adapter: 'spotchem-el' }, generic);
  assert.equal(unreadable.kind === 'reject' && unreadable.reasonCode, 'unreadable-payload');
});

test('convertAstmInbound: a query-only message needs no delivery; results map with the profile', () => {
  const q = convertAstmInbound({ sourceId: 'c1', raw: Buffer.from('H|\\^&\rQ|1|^^S1||ALL||||||||O\rL|1|N\r') }, { profile: 'roche-cobas-e411', encoding: 'auto', timeZone: 'UTC' }, 'm1');
  assert.deepEqual(q, { kind: 'query', queries: 1 });
  const r = convertAstmInbound({ sourceId: 'c1', raw: Buffer.from('H|\\^&\rP|1|X\rO|1|S1||^^^8^1\rR|1|^^^8/1/not|1.95|uIU/ml||N||F\rL|1|N\r') }, { profile: 'roche-cobas-e411', encoding: 'auto', timeZone: 'UTC' }, 'm2');
  assert.equal(r.kind, 'mapped');
  if (r.kind === 'mapped') {
    const obs = r.result.bundle.entry?.find((e) => e.resource?.resourceType === 'Observation')?.resource as { identifier?: { value?: string }[]; valueQuantity?: { code?: string } };
    assert.equal(obs.identifier?.[0]?.value, 'S1/8', 'result keyed by specimen and the profile\'s test code');
    assert.equal(obs.valueQuantity?.code, 'u[IU]/mL');
  }
});
