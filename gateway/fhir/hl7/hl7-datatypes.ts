/**
 * v2 data types → FHIR data types, per the v2-to-FHIR IG datatype maps:
 * CWE/CE/CNE → CodeableConcept, CX → Identifier, XPN → HumanName, XAD → Address,
 * XTN → ContactPoint, EI → its parts (callers decide the identifier system).
 */
import type { Address, CodeableConcept, Coding, ContactPoint, HumanName, Identifier } from '@medplum/fhirtypes';
import type { Hl7Segment } from '../../hl7/parser.js';
import { fhirCode, fhirText } from '../astm-codes.js';
import { identifierValue, labedgeSystem, urnSafe } from '../fhir-identity.js';
import type { Hl7Context, Hl7IdentifierKind } from './hl7-context.js';
import { addressUse0190, nameUse0200, V2_TABLE } from './hl7-codes.js';

/**
 * CWE triplets (1,2,3), (4,5,6), (10,11,12) → codings; CWE.7/8/13 → versions; CWE.9 → text.
 * A triplet with a code but no system gets `defaultSystem` (the field's table, or a local
 * system); a CWE with only text gives a text-only concept. Undefined when empty.
 */
export function codeableConcept(ctx: Hl7Context, seg: Hl7Segment, field: number, repetition = 1, defaultSystem?: string): CodeableConcept | undefined {
  const c = (n: number): string => fhirText(seg.value(field, n, 1, repetition));
  const codings: Coding[] = [];
  for (const [code, display, system, version] of [[1, 2, 3, 7], [4, 5, 6, 8], [10, 11, 12, 13]] as const) {
    const value = fhirCode(c(code));
    const text = c(display);
    if (value === '') continue;
    const coding: Coding = {};
    const uri = ctx.codeSystem(c(system)) ?? defaultSystem;
    if (uri !== undefined) coding.system = uri;
    const v = c(version);
    if (v !== '' && uri !== undefined) coding.version = v;
    coding.code = value;
    if (text !== '') coding.display = text;
    codings.push(coding);
  }
  const original = c(9);
  const firstText = c(2) || c(5);
  if (codings.length === 0) {
    const text = original || firstText || c(1);
    return text === '' ? undefined : { text };
  }
  const concept: CodeableConcept = { coding: codings };
  if (original !== '') concept.text = original;
  return concept;
}

/** EI parts, from a field (components) or from one component (subcomponents). */
export interface EntityIdentifier {
  readonly id: string;
  readonly namespace: string;
  readonly universalId: string;
  readonly universalIdType: string;
}

export function entityIdentifier(seg: Hl7Segment, field: number, component?: number, repetition = 1): EntityIdentifier {
  const part = (n: number): string =>
    fhirText(component === undefined ? seg.value(field, n, 1, repetition) : seg.value(field, component, n, repetition));
  return { id: part(1), namespace: part(2), universalId: part(3), universalIdType: part(4) };
}

/** A universal id (HD.2/HD.3, EI.3/EI.4) as a system URI, when it is one. */
export function universalSystem(universalId: string, type: string): string | undefined {
  const id = universalId.trim();
  const t = type.trim().toUpperCase();
  if (id === '') return undefined;
  if ((t === 'ISO' || t === '') && /^[0-2](\.(0|[1-9]\d*))+$/.test(id)) return `urn:oid:${id}`;
  if ((t === 'UUID' || t === 'GUID') && /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id)) return `urn:uuid:${id.toLowerCase()}`;
  if ((t === 'URI' || t === 'URL' || t === '') && /^(https?|urn):\S+$/.test(id)) return id;
  return undefined;
}

/**
 * CX → Identifier. System: the assigning authority's universal id (OID, UUID, URI) when given;
 * else the context's system for `kind` (configurable for patients), qualified by the authority's
 * namespace id so two authorities never share values. CX.5 → type (table 0203).
 */
