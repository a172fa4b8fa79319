/**
 * Every ASTM transcript in test/fixtures/astm, one test each, through the whole intake with its
 * analyzer's instrument profile: bytes → link layer (from .frames whole and split at the .chunks
 * read boundaries; records-only transcripts framed as the instrument's profile says and split at
 * random; non-ASTM payloads through their payload adapter) → message → FHIR R4 transaction Bundle,
 * validated, with concrete codes, values, units and flags asserted per analyzer.
 *
 * Two .chunks files keep pre-anonymisation checksums (see e1381-receiver-fixtures.test.ts): their
 * read boundaries are applied to the .frames bytes, which were re-checksummed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import type { Bundle, Observation, ServiceRequest, Specimen } from '@medplum/fhirtypes';
import { fixturePath, listFixtures, loadChunks, loadFramesBytes, loadRecordsText, unescapeWire } from '../harness/astm-fixtures.js';
import { asLiveSession, decodeWithProfile, localCode, mapLineMessage, observations, renumberFrames, wireFromRecords } from '../harness/astm-transcript-kit.js';
import { splitLike } from '../harness/e1381-kit.js';
import { validateFhirBundle } from '../harness/fhir-validate.js';
import { readHostQueries } from '../../gateway/astm/host-query.js';
import { resolveProfile } from '../../gateway/profiles/resolve.js';
import type { InstrumentProfile } from '../../gateway/profiles/profile-types.js';

interface Check {
  /** Local test code (the labedge test-code coding). */
  code: string;
  /** Which observation with that code (default 1). */
  nth?: number;
  loinc?: string;
  value?: number | string;
  comparator?: string;
  /** Unit as sent, and its UCUM code (null: none). */
  unit?: string;
  ucum?: string | null;
  flags?: string[];
  status?: Observation['status'];
  specimen?: string;
}

interface Expected {
  profile: string;
  messages: number;
  /** Specimen ids of the host queries in the transcript, per Q record. */
  queries?: string[][];
  checks: Check[];
  /** Further assertions on the mapped bundles. */
  also?: (bundles: Bundle[]) => void;
}

const resources = <T>(b: Bundle, type: string): T[] => (b.entry ?? []).map((e) => e.resource).filter((r) => r?.resourceType === type) as T[];

