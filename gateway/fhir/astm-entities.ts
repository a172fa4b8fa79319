/**
 * Create-once resources: Device (H.5 sender, R.14 instrument), Patient (P), Specimen (O).
 * Each is a conditional create (`ifNoneExist` on its business identifier), so a replay finds the
 * resource created the first time instead of adding another.
 */
import type { Device, HumanName, Identifier, Patient, Reference, Resource, Specimen } from '@medplum/fhirtypes';
import type { AstmRecord } from '../astm/records.js';
import { administrativeGender, fhirCode, fhirText } from './astm-codes.js';
import { idText, type ResolvedContext } from './astm-context.js';
import { conditionalCreate, fullUrlFor } from './fhir-identity.js';
import { PHASE } from './mapping-state.js';
import { isPlaceholderId } from './placeholder-id.js';

const ref = <T extends Resource>(reference: string): Reference<T> => ({ reference });

/**
 * The sending system (H.5: name^version^serial, the common vendor layout). Its identifier is the
 * configured source id, so every message from one port names the same Device.
 */
export function mapSenderDevice(ctx: ResolvedContext, header: AstmRecord | undefined): Reference<Device> {
  const identifier = ctx.identifier('device', ctx.sourceId);
  const device: Device = { resourceType: 'Device', identifier: [identifier] };
  if (header !== undefined && header.hasContent(5)) {
    const [name, version, serial] = header.components(5).map(fhirText);
    if (name) device.deviceName = [{ name, type: 'model-name' }];
    if (version) device.version = [{ value: version }];
    if (serial) device.serialNumber = serial;
    if (name || version || serial) ctx.state.use(header, 5);
  }
  const fullUrl = fullUrlFor('Device', identifier);
  ctx.state.add(PHASE.device, fullUrl, device, conditionalCreate('Device', identifier));
  return ref(fullUrl);
}

/** The analytical unit named in R.14 (a module of the sender), with the sender as parent. */
export function mapInstrumentDevice(ctx: ResolvedContext, r: AstmRecord, sender: Reference<Device> | undefined): Reference<Device> | undefined {
  const id = idText(r, 14);
  if (id === '') return undefined;
  if (/^\d{8,14}$/.test(id)) {
    // A timestamp here means the instrument shifted its R fields (seen from Beckman DxH); an id
    // that changes every result would mint a Device per result.
    ctx.state.warn('R.14', 'holds a timestamp, not an instrument id; not mapped');
    return undefined;
  }
  const identifier = ctx.identifier('instrument', id);
  const device: Device = { resourceType: 'Device', identifier: [identifier] };
  if (sender !== undefined) device.parent = sender;
  const name = fhirText(r.component(14, 1));
  if (name) device.deviceName = [{ name, type: 'other' }];
  const fullUrl = fullUrlFor('Device', identifier);
  ctx.state.add(PHASE.device, fullUrl, device, conditionalCreate('Device', identifier));
  ctx.state.use(r, 14);
  return ref(fullUrl);
}

/**
 * Patient from P. Identifiers: P.3 practice-assigned (ctx patient system), P.4 lab-assigned,
 * P.5 third id; the first present is the business identifier. No identifier → no Patient.
 */
