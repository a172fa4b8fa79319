/**
 * HL7 v2 code tables used by the v2 → FHIR mapping, each mapped as the v2-to-FHIR IG's
 * ConceptMaps say, plus labedge's documented policy where the IG leaves a code unmatched
 * (docs/hl7-mapping.md).
 */
import type { Coding } from '@medplum/fhirtypes';
import { INTERPRETATION_SYSTEM, type ObservationStatus } from '../astm-codes.js';

export const V2_TABLE = (n: string): string => `http://terminology.hl7.org/CodeSystem/v2-${n}`;

/** Table 0078 codes that map 1:1 to v3-ObservationInterpretation (IG ConceptMap), with displays. */
const INTERPRETATION_0078: ReadonlyMap<string, string> = new Map([
  ['<', 'Off scale low'], ['>', 'Off scale high'], ['A', 'Abnormal'], ['AA', 'Critical abnormal'], ['B', 'Better'],
  ['CAR', 'Carrier'], ['D', 'Significant change down'], ['DET', 'Detected'], ['E', 'Equivocal'], ['EX', 'outside threshold'],
  ['EXP', 'Expected'], ['H', 'High'], ['HH', 'Critical high'], ['HU', 'Significantly high'], ['I', 'Intermediate'],
  ['IE', 'Insufficient evidence'], ['IND', 'Indeterminate'], ['L', 'Low'], ['LL', 'Critical low'], ['LU', 'Significantly low'],
  ['MS', 'moderately susceptible'], ['N', 'Normal'], ['NCL', 'No CLSI defined breakpoint'], ['ND', 'Not detected'],
  ['NEG', 'Negative'], ['NR', 'Non-reactive'], ['NS', 'Non-susceptible'], ['POS', 'Positive'], ['R', 'Resistant'],
  ['RR', 'Reactive'], ['S', 'Susceptible'], ['SDD', 'Susceptible-dose dependent'], ['SYN-R', 'Synergy - resistant'],
  ['SYN-S', 'Synergy - susceptible'], ['U', 'Significant change up'], ['VS', 'very susceptible'], ['UNE', 'Unexpected'],
  ['W', 'Worse'], ['WR', 'Weakly reactive'],
]);

/**
 * OBX-8 code → interpretation coding. Codes the IG leaves unmapped (AC, HM, OBX, QCF, TOX) and
 * unknown ones are kept as a table 0078 coding (`mapped: false`), so nothing is dropped.
 */
export function interpretation0078(code: string): { coding: Coding; mapped: boolean } | undefined {
  const c = code.trim();
  if (c === '') return undefined;
  const display = INTERPRETATION_0078.get(c) ?? INTERPRETATION_0078.get(c.toUpperCase());
  if (display !== undefined) return { coding: { system: INTERPRETATION_SYSTEM, code: INTERPRETATION_0078.has(c) ? c : c.toUpperCase(), display }, mapped: true };
  return { coding: { system: V2_TABLE('0078'), code: c }, mapped: false };
}

export interface StatusMapping {
  readonly status: ObservationStatus;
  /** False when the IG leaves the code unmatched and labedge's policy chose the status. */
  readonly matched: boolean;
  /** OBX-11 = N: no value, dataAbsentReason `not-asked`. */
  readonly notAsked?: boolean;
}

/**
 * OBX-11 (table 0085) → Observation.status. IG matches: F final, P preliminary, C corrected,
 * A amended, D/W entered-in-error, X cancelled. labedge policy for the codes the IG leaves
 * unmatched: I (specimen in lab) and O (order detail only) → registered; R (entered, not verified)
 * and S (partial) → preliminary; U (changed to final without retransmission) → final; B (appended
 * report) → amended; V (post original as wrong) → entered-in-error; N (not asked) → cancelled with
 * dataAbsentReason not-asked. Unknown codes → undefined (the caller uses `unknown` and warns).
 */
export function observationStatus0085(code: string): StatusMapping | undefined {
  switch (code.trim().toUpperCase()) {
    case 'F': return { status: 'final', matched: true };
    case 'P': return { status: 'preliminary', matched: true };
    case 'C': return { status: 'corrected', matched: true };
    case 'A': return { status: 'amended', matched: true };
    case 'D':
    case 'W': return { status: 'entered-in-error', matched: true };
    case 'X': return { status: 'cancelled', matched: true };
    case 'I':
    case 'O': return { status: 'registered', matched: false };
    case 'R':
    case 'S': return { status: 'preliminary', matched: false };
    case 'U': return { status: 'final', matched: false };
    case 'B': return { status: 'amended', matched: false };
    case 'V': return { status: 'entered-in-error', matched: false };
    case 'N': return { status: 'cancelled', matched: false, notAsked: true };
    default: return undefined;
  }
}

export type ReportStatus = 'registered' | 'partial' | 'preliminary' | 'final' | 'corrected' | 'amended' | 'cancelled' | 'unknown';

