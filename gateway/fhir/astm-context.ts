/** The conversion context: caller options resolved once (zone, identifier systems). */
import type { Identifier } from '@medplum/fhirtypes';
import type { AstmRecord } from '../astm/records.js';
import { parseAstmTimestamp, resolveTimeZone, toFhirDate, toFhirDateTime, toFhirInstant } from '../astm/timestamps.js';
import type { DecimalMark } from '../astm/values.js';
import { fhirCode, fhirText, testCodeFromComponents, ucumCode, type TestCode } from './astm-codes.js';
import { identifierValue, labedgeSystem } from './fhir-identity.js';
import type { MappingState } from './mapping-state.js';

/**
 * Per-instrument mapping rules (from its instrument profile, gateway/profiles). Every field is
 * optional; the default is the rule documented where it applies.
 */
export interface AstmMappingProfile {
  /** Where in O the specimen id lives (default O.3 component 1). */
  specimenId?: { field: number; component: number };
  /**
   * The local test code: one component of R.3/O.5 (e.g. Sysmex 5, Roche 4), optionally cut at a
   * separator (Roche `8/1/not` → `8` with split '/'). Default: the rule in astm-codes.ts.
   */
  testCode?: { component: number; split?: string };
  decimalMark?: DecimalMark;
  /** Local test code → LOINC (second coding), display, and UCUM unit for its values. */
  codes?: Readonly<Record<string, { loinc?: string; display?: string; unit?: string }>>;
  /** Unit text as the instrument writes it → UCUM code (Stago `S` → `s`); wins over the built-in table. */
  units?: Readonly<Record<string, string>>;
}

export interface AstmMappingContext {
  /** Instrument id from the configuration (not PHI); scopes every identifier system. */
  sourceId: string;
  /** Opaque deterministic id of the raw message (e.g. a hex digest). */
  messageId: string;
  /** IANA zone for ASTM times, which carry none; default: the system zone. */
  timeZone?: string;
  identifierSystems?: { patient?: string; specimen?: string };
  profile?: AstmMappingProfile;
}

export type IdentifierKind =
  | 'patient' | 'patient-lab' | 'patient-alt' | 'specimen' | 'instrument-specimen' | 'device' | 'instrument'
  | 'order' | 'result' | 'report' | 'message' | 'test-code' | 'specimen-type';

export class ResolvedContext {
  readonly timeZone: string;

  constructor(
    readonly options: AstmMappingContext,
    readonly state: MappingState,
  ) {
    const tz = resolveTimeZone(options.timeZone);
    this.timeZone = tz.timeZone;
    if (!tz.valid) state.warn('config', 'time zone not recognised; the system zone is used');
  }

  get profile(): AstmMappingProfile {
    return this.options.profile ?? {};
  }

  /** The test code in field n (repeat r) of a record, by the profile's rule or the default one. */
  testCode(r: AstmRecord, n: number, repeat = 1): TestCode | undefined {
    const components = r.components(n, repeat);
    const base = testCodeFromComponents(components);
    if (base === undefined) return undefined;
    const rule = this.options.profile?.testCode;
    let code = base.code;
    if (rule !== undefined) {
      let picked = fhirCode(components[rule.component - 1] ?? '');
      if (rule.split) picked = fhirCode(picked.split(rule.split)[0] ?? '');
      if (picked !== '') code = picked;
    }
    const loinc = this.options.profile?.codes?.[code]?.loinc ?? base.loinc;
    return loinc === undefined ? { code } : { code, loinc };
  }

  /** UCUM code for a unit as written: the profile's table first, then the built-in one. */
  ucum(unit: string): string | undefined {
    return this.options.profile?.units?.[unit.trim()] ?? ucumCode(unit);
  }

  get sourceId(): string {
    return this.options.sourceId;
  }

  get messageId(): string {
    return this.options.messageId;
  }

  system(kind: IdentifierKind): string {
    if (kind === 'patient' && this.options.identifierSystems?.patient) return this.options.identifierSystems.patient;
    if (kind === 'specimen' && this.options.identifierSystems?.specimen) return this.options.identifierSystems.specimen;
    return labedgeSystem(this.options.sourceId, kind);
  }

  identifier(kind: IdentifierKind, value: string): Identifier {
    return { system: this.system(kind), value: identifierValue(value) };
  }

  /** Reads an ASTM timestamp field as FHIR dateTime; null dates are absent, bad ones warn. */
  dateTime(r: AstmRecord, n: number, as: 'dateTime' | 'date' | 'instant' = 'dateTime'): string | undefined {
    const ts = parseAstmTimestamp(r.component(n, 1));
    if (ts === undefined) return undefined;
    if (ts === 'null') {
      this.state.use(r, n);
      return undefined;
    }
    if (ts === 'invalid') {
      this.state.warn(r.position(n), 'not a valid timestamp; not mapped');
      return undefined;
    }
    const value = as === 'date' ? toFhirDate(ts) : as === 'instant' ? toFhirInstant(ts, this.timeZone) : toFhirDateTime(ts, this.timeZone);
    if (value !== undefined) this.state.use(r, n);
    return value;
  }
}

/** An identifier-like field: first repeat, components trimmed, trailing/empty ones dropped, joined by `^`. */
export function idText(r: AstmRecord, n: number): string {
  return r
    .components(n)
    .map(fhirText)
    .filter((c) => c !== '')
    .join('^');
}