export function mapPatient(ctx: ResolvedContext, p: AstmRecord | undefined): Reference<Patient> | undefined {
  if (p === undefined) return undefined;
  const identifiers: Identifier[] = [];
  let placeholder: number | undefined;
  for (const [n, kind] of [[3, 'patient'], [4, 'patient-lab'], [5, 'patient-alt']] as const) {
    const value = idText(p, n);
    if (isPlaceholderId(value)) {
      if (value !== '') placeholder ??= n;
      continue;
    }
    identifiers.push(ctx.identifier(kind, value));
    ctx.state.use(p, n);
  }
  const primary = identifiers[0];
  if (primary === undefined) {
    if (placeholder !== undefined) ctx.state.warn(`P.${placeholder}`, 'placeholder patient id (such as 0 or unknown) is no identity; Patient omitted');
    else if ([6, 8, 9].some((n) => p.hasContent(n))) ctx.state.warn('P.3', 'patient data without a patient identifier; Patient omitted');
    return undefined;
  }
  const patient: Patient = { resourceType: 'Patient', identifier: identifiers };
  const name = humanName(p.components(6));
  if (name !== undefined) {
    patient.name = [name];
    ctx.state.use(p, 6);
  }
  const birthDate = ctx.dateTime(p, 8, 'date');
  if (birthDate !== undefined) patient.birthDate = birthDate;
  const sex = p.component(9, 1).trim();
  if (sex !== '') {
    const gender = administrativeGender(sex);
    if (gender === undefined) ctx.state.warn('P.9', 'unknown sex code; not mapped');
    else {
      patient.gender = gender;
      ctx.state.use(p, 9);
    }
  }
  const fullUrl = fullUrlFor('Patient', primary);
  ctx.state.add(PHASE.patient, fullUrl, patient, conditionalCreate('Patient', primary));
  return ref(fullUrl);
}

/** P.6 family^given^middle^suffix^prefix. */
function humanName(components: readonly string[]): HumanName | undefined {
  const [family, given, middle, suffix, prefix] = components.map(fhirText);
  const name: HumanName = {};
  if (family) name.family = family;
  const givens = [given, middle].filter((g): g is string => !!g);
  if (givens.length > 0) name.given = givens;
  if (suffix) name.suffix = [suffix];
  if (prefix) name.prefix = [prefix];
  return Object.keys(name).length > 0 ? name : undefined;
}

export interface SpecimenRef {
  readonly reference: Reference<Specimen>;
  /** Specimen id usable as a lasting identity (from O.3 only), for result identifiers. */
  readonly stableId?: string;
}

/**
 * Specimen from O.3 (specimen id, component 1) or else O.4 (instrument specimen id, all components).
 * O.4 is typically a rack/position or run number that the instrument reuses, so an O.4-only
 * specimen is scoped to the message (`{messageId}/{O.4}`): treating it as a lasting identity would
 * attach a later patient's results to an earlier patient's specimen.
 */
export function mapSpecimen(ctx: ResolvedContext, o: AstmRecord, subject: Reference<Patient> | undefined): SpecimenRef | undefined {
  const where = ctx.profile.specimenId;
  const accession =
    where === undefined
      ? fhirText(o.component(3, 1)) || idText(o, 3)
      : fhirText(o.component(where.field, where.component));
  if (o.repeats(where?.field ?? 3).filter((s) => s.trim() !== '').length > 1) ctx.state.warn(`O.${where?.field ?? 3}`, 'several specimen ids; the first is used');
  const instrumentId = idText(o, 4);
  if (accession !== '' && isPlaceholderId(accession)) ctx.state.warn(`O.${where?.field ?? 3}`, 'placeholder specimen id (such as 0) is no identity; not used');
  let identifier: Identifier;
  let stableId: string | undefined;
  if (!isPlaceholderId(accession)) {
    identifier = ctx.identifier('specimen', accession);
    stableId = accession;
    ctx.state.use(o, where?.field ?? 3);
  } else if (instrumentId !== '') {
    identifier = ctx.identifier('instrument-specimen', `${ctx.messageId}/${instrumentId}`);
    ctx.state.use(o, 4);
  } else {
    return undefined;
  }
  const specimen: Specimen = { resourceType: 'Specimen', identifier: [identifier] };
  if (subject !== undefined) specimen.subject = subject;
  const type = fhirText(o.component(16, 1));
  if (type !== '') {
    specimen.type = { coding: [{ system: ctx.system('specimen-type'), code: fhirCode(type) }], text: fhirText(o.field(16)) };
    ctx.state.use(o, 16);
  }
  const collected = ctx.dateTime(o, 8);
  if (collected !== undefined) specimen.collection = { collectedDateTime: collected };
  const fullUrl = fullUrlFor('Specimen', identifier);
  ctx.state.add(PHASE.specimen, fullUrl, specimen, conditionalCreate('Specimen', identifier));
  return stableId === undefined ? { reference: ref(fullUrl) } : { reference: ref(fullUrl), stableId };
}
