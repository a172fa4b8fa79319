/**
 * OBX → Observation, written as a conditional update (`PUT Observation?identifier=…`), so a resend
 * updates and a correction (OBX-11 = C) replaces the Observation it corrects.
 *
 * Business identifier `result` → `{anchor}/{test}[/{OBX-4}]`: the anchor is the order key (placer or
 * filler order number), else the specimen key, else the message; the test is OBX-3's first code
 * (else its text, else `set/{OBX-1}`); OBX-4 sub-id tells apart repeated tests. A key that repeats
 * within one message gets `#2`, `#3`… (mapping-state.ts).
 *
 * OBX-11 policy (table 0085, hl7-codes.ts): codes the IG leaves unmatched, and X, are kept as an
 * `alternate-codes` extension on `_status` holding the v2 code, so the original is never lost.
 */
import type { CodeableConcept, Device, Extension, Meta, Observation, Patient, Reference, ServiceRequest, Specimen } from '@medplum/fhirtypes';
import type { Hl7Segment } from '../../hl7/parser.js';
import { fhirCode, fhirText, OBSERVATION_CATEGORY, type ObservationStatus } from '../astm-codes.js';
import { conditionalUpdate, fullUrlFor } from '../fhir-identity.js';
import { PHASE } from '../mapping-state.js';
import { keyPart, type Hl7Context } from './hl7-context.js';
import { interpretation0078, observationStatus0085, V2_TABLE } from './hl7-codes.js';
import { codeableConcept, entityIdentifier } from './hl7-datatypes.js';
import { mapEquipmentDevice } from './hl7-entities.js';
import type { ResultNode } from './hl7-groups.js';
import { referenceRange, unitAt } from './hl7-quantity.js';
import { notesFrom } from './hl7-text.js';
import { absent, observationValue } from './hl7-value.js';

export const ALTERNATE_CODES = 'http://hl7.org/fhir/StructureDefinition/alternate-codes';

export interface ResultLinks {
  /** Order key, specimen key or message id: what the result identifier is anchored on. */
  readonly anchor: string;
  readonly subject?: Reference<Patient>;
  readonly specimen?: Reference<Specimen>;
  readonly request?: Reference<ServiceRequest>;
  readonly sender?: Reference<Device>;
  readonly meta?: Meta;
  /** OBR or SPM time used when OBX-14 is empty. */
  readonly effective?: string;
  readonly issued?: string;
}

export interface MappedResult {
  readonly reference: Reference<Observation>;
  readonly status: ObservationStatus;
}

function testKey(obx: Hl7Segment): string {
  const code = fhirCode(obx.value(3, 1)) || fhirCode(obx.value(3, 4));
  if (code !== '') return keyPart(code);
  const text = fhirCode(obx.value(3, 2)) || fhirCode(obx.value(3, 9));
  if (text !== '') return `text/${keyPart(text)}`;
  const set = fhirCode(obx.value(1));
  return set !== '' ? `set/${keyPart(set)}` : `segment/${obx.index}`;
}

function status(ctx: Hl7Context, obx: Hl7Segment): { status: ObservationStatus; extension?: Extension; notAsked?: boolean } {
  const raw = fhirCode(obx.value(11));
  const mapped = observationStatus0085(raw);
  if (mapped === undefined) {
    ctx.warn('OBX-11', raw === '' ? 'no result status; Observation.status unknown' : 'unknown result status; Observation.status unknown');
    return { status: 'unknown' };
  }
  ctx.use(obx, 11);
  if (mapped.matched && raw.toUpperCase() !== 'X') return { status: mapped.status };
  const extension: Extension = { url: ALTERNATE_CODES, valueCodeableConcept: { coding: [{ system: V2_TABLE('0085'), code: raw.toUpperCase() }] } };
  return { status: mapped.status, extension, ...(mapped.notAsked && { notAsked: true }) };
}

function interpretations(ctx: Hl7Context, obx: Hl7Segment): CodeableConcept[] {
  const out: CodeableConcept[] = [];
  const seen = new Set<string>();
  let unmatched = false;
  for (let r = 1; r <= obx.repetitionCount(8); r++) {
    const code = fhirCode(obx.value(8, 1, 1, r));
    const found = interpretation0078(code);
    if (found === undefined || seen.has(found.coding.code ?? '')) continue;
    seen.add(found.coding.code ?? '');
    if (!found.mapped) unmatched = true;
    const text = fhirText(obx.value(8, 2, 1, r));
    out.push(text !== '' && !found.mapped ? { coding: [found.coding], text } : { coding: [found.coding] });
  }
  if (unmatched) ctx.warn('OBX-8', 'abnormal flag not in the interpretation value set; kept as a table 0078 code');
  if (out.length > 0) ctx.use(obx, 8);
  return out;
}