export function identifierFromCx(ctx: Hl7Context, seg: Hl7Segment, field: number, repetition: number, kind: Hl7IdentifierKind): Identifier | undefined {
  const value = fhirText(seg.value(field, 1, 1, repetition));
  if (value === '') return undefined;
  const namespace = fhirText(seg.value(field, 4, 1, repetition));
  const universal = universalSystem(seg.value(field, 4, 2, repetition), seg.value(field, 4, 3, repetition));
  const configured = kind === 'patient' && ctx.options.identifierSystems?.patient;
  let system: string;
  if (universal !== undefined) system = universal;
  else if (configured) system = configured;
  else system = namespace === '' ? ctx.system(kind) : `${labedgeSystem(ctx.sourceId, kind)}:${urnSafe(namespace)}`;
  const identifier: Identifier = { system, value: identifierValue(value) };
  const type = fhirCode(seg.value(field, 5, 1, repetition));
  if (type !== '') identifier.type = { coding: [{ system: V2_TABLE('0203'), code: type }] };
  return identifier;
}

/** XPN → HumanName: 1 family (FN.1), 2 given, 3 further given names, 4 suffix, 5 prefix, 6 degree, 7 use. */
export function humanName(seg: Hl7Segment, field: number, repetition: number): HumanName | undefined {
  const c = (n: number, s = 1): string => fhirText(seg.value(field, n, s, repetition));
  const name: HumanName = {};
  const use = nameUse0200(c(7));
  if (use !== undefined) name.use = use;
  if (c(1) !== '') name.family = c(1);
  const given = [c(2), ...c(3).split(/\s+/)].filter((g) => g !== '');
  if (given.length > 0) name.given = given;
  if (c(5) !== '') name.prefix = [c(5)];
  const suffix = [c(4), c(6)].filter((s) => s !== '');
  if (suffix.length > 0) name.suffix = suffix;
  return name.family !== undefined || name.given !== undefined ? name : undefined;
}

/** XAD → Address: 1 street (SAD.1), 2 other designation, 3 city, 4 state, 5 postal code, 6 country, 7 type, 9 district. */
export function address(seg: Hl7Segment, field: number, repetition: number): Address | undefined {
  const c = (n: number, s = 1): string => fhirText(seg.value(field, n, s, repetition));
  const a: Address = {};
  const lines = [c(1), c(2)].filter((l) => l !== '');
  if (lines.length > 0) a.line = lines;
  if (c(3) !== '') a.city = c(3);
  if (c(9) !== '') a.district = c(9);
  if (c(4) !== '') a.state = c(4);
  if (c(5) !== '') a.postalCode = c(5);
  if (c(6) !== '') a.country = c(6);
  if (Object.keys(a).length === 0) return undefined;
  return { ...addressUse0190(c(7)), ...a };
}

/** XTN → ContactPoint: XTN.4 e-mail, else XTN.7 local number (with country/area/extension), else XTN.1 text. */
export function contactPoint(seg: Hl7Segment, field: number, repetition: number, defaultUse: 'home' | 'work'): ContactPoint | undefined {
  const c = (n: number): string => fhirText(seg.value(field, n, 1, repetition));
  const useCode = c(2).toUpperCase();
  const equipment = c(3).toUpperCase();
  const cp: ContactPoint = {};
  if (c(4) !== '' && (useCode === 'NET' || equipment === 'INTERNET' || c(4).includes('@'))) {
    cp.system = 'email';
    cp.value = c(4);
  } else {
    const local = c(7);
    const number = local === '' ? c(1) : [c(5) && `+${c(5)}`, c(6) && `(${c(6)})`, local].filter((p) => p !== '').join(' ') + (c(8) ? ` ext. ${c(8)}` : '');
    if (number === '') return undefined;
    cp.value = number;
    cp.system = equipment === 'FX' ? 'fax' : equipment === 'BP' ? 'pager' : 'phone';
  }
  cp.use = useCode === 'WPN' ? 'work' : useCode === 'PRN' ? 'home' : equipment === 'CP' ? 'mobile' : defaultUse;
  return cp;
}
