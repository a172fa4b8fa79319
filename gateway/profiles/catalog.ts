/**
 * The shipped instrument profiles, one per analyzer family in test/fixtures/astm (each proven by
 * its transcript in test/integration/astm-transcripts.test.ts). LOINC codes are given only where
 * the analyte and specimen are unambiguous from the instrument's own output; anything else keeps
 * its local code alone (a wrong LOINC is worse than none).
 */
import type { CodeMapEntry, InstrumentProfile } from './profile-types.js';

export const GENERIC: InstrumentProfile = Object.freeze<InstrumentProfile>({
  name: 'generic',
  description: 'LIS02-A2 / E1394 as the standard writes it',
  framing: 'e1381',
  maxTextPerFrame: 240,
  maxFrameBytes: 64_000,
  encoding: 'auto',
  rawIdleMs: 10_000,
  specimenId: { field: 3, component: 1 },
  decimalMark: 'auto',
  recordFixes: [],
  codes: {},
  units: {},
  query: { specimenComponent: 2, reply: 'lis02a2', deadlineMs: 10_000, lookupTimeoutMs: 6_000 },
  orders: { mode: 'query', pushSearch: 'status=active', pushIntervalMs: 30_000 },
});

type Spec = Omit<Partial<InstrumentProfile>, 'query' | 'orders'> & {
  name: string;
  description: string;
  query?: Partial<InstrumentProfile['query']>;
  orders?: Partial<InstrumentProfile['orders']>;
};

function profile(spec: Spec): InstrumentProfile {
  return Object.freeze({
    ...GENERIC,
    ...spec,
    query: { ...GENERIC.query, ...spec.query },
    orders: { ...GENERIC.orders, ...spec.orders },
  });
}

const loinc = (code: string, display: string, unit?: string): CodeMapEntry => ({ loinc: code, display, ...(unit !== undefined && { unit }) });

/** Complete blood count analytes as Sysmex names them (blood, automated count). */
const SYSMEX_CBC: Record<string, CodeMapEntry> = {
  WBC: loinc('6690-2', 'Leukocytes [#/volume] in Blood by Automated count', '10*3/uL'),
  RBC: loinc('789-8', 'Erythrocytes [#/volume] in Blood by Automated count', '10*6/uL'),
  HGB: loinc('718-7', 'Hemoglobin [Mass/volume] in Blood', 'g/dL'),
  HCT: loinc('4544-3', 'Hematocrit [Volume Fraction] of Blood by Automated count', '%'),
  MCV: loinc('787-2', 'MCV [Entitic volume] by Automated count', 'fL'),
  MCH: loinc('785-6', 'MCH [Entitic mass] by Automated count', 'pg'),
  MCHC: loinc('786-4', 'MCHC [Mass/volume] by Automated count', 'g/dL'),
  PLT: loinc('777-3', 'Platelets [#/volume] in Blood by Automated count', '10*3/uL'),
};

const ROCHE_QUERY = { specimenComponent: 3, reply: 'roche' as const };
/** Roche R.3 `8/1/not` (application code / dilution / pre-dilution) and O.5 `^^^8^1`: the code is `8`. */
const ROCHE_TEST_CODE = { component: 4, split: '/' };

