/**
 * Create-once resources: Patient (PID) and Device (the sender, MSH-3; the equipment, OBX-18).
 * Each is a conditional create on its business identifier, so a replay finds the resource created
 * the first time instead of adding another.
 */
import type { Device, Extension, Identifier, Patient, Reference } from '@medplum/fhirtypes';
import type { Hl7Segment } from '../../hl7/parser.js';
import { fhirText } from '../astm-codes.js';
import { conditionalCreate, fullUrlFor, identifierValue } from '../fhir-identity.js';
import { PHASE } from '../mapping-state.js';
import type { Hl7Context } from './hl7-context.js';
import { gender0001 } from './hl7-codes.js';
import { address, contactPoint, entityIdentifier, humanName, identifierFromCx, universalSystem } from './hl7-datatypes.js';
import { isPlaceholderId } from '../placeholder-id.js';

const BIRTH_TIME = 'http://hl7.org/fhir/StructureDefinition/patient-birthTime';

/**
 * PID → Patient. Identifiers: PID-3 (all repetitions), then PID-2 and PID-4 (older versions); the
 * first is the business identifier; CX.5 type SS (social security number) is left out. No identifier → no Patient (a warning when PID has other data).
 * PID-5 names, PID-7 birth date (time of day → patient-birthTime), PID-8 gender, PID-11 addresses,
 * PID-13/14 home/work telecom, PID-29/30 death.
 */
export function mapPatient(ctx: Hl7Context, pid: Hl7Segment | undefined): Reference<Patient> | undefined {
  if (pid === undefined) return undefined;
  const identifiers: Identifier[] = [];
  for (const [field, kind] of [[3, 'patient'], [2, 'patient-external'], [4, 'patient-alt']] as const) {
    const before = identifiers.length;
    for (let r = 1; r <= pid.repetitionCount(field); r++) {
      // Minimum necessary: a social security number is not needed to file a result, so it
      // stays on the box wherever the sender put it (PID-19 is never mapped for the same reason).
      const cx1 = pid.value(field, 1, 1, r);
      if (cx1.trim() !== '' && isPlaceholderId(cx1)) {
        ctx.warn(`PID-${field}`, 'placeholder patient id (such as 0 or unknown) is no identity; not used');
        continue;
      }
      if (pid.value(field, 5, 1, r).trim().toUpperCase() === 'SS') {
        ctx.warn(`PID-${field}`, 'an identifier of type SS (social security number) is not sent upstream');
        continue;
      }
      const id = identifierFromCx(ctx, pid, field, r, kind);
      if (id !== undefined) identifiers.push(id);
    }
    if (identifiers.length > before) ctx.use(pid, field);
  }
  const primary = identifiers[0];
  if (primary === undefined) {
    if ([5, 7, 8].some((n) => pid.has(n))) ctx.warn('PID-3', 'patient data without a patient identifier; Patient omitted');
    return undefined;
  }
  const patient: Patient = { resourceType: 'Patient', identifier: identifiers };
  const names = repeat(pid, 5, (r) => humanName(pid, 5, r));
  // XPN.15 "called by" → its own HumanName with use nickname (IG XPN map).
  names.push(...repeat(pid, 5, (r) => {
    const nickname = fhirText(pid.value(5, 15, 1, r));
    return nickname === '' ? undefined : { use: 'nickname' as const, given: [nickname] };
  }));
  if (names.length > 0) {
    patient.name = names;
    ctx.use(pid, 5);
  }
  const birthDate = ctx.dateTime(pid, 7, 'date');
  if (birthDate !== undefined) {
    patient.birthDate = birthDate;
    const birthTime = ctx.birthTime(pid, 7);
    if (birthTime !== undefined) {
      const ext: Extension = { url: BIRTH_TIME, valueDateTime: birthTime };
      (patient as Patient & { _birthDate?: { extension: Extension[] } })._birthDate = { extension: [ext] };
    }
  }
  const sex = pid.value(8).trim();
  if (sex !== '') {
    const gender = gender0001(sex);
    if (gender === undefined) ctx.warn('PID-8', 'unknown administrative sex code; not mapped');
    else {
      patient.gender = gender;
      ctx.use(pid, 8);
    }
  }
  const addresses = repeat(pid, 11, (r) => address(pid, 11, r));
  if (addresses.length > 0) {
    patient.address = addresses;
    ctx.use(pid, 11);
  }
  const telecom = [...repeat(pid, 13, (r) => contactPoint(pid, 13, r, 'home')), ...repeat(pid, 14, (r) => contactPoint(pid, 14, r, 'work'))];
  if (telecom.length > 0) {
    patient.telecom = telecom;
    ctx.use(pid, 13, 14);
  }
  const deceased = ctx.dateTime(pid, 29);
  const deathFlag = pid.value(30).trim().toUpperCase();
  if (deceased !== undefined) patient.deceasedDateTime = deceased;
  else if (deathFlag === 'Y' || deathFlag === 'N') {
    patient.deceasedBoolean = deathFlag === 'Y';
    ctx.use(pid, 30);
  }
  const fullUrl = fullUrlFor('Patient', primary);
  ctx.state.add(PHASE.patient, fullUrl, patient, conditionalCreate('Patient', primary));
  return { reference: fullUrl };
}

