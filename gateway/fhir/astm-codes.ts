/**
 * Code tables and code rules for the ASTM → FHIR mapping.
 *
 * Test code rule (R.3 / O.5 universal test id, one repeat): the trimmed, non-empty components from
 * component 4 (the manufacturer's local code) onward, joined with `^` whatever the message's own
 * component delimiter; when components 4+ are all empty, the non-empty components 1–3 likewise.
 * So `^^^GLU` → `GLU`, Sysmex `^^^^WBC^1` → `WBC^1`, Beckman `!!!HGB!718-7` → `HGB^718-7`,
 * GeneXpert `^MTB-RIF^^Xpert^^^rpoB1^Ct` → `Xpert^rpoB1^Ct`, Ortho `ABO` → `ABO`. The suffixes
 * matter: GeneXpert and LIS02-A2 (`^^^ISE^NA`) put the analyte there, so dropping them would merge
 * distinct results. The full field is kept as `code.text`; any component that is a LOINC code with
 * a valid check digit (Beckman, Horiba) is added as a second coding.
 */
import type { Coding } from '@medplum/fhirtypes';

export const LOINC = 'http://loinc.org';
export const UCUM = 'http://unitsofmeasure.org';
export const INTERPRETATION_SYSTEM = 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation';
export const OBSERVATION_CATEGORY = 'http://terminology.hl7.org/CodeSystem/observation-category';
export const DATA_ABSENT_REASON = 'http://terminology.hl7.org/CodeSystem/data-absent-reason';
export const DIAGNOSTIC_SERVICE_SECTION = 'http://terminology.hl7.org/CodeSystem/v2-0074';

/** Removes characters FHIR strings may not hold (C0 controls except TAB, CR, LF) and trims. */
export function fhirText(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]/g, '').trim();
}

/** FHIR `code` values: no leading/trailing or repeated whitespace. */
export function fhirCode(text: string): string {
  return fhirText(text).replace(/\s+/g, ' ');
}

export interface TestCode {
  readonly code: string;
  readonly loinc?: string;
}

export function testCodeFromComponents(components: readonly string[]): TestCode | undefined {
  const parts = components.map(fhirCode);
  const tail = parts.slice(3).filter((p) => p !== '');
  const code = (tail.length > 0 ? tail : parts.slice(0, 3).filter((p) => p !== '')).join('^');
  if (code === '') return undefined;
  const loinc = parts.find(isLoincCode);
  return loinc === undefined ? { code } : { code, loinc };
}

