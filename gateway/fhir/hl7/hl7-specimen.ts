/**
 * Specimen from SPM (v2.5+) or, when an order has no SPM, from OBR-7..15 (the IG's ORU map).
 * Conditional create on the business identifier:
 * - SPM: `specimen` → SPM-2 placer and filler entity ids joined by `^` (both, because senders put
 *   a container or site name in one of them, as HAPI's OUL sample does); else SPM-30 accession;
 *   else tied to the message (`{messageId}/{segment}`), which a replay reproduces.
 * - OBR: `order-specimen` → the order key (one specimen per order).
 */
import type { CodeableConcept, Patient, Quantity, Reference, Specimen } from '@medplum/fhirtypes';
import type { Hl7Segment } from '../../hl7/parser.js';
import { fhirText } from '../astm-codes.js';
import { conditionalCreate, fullUrlFor } from '../fhir-identity.js';
import { PHASE } from '../mapping-state.js';
import type { Hl7Context } from './hl7-context.js';
import { V2_TABLE } from './hl7-codes.js';
import { codeableConcept, entityIdentifier, identifierFromCx } from './hl7-datatypes.js';
import type { SpecimenNode } from './hl7-groups.js';
import { parseDecimal, quantity, unitAt } from './hl7-quantity.js';
import { notesFrom } from './hl7-text.js';
import { isPlaceholderId } from '../placeholder-id.js';

export interface MappedSpecimen {
  readonly reference: Reference<Specimen>;
  /** The business key, usable to anchor results when the order has no number. */
  readonly key: string;
}

/** SPM-2 key: placer and filler entity ids (EIP components 1 and 2, EI in subcomponents). */
export function specimenKey(spm: Hl7Segment): string | undefined {
  // A placeholder (`0`, `-`) is no identity: it would merge every such specimen of the source.
  const ids = [1, 2].map((c) => entityIdentifier(spm, 2, c).id).filter((id) => !isPlaceholderId(id));
  if (ids.length > 0) return ids.join('^');
  const accession = fhirText(spm.value(30));
  return isPlaceholderId(accession) ? undefined : accession;
}

function cq(ctx: Hl7Context, seg: Hl7Segment, field: number): Quantity | undefined {
  const value = parseDecimal(seg.value(field, 1));
  if (value === undefined) return undefined;
  ctx.use(seg, field);
  return quantity(value, unitAt(ctx, seg, field, 2));
}

function concept(ctx: Hl7Context, seg: Hl7Segment, field: number, defaultSystem?: string): CodeableConcept | undefined {
  const c = codeableConcept(ctx, seg, field, 1, defaultSystem);
  if (c !== undefined) ctx.use(seg, field);
  return c;
}