export const CATALOG: readonly InstrumentProfile[] = [
  GENERIC,
  profile({
    name: 'abbott-afinion2',
    description: 'Abbott Afinion 2 (point of care)',
    codes: { HbA1c: loinc('4548-4', 'Hemoglobin A1c/Hemoglobin.total in Blood', '%') },
  }),
  profile({
    name: 'arkray-spotchem-el',
    description: 'Arkray Spotchem EL SE-1520: free text between STX and ETX, no E1381 framing',
    payloadAdapter: 'spotchem-el',
    codes: {
      Na: loinc('2951-2', 'Sodium [Moles/volume] in Serum or Plasma', 'mmol/L'),
      K: loinc('2823-3', 'Potassium [Moles/volume] in Serum or Plasma', 'mmol/L'),
      Cl: loinc('2075-0', 'Chloride [Moles/volume] in Serum or Plasma', 'mmol/L'),
    },
  }),
  profile({
    name: 'beckman-dxh',
    description: 'Beckman Coulter DxH: `|\\!~` delimiters, an extra empty field after R.5, LOINC in R.3',
    recordFixes: [{ record: 'R', dropEmptyFieldAfter: 5 }],
    testCode: { component: 4 },
    units: { '/100WBC': '/100{WBCs}' },
  }),
  profile({
    name: 'biomerieux-minividas',
    description: 'bioMérieux mini VIDAS: RS-separated key/values ending in GS and a checksum',
    payloadAdapter: 'mini-vidas',
  }),
  profile({
    name: 'biorad-ih1000',
    description: 'Bio-Rad IH-1000 via IH-Com 5.2 (blood bank): reaction name in R.3 component 4, profile text after it',
    framing: 'auto',
    testCode: { component: 4 },
  }),
  profile({ name: 'cepheid-genexpert', description: 'Cepheid GeneXpert: `|@^\\` delimiters, assay paths in R.3 components' }),
  profile({
    name: 'erba-em200',
    description: 'Erba EM200: backtick repeat delimiter',
    codes: {
      GLU: loinc('2345-7', 'Glucose [Mass/volume] in Serum or Plasma', 'mg/dL'),
      CRE: loinc('2160-0', 'Creatinine [Mass/volume] in Serum or Plasma', 'mg/dL'),
    },
  }),
  profile({ name: 'euroimmun-analyzer1', description: 'Euroimmun Analyzer I: decimal comma', framing: 'auto', decimalMark: 'comma' }),
  profile({ name: 'horiba-pentra', description: 'Horiba ABX Pentra XL/XLR: LOINC in R.3 component 5', testCode: { component: 4 } }),
  profile({
    name: 'horiba-yumizen',
    description: 'Horiba Yumizen H500/H550: M histogram records, reference-range labels',
    testCode: { component: 4 },
  }),
  profile({ name: 'immucor-galileo', description: 'Immucor Galileo / Echo (blood bank), order download', framing: 'auto' }),
  profile({ name: 'ortho-vision', description: 'Ortho VISION (blood bank): test code in R.3 without components', framing: 'auto' }),
  profile({
    name: 'phadia-immunocap',
    description: 'Thermo Phadia Prime / ImmunoCAP: 18991230 null dates, allergen code in R.3 component 4',
    framing: 'auto',
    testCode: { component: 4 },
  }),
  profile({
    name: 'roche-cobas-c111',
    description: 'Roche cobas c111: ETB at every record boundary; host query TSREQ',
    testCode: ROCHE_TEST_CODE,
    query: ROCHE_QUERY,
  }),
  profile({
    name: 'roche-cobas-c311',
    description: 'Roche cobas c311: specimen id in O.3 component 2, fixed-width padding; host query TSREQ',
    specimenId: { field: 3, component: 2 },
    testCode: ROCHE_TEST_CODE,
    query: ROCHE_QUERY,
  }),
  profile({
    name: 'roche-cobas-e411',
    description: 'Roche cobas e411: several records per frame, ETB mid-field; host query TSREQ',
    testCode: ROCHE_TEST_CODE,
    units: { COI: '{COI}', 'uIU/ml': 'u[IU]/mL' },
    query: ROCHE_QUERY,
  }),
  profile({
    name: 'siemens-dca-vantage',
    description: 'Siemens DCA Vantage: urine albumin/creatinine',
    codes: {
      Alb: loinc('14957-5', 'Microalbumin [Mass/volume] in Urine', 'mg/L'),
      Crt: loinc('2161-8', 'Creatinine [Mass/volume] in Urine', 'mg/dL'),
      Ratio: loinc('14959-1', 'Microalbumin/Creatinine [Mass Ratio] in Urine', 'mg/g'),
    },
  }),
  profile({
    name: 'stago-sta',
    description: 'Stago STA Satellite Max / STA-R: seconds written `S`, orders without O.5',
    testCode: { component: 4 },
    units: { S: 's', 'INR ISI': '{INR}' },
    codes: {
      SPT: loinc('5902-2', 'Prothrombin time (PT)', 's'),
      SINR: loinc('6301-6', 'INR in Platelet poor plasma by Coagulation assay', '{INR}'),
      SAPTT: loinc('14979-9', 'aPTT in Platelet poor plasma by Coagulation assay', 's'),
    },
  }),
  profile({
    name: 'sysmex-xn',
    // O.4 is rack^tube^sample no.^attribute; the sample no. is reused (attribute M/A: manual or
    // automatic numbering), so it stays scoped to its message (the default), never a lasting id.
    description: 'Sysmex XN series: test code in R.3 component 5, sample number in O.4',
    testCode: { component: 5 },
    codes: SYSMEX_CBC,
  }),
  profile({
    name: 'sysmex-xp',
    description: 'Sysmex XP-100/300: as XN, values space-padded',
    testCode: { component: 5 },
    codes: SYSMEX_CBC,
  }),
];

const BY_NAME = new Map(CATALOG.map((p) => [p.name, p]));

export function findProfile(name: string): InstrumentProfile | undefined {
  return BY_NAME.get(name);
}

export function profileNames(): string[] {
  return [...BY_NAME.keys()];
}
