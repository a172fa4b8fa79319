/**
 * ORC/OBR → ServiceRequest (conditional create) and, for result messages, DiagnosticReport
 * (conditional update: a corrected report replaces the one it corrects).
 *
 * Order identity: the placer order number (ORC-2/OBR-2, EI.1) when sent, else the filler order
 * number (ORC-3/OBR-3), so an ORM/OML order and the ORU that reports it (which carries both) name
 * the same ServiceRequest. Without either, the order is keyed on its specimen, else on the message
 * (`{messageId}/{segment}`). With the `stableOrderIds: false` profile, order numbers are treated as
 * reused by the instrument and the key is always tied to the message.
 */
import type { CodeableConcept, DiagnosticReport, Identifier, Meta, Observation, Patient, Reference, ServiceRequest, Specimen } from '@medplum/fhirtypes';
import type { Hl7Segment } from '../../hl7/parser.js';
import { DIAGNOSTIC_SERVICE_SECTION, LOINC, reportStatus as statusFromResults, type ObservationStatus } from '../astm-codes.js';
import { conditionalCreate, conditionalUpdate, fullUrlFor } from '../fhir-identity.js';
import { PHASE } from '../mapping-state.js';
import { keyPart, type Hl7Context } from './hl7-context.js';
import { reportStatus0123, requestStatus0038, V2_TABLE } from './hl7-codes.js';
import { codeableConcept, entityIdentifier } from './hl7-datatypes.js';
import type { OrderNode } from './hl7-groups.js';
import { notesFrom } from './hl7-text.js';
import { isPlaceholderId } from '../placeholder-id.js';

export interface OrderIds {
  /** Key for result/report identifiers, or undefined when the order carries no number. */
  readonly key?: string;
  /** Typed order identifiers (PLAC, FILL), the business one first. */
  readonly identifiers: Identifier[];
}

/** OBR's number, else ORC's; the ORC copy counts as mapped when it says the same. */
function orderNumber(ctx: Hl7Context, order: OrderNode, field: 2 | 3): string {
  const segs = [order.obr, order.orc].filter((s): s is Hl7Segment => s !== undefined);
  const sent = segs.map((s) => entityIdentifier(s, field).id).find((v) => v !== '') ?? '';
  // A placeholder (`0`, `-`) is no order number: as a key it would merge orders, specimens and
  // results of different messages (and patients); the key falls back to the message.
  if (sent !== '' && isPlaceholderId(sent)) {
    ctx.warn(`OBR-${field}`, 'placeholder order number (such as 0) is no identity; not used');
    return '';
  }
  const id = sent;
  if (id !== '') for (const s of segs) if (entityIdentifier(s, field).id === id) ctx.use(s, field);
  return id;
}

export function orderIds(ctx: Hl7Context, order: OrderNode): OrderIds {
  const placer = orderNumber(ctx, order, 2);
  const filler = orderNumber(ctx, order, 3);
  const identifiers: Identifier[] = [];
  const typed = (kind: 'order-placer' | 'order-filler', value: string, code: string): Identifier => ({
    ...ctx.identifier(kind, value),
    type: { coding: [{ system: V2_TABLE('0203'), code }] },
  });
  if (placer !== '') identifiers.push(typed('order-placer', placer, 'PLAC'));
  if (filler !== '') identifiers.push(typed('order-filler', filler, 'FILL'));
  const anchor = order.obr ?? order.orc;
  if (ctx.profile.stableOrderIds === false) return { key: `message/${ctx.messageId}/${anchor?.index ?? 0}`, identifiers };
  const key = placer !== '' ? `placer/${keyPart(placer)}` : filler !== '' ? `filler/${keyPart(filler)}` : undefined;
  return key === undefined ? { identifiers } : { key, identifiers };
}

export interface OrderLinks {
  readonly subject: Reference<Patient>;
  readonly specimens: readonly Reference<Specimen>[];
  readonly meta?: Meta;
}

function orderCode(ctx: Hl7Context, obr: Hl7Segment | undefined): CodeableConcept | undefined {
  if (obr === undefined) return undefined;
  const code = codeableConcept(ctx, obr, 4, 1, ctx.system('test-code'));
  if (code !== undefined) ctx.use(obr, 4);
  return code;
}

function requestPriority(code: string): ServiceRequest['priority'] {
  switch (code.trim().toUpperCase()) {
    case 'S': return 'stat';
    case 'A': return 'asap';
    case 'R': return 'routine';
    default: return undefined;
  }
}