const EXPECTED: Record<string, Expected> = {
  'chistousov-beckman-dxh': {
    profile: 'beckman-dxh',
    messages: 3,
    queries: [['000004287888']],
    checks: [
      { code: 'WBC', loinc: '33256-9', value: 7.4, unit: '10^9/L', ucum: '10*9/L', status: 'final', specimen: '000004287888' },
      { code: 'HGB', loinc: '718-7', value: 146, unit: 'g/L', ucum: 'g/L', flags: ['H', 'A'] },
      { code: 'HCT', loinc: '4544-3', value: 42.2, unit: '%', flags: ['H', 'A'] },
      { code: 'NRBC', loinc: '34200-6', value: 0, unit: '/100WBC', ucum: '/100{WBCs}' },
      { code: '@PCT', value: 0.312, unit: '%' },
    ],
    also: ([, , result]) => {
      const wbc = observations(result as Bundle).find((o) => localCode(o) === 'WBC');
      // The profile removed the extra field after R.5: the range is R.6 again, the status R.9.
      assert.deepEqual(wbc?.referenceRange?.[0]?.low?.value, 3.8);
      assert.equal(wbc?.issued?.startsWith('2021-10-28T08:28:26'), true);
    },
  },
  'epidermis-lis02a2-standard-figures': {
    profile: 'generic',
    messages: 8,
    queries: [['032989325'], ['032989326']],
    checks: [
      { code: 'A1', value: 0.295, specimen: '927529' },
      { code: 'ISE^NA', value: 139, unit: 'mEq/L', ucum: 'meq/L' },
      { code: 'AM^MIC', value: 16, comparator: '>' },
    ],
  },
  'goastm-biorad-ihcom-ih1000': {
    profile: 'biorad-ih1000',
    messages: 1,
    checks: [
      { code: 'AntiA', value: 40, status: 'final', specimen: '1122206642' },
      { code: 'Result', value: 'A^NEG^NEG^ccee^K-^NEG', status: 'preliminary' },
    ],
  },
  'goastm-euroimmun-analyzer1': {
    profile: 'euroimmun-analyzer1',
    messages: 1,
    checks: [
      { code: 'SARSCOV2IGA', value: 8, comparator: '>', unit: 'Ratio', ucum: null, status: 'unknown' },
      { code: 'SARSCOV2IGA', nth: 2, value: 7.41, unit: 'Ratio' },
    ],
    also: ([b]) => assert.equal(resources(b as Bundle, 'Patient').length, 20, 'one Patient per P'),
  },
  'goastm-horiba-yumizen-h550': {
    profile: 'horiba-yumizen',
    messages: 1,
    checks: [{ code: 'MCV', loinc: '787-2', value: 78.4, unit: 'um3', ucum: 'um3', flags: ['N'], specimen: 'PX449L' }],
    also: ([b]) => {
      const mcv = observations(b as Bundle).find((o) => localCode(o) === 'MCV');
      assert.equal(mcv?.referenceRange?.[0]?.high?.value, 83.5);
      assert.equal(mcv?.meta?.tag?.[0]?.code, 'Q', 'QC results are tagged (H.12 = Q)');
    },
  },
  'goastm-immucor-galileo-order': {
    profile: 'immucor-galileo',
    messages: 1,
    checks: [],
    also: ([b]) => {
      const sr = resources<ServiceRequest>(b as Bundle, 'ServiceRequest');
      assert.equal(sr.length, 1);
      assert.equal(sr[0]?.code?.coding?.[0]?.code, 'Crossmatch');
    },
  },
  'goastm-immucor-galileo-result': {
    profile: 'immucor-galileo',
    messages: 1,
    checks: [
      { code: 'Anti-B', value: '3+^3+^45', status: 'final', specimen: '0651439A' },
      { code: 'ABOD Full Interp', value: 'B Pos' },
      { code: 'Screen Interp', value: 'Pos' },
    ],
  },
  'manual-roche-cobas-e411-hostquery-reply': {
    profile: 'roche-cobas-e411',
    messages: 4,
    queries: [['000004'], ['000004']],
    checks: [],
    also: (bundles) => assert.deepEqual(bundles.map((b) => resources<Specimen>(b, 'Specimen').map((s) => s.identifier?.[0]?.value)), [[], ['000004'], ['000004'], []]),
  },
  'rubyastm-erba-em200-query': { profile: 'erba-em200', messages: 2, queries: [['0000000406', '00001001'], ['010520182']], checks: [] },
  'rubyastm-erba-em200': {
    profile: 'erba-em200',
    messages: 2,
    checks: [
      { code: 'GLU', loinc: '2345-7', value: 115.5, unit: 'mg/dl', ucum: 'mg/dl', flags: ['H'], status: 'final' },
      { code: 'CRE', loinc: '2160-0', value: 0.75, flags: ['N'] },
    ],
    // Both messages say P|1|0: a placeholder, no identity, so no Patient (else one for two people).
    also: (bundles) => assert.deepEqual(bundles.map((b) => resources(b, 'Patient').length), [0, 0]),
  },
  'rubyastm-roche-cobas-e411-etb-in-terminator': {
    profile: 'roche-cobas-e411',
    messages: 1,
    checks: [{ code: '5', value: '-1^0.325', flags: ['N'], specimen: 'SMPLNAME' }],
  },
  'rubyastm-roche-cobas-e411-etb-midfield': {
    profile: 'roche-cobas-e411',
    messages: 1,
    checks: [
      { code: '8', value: 1.95, unit: 'uIU/ml', ucum: 'u[IU]/mL', flags: ['N'], specimen: 'SMPL00001' },
      { code: '3', value: 3, comparator: '<', unit: 'ng/ml', flags: ['LL'] },
      { code: '1', value: 141.3, unit: 'pg/ml' },
    ],
    also: ([b]) => {
      // The order O.5 codes (`^^^8^1`) and the result codes (`8/1/not`) agree under the profile.
      const report = resources<{ code: { text?: string } }>(b as Bundle, 'DiagnosticReport');
      assert.equal(report.length, 1);
    },
  },
  'rubyastm-roche-cobas-e411-fragmented-reads': {
    profile: 'roche-cobas-e411',
    messages: 1,
    checks: [{ code: '1', value: 223.1, unit: 'pg/ml', specimen: 'SMPL00002' }],
  },
  'rubyastm-roche-cobas-e411-hostquery': { profile: 'roche-cobas-e411', messages: 1, queries: [['0000000387']], checks: [] },
  'rubyastm-stago-sta-satellite-max': {
    profile: 'stago-sta',
    messages: 1,
    checks: [
      { code: 'SPT', loinc: '5902-2', value: 14.02, unit: 'S', ucum: 's', specimen: '000004782' },
      { code: 'SINR', loinc: '6301-6', value: 1.02, unit: 'INR ISI', ucum: '{INR}' },
      { code: 'SAPTT', loinc: '14979-9', value: 31.93, ucum: 's' },
    ],
  },
  'rubyastm-sysmex-xn550': {
    profile: 'sysmex-xn',
    messages: 1,
    checks: [
      { code: 'WBC', loinc: '6690-2', value: 16.74, unit: '10*3/uL', ucum: '10*3/uL', flags: ['N'], status: 'final' },
      { code: 'PLT', loinc: '777-3', value: 586 },
    ],
  },
  'senaite-abbott-afinion2': {
    profile: 'abbott-afinion2',
    messages: 1,
    checks: [{ code: 'HbA1c', loinc: '4548-4', value: 5.9, unit: '%', ucum: '%', status: 'final' }],
  },
  'senaite-arkray-spotchem-el-raw': {
    profile: 'arkray-spotchem-el',
    messages: 1,
    checks: [
      { code: 'Na', loinc: '2951-2', value: 131, unit: 'mmol/L', ucum: 'mmol/L', specimen: '1DC042FP', status: 'final' },
      { code: 'K', loinc: '2823-3', value: 9.7, unit: 'mmol/L' },
      { code: 'Cl', loinc: '2075-0', value: 96 },
    ],
    also: ([b]) => assert.equal(resources<Specimen>(b as Bundle, 'Specimen')[0]?.type?.text, 'B. Plasma'),
  },
  'senaite-biomerieux-minividas-raw': {
    profile: 'biomerieux-minividas',
    messages: 1,
    checks: [
      { code: 'HBCT', value: 0.05, specimen: 'Z1G021SCR' },
      { code: 'HBCT^QUAL', value: 'Positif' },
    ],
  },
  'senaite-cepheid-genexpert': {
    profile: 'cepheid-genexpert',
    messages: 1,
    checks: [
      { code: 'Xpert^Xpert MTB-RIF Ultra^4^MTB', value: 'NOT DETECTED', status: 'final', specimen: 'SMPL0001' },
      { code: 'Xpert^rpoB1^Ct', value: 0 },
      { code: 'Xpert^rpoB1^EndPt', value: -2 },
    ],
  },
  'senaite-horiba-pentra-xlr': {
    profile: 'horiba-pentra',
    messages: 1,
    checks: [
      { code: 'WBC', loinc: '804-5', value: 8.5, status: 'unknown', specimen: 'S1234' },
      { code: 'MON#', loinc: '742-7', value: 0.15, flags: ['L'] },
    ],
  },
  'senaite-horiba-yumizen-h500': {
    profile: 'horiba-yumizen',
    messages: 1,
    checks: [
      { code: 'MCV', loinc: '787-2', value: 90.6, flags: ['N'], specimen: 'PX440N' },
      { code: 'NEU#', loinc: '751-8', value: 4.2, unit: '10E3/uL', ucum: '10*3/uL' },
    ],
  },
  'senaite-roche-cobas-c111': { profile: 'roche-cobas-c111', messages: 1, checks: [{ code: '413', value: 40.13, unit: 'g/L', ucum: 'g/L', flags: ['N'] }] },
  'senaite-roche-cobas-c311': {
    profile: 'roche-cobas-c311',
    messages: 1,
    checks: [
      { code: '685', value: 22.4, unit: 'U/l', flags: ['A'], specimen: 'SAMPLE-00001' },
      { code: '712', value: 4.1, unit: 'umol/l', flags: ['L'] },
    ],
  },
  'senaite-siemens-dca-vantage': {
    profile: 'siemens-dca-vantage',
    messages: 1,
    checks: [
      { code: 'Alb', loinc: '14957-5', value: 63.7, unit: 'mg/L', ucum: 'mg/L' },
      { code: 'Ratio', loinc: '14959-1', value: 27.6, unit: 'mg/g', ucum: 'mg/g' },
    ],
  },
  'senaite-sysmex-xn550': {
    profile: 'sysmex-xn',
    messages: 1,
    checks: [
      { code: 'WBC', loinc: '6690-2', value: 8.13, ucum: '10*3/uL', flags: ['N'] },
      { code: 'HCT', loinc: '4544-3', value: 22.7, unit: '%', flags: ['L'] },
    ],
  },
  'senaite-sysmex-xp100': {
    profile: 'sysmex-xp',
    messages: 1,
    checks: [
      { code: 'WBC', loinc: '6690-2', value: 5.5, ucum: '10*3/uL', status: 'unknown' },
      { code: 'MCHC', loinc: '786-4', value: 41.7, flags: ['H'] },
    ],
  },
  'tgenaux-escape-and-repeat': {
    profile: 'generic',
    messages: 2,
    checks: [],
    also: (bundles) => {
      const ids = bundles.flatMap((b) => resources<Specimen>(b, 'Specimen').map((s) => s.identifier?.[0]?.value));
      assert.deepEqual(ids, ['SID101', 'SID102', 'SID304']);
    },
  },
  'tgenaux-ortho-vision': {
    profile: 'ortho-vision',
    messages: 2,
    checks: [
      { code: 'ABO', value: 'A', status: 'final', specimen: 'SID101' },
      { code: 'Rh', value: 'NEG' },
      { code: 'ABO', nth: 2, value: 'B', specimen: 'SID305' },
    ],
  },
  'tgenaux-phadia-immunocap': {
    profile: 'phadia-immunocap',
    messages: 1,
    checks: [
      { code: 't2', value: 9.34, unit: 'kUA/l', ucum: null, status: 'final', specimen: 'B7650020' },
      { code: 't3', value: 'Examine' },
      { code: 'a-IgE', value: 199, unit: 'kU/l' },
    ],
  },
};