function repeat<T>(seg: Hl7Segment, field: number, read: (repetition: number) => T | undefined): T[] {
  const out: T[] = [];
  for (let r = 1; r <= seg.repetitionCount(field); r++) {
    const v = read(r);
    if (v !== undefined) out.push(v);
  }
  return out;
}

/**
 * The sending system. Its identifier is the configured source id, so every message from one
 * instrument names the same Device; MSH-3 (sending application) gives its name.
 */
export function mapSenderDevice(ctx: Hl7Context, msh: Hl7Segment | undefined): Reference<Device> {
  const identifier = ctx.identifier('device', ctx.sourceId);
  const device: Device = { resourceType: 'Device', identifier: [identifier] };
  const name = msh === undefined ? '' : fhirText(msh.value(3));
  if (msh !== undefined && name !== '') {
    device.deviceName = [{ name, type: 'model-name' }];
    ctx.use(msh, 3);
  }
  const fullUrl = fullUrlFor('Device', identifier);
  ctx.state.add(PHASE.device, fullUrl, device, conditionalCreate('Device', identifier));
  return { reference: fullUrl };
}

/**
 * OBX-18 equipment instance identifier (EI, first repetition) → Device with that identifier and
 * the sender as parent. Further repetitions are listed as more identifiers of the same Device.
 */
export function mapEquipmentDevice(ctx: Hl7Context, obx: Hl7Segment, sender: Reference<Device> | undefined): Reference<Device> | undefined {
  const identifiers: Identifier[] = [];
  for (let r = 1; r <= obx.repetitionCount(18); r++) {
    const ei = entityIdentifier(obx, 18, undefined, r);
    if (ei.id === '') continue;
    const universal = universalSystem(ei.universalId, ei.universalIdType);
    const key = [ei.id, ei.namespace].filter((p) => p !== '').join('^');
    const id = universal === undefined ? ctx.identifier('instrument', key) : { system: universal, value: identifierValue(ei.id) };
    if (!identifiers.some((i) => i.system === id.system && i.value === id.value)) identifiers.push(id);
  }
  const primary = identifiers[0];
  if (primary === undefined) return undefined;
  const device: Device = { resourceType: 'Device', identifier: identifiers };
  if (sender !== undefined) device.parent = sender;
  const fullUrl = fullUrlFor('Device', primary);
  ctx.state.add(PHASE.device, fullUrl, device, conditionalCreate('Device', primary));
  ctx.use(obx, 18);
  return { reference: fullUrl };
}