export function mapSpmSpecimen(ctx: Hl7Context, node: SpecimenNode, subject: Reference<Patient> | undefined): MappedSpecimen {
  const spm = node.spm;
  const stable = specimenKey(spm);
  const key = stable ?? `${ctx.messageId}/${spm.index}`;
  if (stable !== undefined) ctx.use(spm, 2);
  const identifier = ctx.identifier('specimen', key);
  const specimen: Specimen = { resourceType: 'Specimen', identifier: [identifier] };
  const accession = identifierFromCx(ctx, spm, 30, 1, 'specimen');
  if (accession !== undefined) {
    specimen.accessionIdentifier = accession;
    ctx.use(spm, 30);
  }
  const type = concept(ctx, spm, 4, V2_TABLE('0487'));
  if (type !== undefined) specimen.type = type;
  if (subject !== undefined) specimen.subject = subject;
  const collection: NonNullable<Specimen['collection']> = {};
  const start = ctx.dateTime(spm, 17, 'dateTime', 1);
  const end = ctx.dateTime(spm, 17, 'dateTime', 2);
  if (start !== undefined && end !== undefined && end !== start) collection.collectedPeriod = { start, end };
  else if (start !== undefined) collection.collectedDateTime = start;
  const method = concept(ctx, spm, 7, V2_TABLE('0488'));
  if (method !== undefined) collection.method = method;
  const site = concept(ctx, spm, 8);
  if (site !== undefined) collection.bodySite = site;
  const amount = cq(ctx, spm, 12);
  if (amount !== undefined) collection.quantity = amount;
  if (Object.keys(collection).length > 0) specimen.collection = collection;
  const received = ctx.dateTime(spm, 18);
  if (received !== undefined) specimen.receivedTime = received;
  const available = spm.value(20).trim().toUpperCase();
  if (available === 'Y' || available === 'N') {
    specimen.status = available === 'Y' ? 'available' : 'unavailable';
    ctx.use(spm, 20);
  }
  const conditions: CodeableConcept[] = [];
  for (const field of [21, 24]) {
    for (let r = 1; r <= spm.repetitionCount(field); r++) {
      const c = codeableConcept(ctx, spm, field, r, V2_TABLE(field === 21 ? '0490' : '0493'));
      if (c !== undefined) conditions.push(c);
    }
    if (spm.has(field)) ctx.use(spm, field);
  }
  // SPM-21 reject reason: the specimen cannot be used (HAPI's OUL sample: broken container).
  if (spm.has(21)) specimen.status = 'unsatisfactory';
  if (conditions.length > 0) specimen.condition = conditions;
  const container = concept(ctx, spm, 27);
  if (container !== undefined) specimen.container = [{ type: container }];
  const description = fhirText(spm.value(14));
  const notes = notesFrom(ctx, node.notes);
  if (description !== '') {
    notes.unshift({ text: description });
    ctx.use(spm, 14);
  }
  if (notes.length > 0) specimen.note = notes;
  const fullUrl = fullUrlFor('Specimen', identifier);
  ctx.state.add(PHASE.specimen, fullUrl, specimen, conditionalCreate('Specimen', identifier));
  return { reference: { reference: fullUrl }, key };
}

/** OBR-7/8 collection time, OBR-9 volume, OBR-14 received, OBR-15 source → Specimen; undefined when none is sent. */
export function mapObrSpecimen(ctx: Hl7Context, obr: Hl7Segment, orderKey: string, subject: Reference<Patient> | undefined): MappedSpecimen | undefined {
  if (![7, 8, 9, 14, 15].some((n) => obr.has(n))) return undefined;
  const identifier = ctx.identifier('order-specimen', orderKey);
  const specimen: Specimen = { resourceType: 'Specimen', identifier: [identifier] };
  // OBR-15 (SPS, v2.3–2.6): the source is component 1, a CWE in subcomponents.
  const code = fhirText(obr.value(15, 1, 1));
  const text = fhirText(obr.value(15, 1, 2));
  const system = fhirText(obr.value(15, 1, 3));
  if (code !== '' || text !== '') {
    const uri = ctx.codeSystem(system);
    specimen.type = uri === undefined && text === '' ? { text: code } : { coding: [{ ...(uri && { system: uri }), ...(code && { code }), ...(text && { display: text }) }], ...(text && { text }) };
    ctx.use(obr, 15);
  }
  if (subject !== undefined) specimen.subject = subject;
  const collection: NonNullable<Specimen['collection']> = {};
  const start = ctx.dateTime(obr, 7);
  const end = ctx.dateTime(obr, 8);
  if (start !== undefined && end !== undefined && end !== start) collection.collectedPeriod = { start, end };
  else if (start !== undefined) collection.collectedDateTime = start;
  const volume = cq(ctx, obr, 9);
  if (volume !== undefined) collection.quantity = volume;
  if (Object.keys(collection).length > 0) specimen.collection = collection;
  const received = ctx.dateTime(obr, 14);
  if (received !== undefined) specimen.receivedTime = received;
  const fullUrl = fullUrlFor('Specimen', identifier);
  ctx.state.add(PHASE.specimen, fullUrl, specimen, conditionalCreate('Specimen', identifier));
  return { reference: { reference: fullUrl }, key: orderKey };
}