/** Deterministic pseudo-random split, so a records transcript also crosses read boundaries. */
function randomSplit(bytes: Buffer, seed: number): Buffer[] {
  const out: Buffer[] = [];
  let s = seed;
  for (let at = 0; at < bytes.length; ) {
    s = (s * 1103515245 + 12345) >>> 0;
    const n = 1 + (s % 97);
    out.push(bytes.subarray(at, at + n));
    at += n;
  }
  return out;
}

/** The ways a transcript reaches the line: whole, and split as recorded (or at random). */
function wireVariants(base: string, profile: InstrumentProfile): { label: string; chunks: Buffer[] }[] {
  if (base.endsWith('-raw')) {
    const payload = unescapeWire(readFileSync(fixturePath(`${base}.astm`), 'latin1').trim());
    return [
      { label: 'whole', chunks: [payload] },
      { label: 'bytewise', chunks: [...payload].map((b) => Buffer.of(b)) },
    ];
  }
  if (existsSync(fixturePath(`${base}.frames`))) {
    let wire = loadFramesBytes(`${base}.frames`);
    // senaite stored these reassembled frames renumbered 1: restore wire numbering (see the receiver fixture test).
    if (base === 'senaite-horiba-yumizen-h500') wire = renumberFrames(wire);
    const { stream, prefix } = asLiveSession(wire);
    const variants = [{ label: 'frames', chunks: [stream] }];
    if (existsSync(fixturePath(`${base}.chunks`))) {
      const lengths = [prefix, ...loadChunks(`${base}.chunks`).map((c) => c.length)].filter((n) => n > 0);
      variants.push({ label: 'chunks', chunks: splitLike(stream, lengths) });
    }
    return variants;
  }
  const wire = wireFromRecords(loadRecordsText(`${base}.astm`), profile.framing, profile.maxTextPerFrame);
  return [
    { label: 'whole', chunks: [wire] },
    { label: 'random reads', chunks: randomSplit(wire, base.length) },
  ];
}