/** `718-7`: digits, dash, Luhn (mod 10) check digit as LOINC defines it. */
export function isLoincCode(text: string): boolean {
  const m = /^(\d{1,7})-(\d)$/.exec(text);
  if (m?.[1] === undefined || m[2] === undefined) return false;
  let sum = 0;
  const digits = m[1];
  for (let i = 0; i < digits.length; i++) {
    let d = Number(digits[digits.length - 1 - i]);
    if (i % 2 === 0) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return (10 - (sum % 10)) % 10 === Number(m[2]);
}

/**
 * Units that are valid UCUM codes as written, plus a few unambiguous spellings of UCUM codes.
 * Deliberately a list, not a validator: `S` (Stago seconds) is UCUM siemens and `1` (Pentra) is
 * UCUM unity, and neither means that here, so they are left as plain unit strings.
 */
const UCUM_UNITS: ReadonlyMap<string, string> = new Map([
  ...[
    '%', 'g/L', 'g/dL', 'g/l', 'g/dl', 'mg/L', 'mg/dL', 'mg/l', 'mg/dl', 'ug/L', 'ug/dL', 'ug/mL', 'ug/l', 'ug/dl', 'ug/ml',
    'ng/L', 'ng/dL', 'ng/mL', 'ng/l', 'ng/dl', 'ng/ml', 'pg/mL', 'pg/ml', 'pg', 'fL', 'fl', 'mL', 'L',
    'mol/L', 'mmol/L', 'mmol/l', 'umol/L', 'umol/l', 'nmol/L', 'nmol/l', 'pmol/L', 'pmol/l',
    'U/L', 'U/l', 'U/mL', 'kU/L', 'kU/l', 'mU/L', 'mU/mL', '[IU]/L', '[IU]/mL', 'm[IU]/L', 'm[IU]/mL', 'u[IU]/mL',
    '10*3/uL', '10*6/uL', '10*9/L', '10*12/L', '10*3/mm3', '10*6/mm3', '/uL', '/nL', '/L',
    's', 'min', 'h', 'mm/h', 'mg/g', 'g/g', 'mL/min', 'um3', 'meq/L', 'mosm/kg', 'mm[Hg]', 'Cel', '[pH]',
  ].map((u): [string, string] => [u, u]),
  ['10^3/uL', '10*3/uL'], ['10^6/uL', '10*6/uL'], ['10^9/L', '10*9/L'], ['10^12/L', '10*12/L'],
  ['10E3/uL', '10*3/uL'], ['10E6/uL', '10*6/uL'], ['10E9/L', '10*9/L'], ['10E12/L', '10*12/L'],
  ['uIU/mL', 'u[IU]/mL'], ['uIU/ml', 'u[IU]/mL'], ['mIU/mL', 'm[IU]/mL'], ['mIU/ml', 'm[IU]/mL'], ['IU/L', '[IU]/L'],
  ['mEq/L', 'meq/L'], ['mEq/l', 'meq/L'], ['sec', 's'],
]);

export function ucumCode(unit: string): string | undefined {
  return UCUM_UNITS.get(unit.trim());
}

const INTERPRETATIONS: ReadonlyMap<string, string> = new Map([
  ['L', 'Low'], ['H', 'High'], ['LL', 'Critical low'], ['HH', 'Critical high'], ['<', 'Off scale low'], ['>', 'Off scale high'],
  ['N', 'Normal'], ['A', 'Abnormal'], ['AA', 'Critical abnormal'], ['U', 'Significant change up'], ['D', 'Significant change down'],
  ['B', 'Better'], ['W', 'Worse'], ['S', 'Susceptible'], ['R', 'Resistant'], ['I', 'Intermediate'],
  ['MS', 'moderately susceptible'], ['VS', 'very susceptible'],
]);

/** ASTM abnormal flag (R.7, or a flag component in R.4) → v3-ObservationInterpretation coding. */
export function interpretationCoding(flag: string): Coding | undefined {
  const code = flag.trim().toUpperCase();
  const display = INTERPRETATIONS.get(code);
  return display === undefined ? undefined : { system: INTERPRETATION_SYSTEM, code, display };
}

export type ObservationStatus = 'registered' | 'preliminary' | 'final' | 'amended' | 'corrected' | 'cancelled' | 'entered-in-error' | 'unknown';

/**
 * R.9 result status. R (previously transmitted) is a resend of a final result, V (operator
 * verified) is final, S (partial) is preliminary. Anything else — including Pentra's W and an empty
 * field — is `unknown` (the caller warns) rather than a guess at finality.
 */
export function observationStatus(code: string): ObservationStatus | undefined {
  switch (code.trim().toUpperCase()) {
    case 'F':
    case 'R':
    case 'V':
      return 'final';
    case 'C':
      return 'corrected';
    case 'P':
    case 'S':
      return 'preliminary';
    case 'X':
      return 'cancelled';
    case 'I':
      return 'registered';
    default:
      return undefined;
  }
}

export type ServiceRequestStatus = 'draft' | 'active' | 'on-hold' | 'revoked' | 'completed' | 'entered-in-error' | 'unknown';

/** O.26 report type → ServiceRequest.status; empty means an active order. */
export function serviceRequestStatus(code: string): ServiceRequestStatus | undefined {
  switch (code.trim().toUpperCase()) {
    case '':
    case 'O':
    case 'P':
    case 'I':
    case 'Q':
      return 'active';
    case 'F':
    case 'C':
      return 'completed';
    case 'X':
      return 'revoked';
    default:
      return undefined;
  }
}

export type ReportStatus = 'registered' | 'partial' | 'preliminary' | 'final' | 'corrected' | 'cancelled' | 'unknown';

/** DiagnosticReport.status from its results: all final → final, any correction → corrected, and so on. */
export function reportStatus(statuses: readonly ObservationStatus[]): ReportStatus {
  const live = statuses.filter((s) => s !== 'cancelled' && s !== 'entered-in-error');
  if (live.length === 0) return statuses.length > 0 ? 'cancelled' : 'unknown';
  if (live.some((s) => s === 'unknown')) return 'unknown';
  const done = live.filter((s) => s === 'final' || s === 'corrected' || s === 'amended');
  if (done.length === live.length) return live.some((s) => s === 'corrected' || s === 'amended') ? 'corrected' : 'final';
  if (live.every((s) => s === 'registered')) return 'registered';
  return done.length > 0 ? 'partial' : 'preliminary';
}

export type Gender = 'male' | 'female' | 'other' | 'unknown';

export function administrativeGender(code: string): Gender | undefined {
  switch (code.trim().toUpperCase()) {
    case 'M':
      return 'male';
    case 'F':
      return 'female';
    case 'U':
      return 'unknown';
    case 'O':
      return 'other';
    default:
      return undefined;
  }
}

export type RequestPriority = 'routine' | 'urgent' | 'asap' | 'stat';

/** O.6 action priority: S stat, A as soon as possible, R routine (C callback and P pre-op are left out). */
export function requestPriority(code: string): RequestPriority | undefined {
  switch (code.trim().toUpperCase()) {
    case 'S':
      return 'stat';
    case 'A':
      return 'asap';
    case 'R':
      return 'routine';
    default:
      return undefined;
  }
}