export function mapObservation(ctx: Hl7Context, node: ResultNode, links: ResultLinks): MappedResult {
  const obx = node.obx;
  ctx.use(obx, 1);
  let code = codeableConcept(ctx, obx, 3, 1, ctx.system('test-code'));
  if (code === undefined) {
    ctx.warn('OBX-3', 'no observation identifier; Observation.code is text only');
    code = { text: 'Unidentified HL7 observation' };
  } else ctx.use(obx, 3);
  const subId = fhirCode(obx.raw(4) === '' ? '' : [1, 2, 3, 4].map((c) => obx.value(4, c)).filter((p) => p.trim() !== '').join('^'));
  if (subId !== '') ctx.use(obx, 4);
  const base = `${links.anchor}/${testKey(obx)}${subId === '' ? '' : `/${keyPart(subId)}`}`;
  const identifier = ctx.identifier('result', ctx.state.occurrence('result', base));
  const st = status(ctx, obx);
  const obs: Observation = {
    resourceType: 'Observation',
    identifier: [identifier],
    status: st.status,
    category: [{ coding: [{ system: OBSERVATION_CATEGORY, code: 'laboratory', display: 'Laboratory' }] }],
    code,
  };
  if (st.extension !== undefined) (obs as Observation & { _status?: { extension: Extension[] } })._status = { extension: [st.extension] };
  if (links.meta !== undefined) obs.meta = links.meta;
  const instance = entityIdentifier(obx, 21);
  if (instance.id !== '') {
    obs.identifier?.push(ctx.identifier('observation-instance', [instance.id, instance.namespace].filter((p) => p !== '').join('^')));
    ctx.use(obx, 21);
  }
  if (links.request !== undefined) obs.basedOn = [links.request];
  if (links.subject !== undefined) obs.subject = links.subject;
  const effective = ctx.dateTime(obx, 14) ?? links.effective;
  if (effective !== undefined) obs.effectiveDateTime = effective;
  if (links.issued !== undefined) obs.issued = links.issued;

  const unit = unitAt(ctx, obx, 6);
  const value = observationValue(ctx, obx, code, unit);
  Object.assign(obs, value);
  const valued = Object.keys(value).some((k) => k.startsWith('value') || k === 'component' || k === 'extension');
  if (unit !== undefined && (value.valueQuantity !== undefined || value.valueRange !== undefined || value.component !== undefined)) ctx.use(obx, 6);
  if (!valued && obs.dataAbsentReason === undefined) {
    if (st.notAsked === true) obs.dataAbsentReason = absent('not-asked', 'Not Asked');
    else if (st.status === 'cancelled') obs.dataAbsentReason = absent('not-performed', 'Not Performed');
  }
  const flags = interpretations(ctx, obx);
  if (flags.length > 0) obs.interpretation = flags;
  const range = referenceRange(ctx, obx, unit);
  if (range !== undefined) {
    obs.referenceRange = [range];
    if (unit !== undefined && (range.low !== undefined || range.high !== undefined)) ctx.use(obx, 6);
  }
  const method = codeableConcept(ctx, obx, 17);
  if (method !== undefined) {
    obs.method = method;
    ctx.use(obx, 17);
  }
  const site = codeableConcept(ctx, obx, 20);
  if (site !== undefined) {
    obs.bodySite = site;
    ctx.use(obx, 20);
  }
  if (links.specimen !== undefined) obs.specimen = links.specimen;
  const device = mapEquipmentDevice(ctx, obx, links.sender) ?? links.sender;
  if (device !== undefined) obs.device = device;
  const notes = notesFrom(ctx, node.notes);
  if (notes.length > 0) obs.note = notes;
  const fullUrl = fullUrlFor('Observation', identifier);
  ctx.state.add(PHASE.observation, fullUrl, obs, conditionalUpdate('Observation', identifier));
  return { reference: { reference: fullUrl }, status: st.status };
}