function checkObservation(bundles: Bundle[], check: Check): void {
  const all = bundles.flatMap((b) => observations(b).map((o) => ({ o, b })));
  const hit = all.filter(({ o }) => localCode(o) === check.code)[(check.nth ?? 1) - 1];
  assert.ok(hit, `an Observation with local code ${check.code}`);
  const { o, b } = hit;
  const where = `Observation ${check.code}`;
  if (check.loinc !== undefined) assert.equal(o.code.coding?.find((c) => c.system === 'http://loinc.org')?.code, check.loinc, `${where} LOINC`);
  else assert.equal(o.code.coding?.some((c) => c.system === 'http://loinc.org'), false, `${where} has no LOINC`);
  if (typeof check.value === 'number') {
    assert.equal(o.valueQuantity?.value, check.value, `${where} value`);
    assert.equal(o.valueQuantity?.comparator, check.comparator, `${where} comparator`);
    if (check.unit !== undefined) assert.equal(o.valueQuantity?.unit, check.unit, `${where} unit`);
    if (check.ucum !== undefined) assert.equal(o.valueQuantity?.code, check.ucum ?? undefined, `${where} UCUM`);
  } else if (check.value !== undefined) {
    assert.equal(o.valueString, check.value, `${where} value`);
  }
  if (check.flags !== undefined) assert.deepEqual(o.interpretation?.map((i) => i.coding?.[0]?.code) ?? [], check.flags, `${where} flags`);
  if (check.status !== undefined) assert.equal(o.status, check.status, `${where} status`);
  if (check.specimen !== undefined) {
    const specimen = (b.entry ?? []).find((e) => e.fullUrl === o.specimen?.reference)?.resource as Specimen | undefined;
    assert.equal(specimen?.identifier?.[0]?.value, check.specimen, `${where} specimen`);
  }
}