/**
 * OBR-25 (table 0123) → DiagnosticReport.status. IG: O/I/S registered, P preliminary, C corrected,
 * R partial, F final, X cancelled. Policy for unmatched: A (some results available) and N
 * (procedure incomplete) → partial, M (corrected, not final) → corrected. Y/Z (no order/patient on
 * record) and unknown codes → undefined (the caller uses `unknown` and warns).
 */
export function reportStatus0123(code: string): ReportStatus | undefined {
  switch (code.trim().toUpperCase()) {
    case 'O':
    case 'I':
    case 'S': return 'registered';
    case 'P': return 'preliminary';
    case 'C':
    case 'M': return 'corrected';
    case 'R':
    case 'A':
    case 'N': return 'partial';
    case 'F': return 'final';
    case 'X': return 'cancelled';
    default: return undefined;
  }
}

export type RequestStatus = 'active' | 'on-hold' | 'revoked' | 'completed' | 'entered-in-error' | 'unknown';

/** ORC-5 (table 0038) → ServiceRequest.status. */
export function requestStatus0038(code: string): RequestStatus | undefined {
  switch (code.trim().toUpperCase()) {
    case 'A':
    case 'IP':
    case 'SC': return 'active';
    case 'CM': return 'completed';
    case 'CA':
    case 'DC':
    case 'RP': return 'revoked';
    case 'HD': return 'on-hold';
    case 'ER': return 'entered-in-error';
    default: return undefined;
  }
}

/** PID-8 (table 0001) → AdministrativeGender. A (ambiguous) and N (not applicable) → other. */
export function gender0001(code: string): 'male' | 'female' | 'other' | 'unknown' | undefined {
  switch (code.trim().toUpperCase()) {
    case 'M': return 'male';
    case 'F': return 'female';
    case 'O':
    case 'A':
    case 'N': return 'other';
    case 'U': return 'unknown';
    default: return undefined;
  }
}

/** XPN.7 (table 0200) → HumanName.use (IG ConceptMap, common codes only). */
export function nameUse0200(code: string): 'usual' | 'official' | 'nickname' | 'anonymous' | 'old' | 'maiden' | undefined {
  switch (code.trim().toUpperCase()) {
    case 'L': return 'official';
    case 'D':
    case 'A': return 'usual';
    case 'M': return 'maiden';
    case 'N': return 'nickname';
    case 'S': return 'anonymous';
    case 'BAD': return 'old';
    default: return undefined;
  }
}

/** XAD.7 (table 0190) → Address.use / Address.type. */
export function addressUse0190(code: string): { use?: 'home' | 'work' | 'temp' | 'old' | 'billing'; type?: 'postal' | 'physical' } {
  switch (code.trim().toUpperCase()) {
    case 'H': return { use: 'home' };
    case 'O':
    case 'B': return { use: 'work' };
    case 'C': return { use: 'temp' };
    case 'BA': return { use: 'old' };
    case 'BI': return { use: 'billing' };
    case 'M': return { type: 'postal' };
    case 'SH': return { type: 'physical' };
    default: return {};
  }
}

/** Coding system names seen in CWE.3 (table 0396) → canonical URIs. */
const CODING_SYSTEMS: ReadonlyMap<string, string> = new Map([
  ['LN', 'http://loinc.org'], ['LOINC', 'http://loinc.org'],
  ['SCT', 'http://snomed.info/sct'], ['SNM', 'http://snomed.info/sct'], ['SNOMED', 'http://snomed.info/sct'], ['SNOMEDCT', 'http://snomed.info/sct'],
  ['UCUM', 'http://unitsofmeasure.org'], ['ANS+', 'http://unitsofmeasure.org'],
  ['I10', 'http://hl7.org/fhir/sid/icd-10'], ['I10C', 'http://hl7.org/fhir/sid/icd-10-cm'], ['I9C', 'http://hl7.org/fhir/sid/icd-9-cm'],
  ['CPT', 'http://www.ama-assn.org/go/cpt'], ['C4', 'http://www.ama-assn.org/go/cpt'], ['RXNORM', 'http://www.nlm.nih.gov/research/umls/rxnorm'],
  ['ISO3166_1', 'urn:iso:std:iso:3166'], ['ISO639', 'urn:ietf:bcp:47'], ['CDCREC', 'urn:oid:2.16.840.1.113883.6.238'],
]);

/**
 * A CWE coding system name → URI: known names (LN, SCT, UCUM…), `HL7nnnn` → the v2 table's code
 * system, an OID → `urn:oid:`, anything else → undefined (the caller scopes it to the source).
 */
export function codingSystemUri(name: string): string | undefined {
  const n = name.trim();
  if (n === '') return undefined;
  const known = CODING_SYSTEMS.get(n.toUpperCase());
  if (known !== undefined) return known;
  const table = /^HL7(\d{4})$/i.exec(n);
  if (table?.[1] !== undefined) return V2_TABLE(table[1]);
  if (/^[0-2](\.(0|[1-9]\d*))+$/.test(n)) return `urn:oid:${n}`;
  if (/^(https?|urn):\S+$/.test(n)) return n;
  return undefined;
}