export function mapServiceRequest(ctx: Hl7Context, order: OrderNode, ids: OrderIds, key: string, links: OrderLinks): Reference<ServiceRequest> {
  const { orc, obr } = order;
  const business = ids.identifiers[0] ?? ctx.identifier('order', key);
  const identifiers = ids.identifiers.length > 0 ? ids.identifiers : [business];
  let status = orc === undefined ? undefined : requestStatus0038(orc.value(5));
  if (status !== undefined) ctx.use(orc, 5);
  else if (orc?.has(5) === true) ctx.warn('ORC-5', 'unknown order status; ServiceRequest.status from the results');
  if (status === undefined) {
    const result = obr?.value(25).trim().toUpperCase() ?? '';
    status = result === 'F' || result === 'C' ? 'completed' : result === 'X' ? 'revoked' : 'active';
  }
  const sr: ServiceRequest = { resourceType: 'ServiceRequest', identifier: identifiers, status, intent: 'order', subject: links.subject };
  if (links.meta !== undefined) sr.meta = links.meta;
  const code = orderCode(ctx, obr);
  if (code !== undefined) sr.code = code;
  const priority = obr === undefined ? undefined : requestPriority(obr.value(5)) ?? requestPriority(obr.value(27, 6));
  if (priority !== undefined) {
    sr.priority = priority;
    ctx.use(obr, obr?.has(5) === true ? 5 : 27);
  }
  const authored = (orc && ctx.dateTime(orc, 9)) ?? (obr && ctx.dateTime(obr, 6));
  if (authored !== undefined) sr.authoredOn = authored;
  if (links.specimens.length > 0) sr.specimen = [...links.specimens];
  const notes = notesFrom(ctx, order.notes);
  if (notes.length > 0) sr.note = notes;
  if (orc !== undefined && orc.value(1).trim() !== '') ctx.use(orc, 1);
  const fullUrl = fullUrlFor('ServiceRequest', business);
  ctx.state.add(PHASE.request, fullUrl, sr, conditionalCreate('ServiceRequest', business));
  return { reference: fullUrl };
}

const LAB_REPORT = { system: LOINC, code: '11502-2', display: 'Laboratory report' };

export interface ReportInput {
  readonly key: string;
  readonly ids: OrderIds;
  readonly results: readonly { reference: Reference<Observation>; status: ObservationStatus }[];
  readonly subject?: Reference<Patient>;
  readonly request?: Reference<ServiceRequest>;
  readonly specimens: readonly Reference<Specimen>[];
  readonly meta?: Meta;
}

export function mapReport(ctx: Hl7Context, order: OrderNode, input: ReportInput): void {
  const obr = order.obr;
  const identifier = ctx.identifier('report', ctx.state.occurrence('report', input.key));
  const rawStatus = obr?.value(25).trim() ?? '';
  let status = reportStatus0123(rawStatus);
  if (status !== undefined) ctx.use(obr, 25);
  else {
    if (rawStatus !== '') ctx.warn('OBR-25', 'result status not mapped; DiagnosticReport.status unknown');
    status = rawStatus === '' ? statusFromResults(input.results.map((r) => r.status)) : 'unknown';
  }
  const section = obr === undefined ? '' : obr.value(24).trim();
  if (section !== '') ctx.use(obr, 24);
  const report: DiagnosticReport = {
    resourceType: 'DiagnosticReport',
    identifier: [identifier, ...input.ids.identifiers],
    status,
    category: [{ coding: [section === '' ? { system: DIAGNOSTIC_SERVICE_SECTION, code: 'LAB', display: 'Laboratory' } : { system: DIAGNOSTIC_SERVICE_SECTION, code: section }] }],
    code: orderCode(ctx, obr) ?? { coding: [LAB_REPORT] },
  };
  if (input.meta !== undefined) report.meta = input.meta;
  if (input.request !== undefined) report.basedOn = [input.request];
  if (input.subject !== undefined) report.subject = input.subject;
  if (obr !== undefined) {
    const start = ctx.dateTime(obr, 7);
    const end = ctx.dateTime(obr, 8);
    if (start !== undefined && end !== undefined && end !== start) report.effectivePeriod = { start, end };
    else if (start !== undefined) report.effectiveDateTime = start;
    const issued = ctx.dateTime(obr, 22, 'instant');
    if (issued !== undefined) report.issued = issued;
  }
  if (input.specimens.length > 0) report.specimen = [...input.specimens];
  report.result = input.results.map((r) => r.reference);
  const fullUrl = fullUrlFor('DiagnosticReport', identifier);
  ctx.state.add(PHASE.report, fullUrl, report, conditionalUpdate('DiagnosticReport', identifier));
}