const files = listFixtures('.astm');

test('every transcript has an expectation and a shipped profile', () => {
  assert.deepEqual(files.map((f) => f.replace(/\.astm$/, '')).filter((b) => !EXPECTED[b]), []);
  for (const e of Object.values(EXPECTED)) assert.equal(resolveProfile(e.profile).name, e.profile);
});

for (const file of files) {
  const base = file.replace(/\.astm$/, '');
  const expected = EXPECTED[base];
  if (!expected) continue;
  test(`${base} [${expected.profile}]: decodes through the link layer and maps to the expected FHIR`, () => {
    const profile = resolveProfile(expected.profile);
    const records = loadRecordsText(file).toString('latin1');
    let reference: string[] | undefined;
    for (const { label, chunks } of wireVariants(base, profile)) {
      const decoded = decodeWithProfile(chunks, profile);
      const texts = decoded.messages.map((m) => m.text.toString('latin1'));
      assert.equal(decoded.messages.length, expected.messages, `${label}: message count`);
      assert.ok(!decoded.replies.includes(0x15), `${label}: no frame NAKed`);
      if (!base.endsWith('-raw')) assert.equal(texts.join(''), records, `${label}: the records arrive intact`);
      reference ??= texts;
      assert.deepEqual(texts, reference, `${label}: same messages however the bytes were read`);

      const mapped = decoded.messages.map((m) => mapLineMessage(m, profile));
      const bundles = mapped.map((m) => m.bundle);
      for (const m of mapped) {
        assert.equal(m.rejected, undefined, `${label}: not rejected`);
        assert.deepEqual(validateFhirBundle(m.bundle), [], `${label}: valid R4`);
      }
      const resultRecords = (records.match(/(^|\r)R\|/g) ?? []).length;
      assert.equal(bundles.reduce((n, b) => n + observations(b).length, 0), base.endsWith('-raw') ? resultRecordsOfPayload(mapped) : resultRecords, `${label}: one Observation per R record`);
      for (const check of expected.checks) checkObservation(bundles, check);
      expected.also?.(bundles);
      const queries = readHostQueries(texts.join(''), { specimenComponent: profile.query.specimenComponent }).flatMap((m) => m.queries.map((q) => q.specimenIds));
      assert.deepEqual(queries, expected.queries ?? [], `${label}: host queries`);
    }
  });
}

function resultRecordsOfPayload(mapped: { bundle: Bundle }[]): number {
  return mapped.reduce((n, m) => n + observations(m.bundle).length, 0);
}
