/**
 * The conversion context of one HL7 v2 message: caller options resolved once (time zone, MSH-7
 * offset, identifier systems, device profile), the bundle being built and the field usage.
 */
import type { Identifier } from '@medplum/fhirtypes';
import type { Hl7Message, Hl7Segment } from '../../hl7/parser.js';
import { resolveTimeZone } from '../../astm/timestamps.js';
import { fhirText } from '../astm-codes.js';
import { identifierValue, labedgeSystem, urnSafe } from '../fhir-identity.js';
import { MappingState } from '../mapping-state.js';
import { FieldUsage } from './field-usage.js';
import { codingSystemUri } from './hl7-codes.js';
import { hasTime, parseV2DateTime, toFhirDate, v2ToFhirDateTime, type OffsetFallback } from './hl7-datetime.js';

/** Per-instrument quirks, set in the instrument's profile (all off by default). */
export interface Hl7DeviceProfile {
  /** OBX-6 is one string: a `^` inside it is part of the unit (URIT-5160 sends `10^9/L` unescaped). */
  readonly unitsAsText?: boolean;
  /** OBX-2 = ST values that are plain numbers become valueQuantity (Radiometer ABL sends numbers as ST). */
  readonly numericStrings?: boolean;
  /** dataAbsentReason for placeholder values (`.....`, `-----`, `***`); default `error`. */
  readonly placeholderReason?: 'error' | 'not-performed' | 'unknown';
  /** Order numbers (OBR-2/3) are unique over time (default true); false scopes them to the message. */
  readonly stableOrderIds?: boolean;
}

export interface Hl7MappingContext {
  /** Instrument id from the configuration (not PHI); scopes every labedge identifier system. */
  readonly sourceId: string;
  /** Opaque deterministic id of the raw message (e.g. a hex digest). */
  readonly messageId: string;
  /** IANA zone for times that carry no offset when MSH-7 has none either; default: the system zone. */
  readonly timeZone?: string;
  /** Systems for patient / specimen identifiers whose assigning authority has no universal id. */
  readonly identifierSystems?: { readonly patient?: string; readonly specimen?: string };
  readonly profile?: Hl7DeviceProfile;
}

export type Hl7IdentifierKind =
  | 'patient' | 'patient-external' | 'patient-alt' | 'order' | 'specimen' | 'order-placer' | 'order-filler' | 'order-specimen' | 'result' | 'report'
  | 'device' | 'instrument' | 'message' | 'test-code' | 'code' | 'observation-instance';

/** One part of a `/`-separated key: `%` and `/` percent-encoded, so parts never run into each other. */
export function keyPart(text: string): string {
  return text.replace(/%/g, '%25').replace(/\//g, '%2F');
}

export type DateKind = 'dateTime' | 'date' | 'instant';

export class Hl7Context {
  readonly state = new MappingState();
  readonly usage = new FieldUsage();
  readonly fallback: OffsetFallback;
  readonly #fallbackNote: string;

  constructor(
    readonly options: Hl7MappingContext,
    readonly message: Hl7Message,
  ) {
    const msh7 = parseV2DateTime(message.segments[0]?.name === 'MSH' ? (message.segments[0]?.value(7) ?? '') : '');
    if (typeof msh7 === 'object' && msh7.offset !== undefined) {
      this.fallback = { kind: 'offset', minutes: msh7.offset };
      this.#fallbackNote = 'no UTC offset; the offset of MSH-7 was used';
    } else {
      const tz = resolveTimeZone(options.timeZone);
      if (!tz.valid) this.state.warn('config', 'time zone not recognised; the system zone is used');
      this.fallback = { kind: 'zone', timeZone: tz.timeZone };
      const configured = options.timeZone !== undefined && options.timeZone !== '' && tz.valid;
      this.#fallbackNote = configured ? 'no UTC offset; the configured time zone was used' : 'no UTC offset; the system time zone was used';
    }
  }

  get sourceId(): string {
    return this.options.sourceId;
  }

  get messageId(): string {
    return this.options.messageId;
  }

  get profile(): Hl7DeviceProfile {
    return this.options.profile ?? {};
  }

  warn(position: string, text: string): void {
    this.state.warn(position, text);
  }

  use(segment: Hl7Segment | undefined, ...fields: number[]): void {
    this.usage.use(segment, ...fields);
  }

  system(kind: Hl7IdentifierKind): string {
    if (kind === 'patient' && this.options.identifierSystems?.patient) return this.options.identifierSystems.patient;
    if (kind === 'specimen' && this.options.identifierSystems?.specimen) return this.options.identifierSystems.specimen;
    return labedgeSystem(this.sourceId, kind);
  }

  identifier(kind: Hl7IdentifierKind, value: string): Identifier {
    return { system: this.system(kind), value: identifierValue(value) };
  }

  /** A CWE coding system name → URI; unknown local names are scoped to this source. */
  codeSystem(name: string): string | undefined {
    const n = fhirText(name);
    if (n === '') return undefined;
    return codingSystemUri(n) ?? `${labedgeSystem(this.sourceId, 'code')}:${urnSafe(n)}`;
  }

  /** One value, decoded, control characters removed, trimmed. */
  text(seg: Hl7Segment, field: number, component = 1, subcomponent = 1, repetition = 1): string {
    return fhirText(seg.value(field, component, subcomponent, repetition));
  }

  /**
   * A v2 date/time at `field.component` as FHIR date, dateTime or instant. Empty → undefined;
   * invalid → undefined with a warning; a time without an offset takes the fallback, recorded as a
   * warning naming the position. An instant needs a time of day.
   */
  dateTime(seg: Hl7Segment, field: number, as: DateKind = 'dateTime', component = 1, repetition = 1): string | undefined {
    const text = seg.value(field, component, 1, repetition);
    const dt = parseV2DateTime(text);
    if (dt === undefined) return undefined;
    const position = component === 1 ? seg.position(field) : seg.position(field, component);
    if (dt === 'invalid') {
      this.warn(position, 'not a valid date/time; not mapped');
      return undefined;
    }
    if (as === 'date') {
      this.use(seg, field);
      return toFhirDate(dt);
    }
    if (as === 'instant' && !hasTime(dt)) return undefined;
    const { value, usedFallback } = v2ToFhirDateTime(dt, this.fallback);
    if (usedFallback) this.warn(position, this.#fallbackNote);
    this.use(seg, field);
    return value;
  }

  /** The time-of-day part of a DTM given with a date (PID-7 birth time), as a dateTime. */
  birthTime(seg: Hl7Segment, field: number): string | undefined {
    const dt = parseV2DateTime(seg.value(field));
    if (typeof dt !== 'object' || !hasTime(dt)) return undefined;
    return this.dateTime(seg, field);
  }
}
