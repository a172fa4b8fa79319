/** The conversion context: caller options resolved once (zone, identifier systems). */
import type { Identifier } from '@medplum/fhirtypes';
import type { AstmRecord } from '../astm/records.js';
import { parseAstmTimestamp, resolveTimeZone, toFhirDate, toFhirDateTime, toFhirInstant } from '../astm/timestamps.js';
import { fhirText } from './astm-codes.js';
import { identifierValue, labedgeSystem } from './fhir-identity.js';
import type { MappingState } from './mapping-state.js';

export interface AstmMappingContext {
  /** Instrument id from the configuration (not PHI); scopes every identifier system. */
  sourceId: string;
  /** Opaque deterministic id of the raw message (e.g. a hex digest). */
  messageId: string;
  /** IANA zone for ASTM times, which carry none; default: the system zone. */
  timeZone?: string;
  identifierSystems?: { patient?: string; specimen?: string };
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
