/**
 * ASTM E1394 message → one FHIR R4 transaction Bundle (pure: no I/O, no clock, deterministic).
 *
 * Identity and idempotency (invariant 2). Systems are `urn:labedge:{sourceId}:{kind}`; the patient
 * and specimen systems can be overridden through `ctx.identifierSystems`.
 * | resource         | business identifier: kind → value                                            | write                 |
 * |------------------|-------------------------------------------------------------------------------|-----------------------|
 * | Device (sender)  | `device` → sourceId (H.5 gives name, version, serial); only with results      | POST + ifNoneExist    |
 * | Device (R.14)    | `instrument` → R.14 components joined by `^`                                  | POST + ifNoneExist    |
 * | Patient          | first of P.3 (`patient`), P.4 (`patient-lab`), P.5 (`patient-alt`)           | POST + ifNoneExist    |
 * | Specimen         | O.3 comp. 1 (`specimen`); else `{messageId}/{O.4}` (`instrument-specimen`)    | POST + ifNoneExist    |
 * | ServiceRequest   | `order` → `{specimen}/{O.5 codes joined by +}`; else `{messageId}/{record}`  | POST + ifNoneExist    |
 * | Observation      | `result` → `{specimen}/{test code}`; else `{messageId}/{record}`              | PUT Observation?identifier=… |
 * | DiagnosticReport | `report` → the order key                                                      | PUT DiagnosticReport?identifier=… |
 * - "specimen" means an O.3 specimen id only: instruments reuse O.4 ids (see mapSpecimen).
 * - An order without O.5 (Stago) is named after the test codes of its results.
 * - When a result or report key repeats inside one bundle (a rerun of a test on the same specimen),
 *   the repeats get `#2`, `#3`… (compared case-insensitively), so nothing in one message overwrites
 *   anything else in it; a later message with the same specimen and test updates the first one,
 *   which is how a correction (R.9 = C) replaces the result it corrects.
 * - `{record}` is the record number within the converted text, so a replay gives the same keys.
 * - Test codes follow the rule in astm-codes.ts; identifier values never contain `|` and the
 *   queries are escaped as fhir-identity.ts describes; fullUrls derive from the identifiers, so
 *   the same input always gives a byte-identical bundle. Entries are ordered so references point
 *   backwards (Device, Patient, Specimen, ServiceRequest, Observation, DiagnosticReport).
 *
 * A message without a patient identifier has no Patient and no ServiceRequest (which requires a
 * subject); Specimen, Observations and DiagnosticReport are still produced. A message without
 * results (a query, an order download) produces no Device. Warnings and the unmapped list name
 * positions only (`P.13`, `record 7`), never content.
 */
import type { Bundle, Coding, Meta, Patient, Reference, ServiceRequest } from '@medplum/fhirtypes';
import { splitMessages, type AstmMessage, type OrderNode } from '../astm/message.js';
import { formatRecordWarning, type AstmRecord } from '../astm/records.js';
import { fhirText, requestPriority, serviceRequestStatus, type TestCode } from './astm-codes.js';
import { ResolvedContext, type AstmMappingContext } from './astm-context.js';
import { mapPatient, mapSenderDevice, mapSpecimen } from './astm-entities.js';
import { localCoding, mapObservation, mapReport, notesFrom, testCodeOf, type ResultLinks } from './astm-results.js';
import { conditionalCreate, fullUrlFor } from './fhir-identity.js';
import { MappingState, PHASE } from './mapping-state.js';

export type { AstmMappingContext } from './astm-context.js';

export interface MappingResult {
  /** A transaction Bundle. */
  bundle: Bundle;
  warnings: string[];
  /** Input positions with content that the mapping did not use, e.g. `P.13`, `R.10`. */
  unmapped: string[];
}

const PROCESSING_ID_SYSTEM = 'urn:labedge:astm:processing-id';

export function astmToFhir(message: AstmMessage, ctx: AstmMappingContext): MappingResult {
  return astmMessagesToFhir([message], ctx);
}

/** Several messages from one raw text (one stored message) → one Bundle. */
export function astmMessagesToFhir(messages: readonly AstmMessage[], options: AstmMappingContext): MappingResult {
  const state = new MappingState();
  const ctx = new ResolvedContext(options, state);
  const records: AstmRecord[] = [];
  let timestamp: string | undefined;
  for (const message of messages) {
    for (const w of message.warnings) state.warnings.push(formatRecordWarning(w));
    if (message.header !== undefined) timestamp ??= ctx.dateTime(message.header, 14, 'instant');
    mapMessage(ctx, message);
    records.push(...message.records);
  }
  const bundle: Bundle = { resourceType: 'Bundle', type: 'transaction' };
  const messageId = fhirText(options.messageId);
  if (messageId !== '') bundle.identifier = ctx.identifier('message', messageId);
  if (timestamp !== undefined) bundle.timestamp = timestamp;
  bundle.entry = state.entries();
  return { bundle, warnings: [...new Set(state.warnings)], unmapped: state.unmapped(records) };
}

/** Parse + group + map: `text` holds records (CR, LF or CRLF separated), possibly several messages. */
export function convertAstm(text: string, ctx: AstmMappingContext): MappingResult {
  const messages = splitMessages(text);
  const result = astmMessagesToFhir(messages, ctx);
  if (messages.length === 0) result.warnings.push('input: no ASTM records');
  return result;
}

function mapMessage(ctx: ResolvedContext, message: AstmMessage): void {
  const header = message.header;
  // The sender Device only exists to be referenced by results: a query or order-only message
  // (or a non-ASTM payload) yields no entries at all, which the daemon treats as "nothing to send".
  const hasResults = message.patients.some((p) => p.orders.some((o) => o.results.length > 0));
  const sender = hasResults ? mapSenderDevice(ctx, header) : undefined;
  let meta: Meta | undefined;
  if (header !== undefined) {
    const processing = header.component(12, 1).trim().toUpperCase();
    if (processing === 'P') ctx.state.use(header, 12);
    else if (/^[A-Z]$/.test(processing)) {
      const tag: Coding = { system: PROCESSING_ID_SYSTEM, code: processing };
      meta = { tag: [tag] };
      ctx.state.use(header, 12);
      ctx.state.warn('H.12', 'processing id is not production; results tagged');
    }
  }
  for (const patient of message.patients) {
    const subject = mapPatient(ctx, patient.record);
    for (const order of patient.orders) mapOrder(ctx, order, { ...(sender && { sender }), ...(subject && { subject }), ...(meta && { meta }) });
  }
}

function mapOrder(ctx: ResolvedContext, order: OrderNode, base: ResultLinks): void {
  const o = order.record;
  const specimen = o === undefined ? undefined : mapSpecimen(ctx, o, base.subject);
  const orderCodes: TestCode[] = [];
  if (o !== undefined) {
    o.repeats(5).forEach((_, i) => {
      const code = testCodeOf(ctx, o, 5, i + 1);
      if (code !== undefined) orderCodes.push(code);
    });
    if (orderCodes.length > 0) ctx.state.use(o, 5);
  }
  const orderKey = orderKeyOf(ctx, order, orderCodes, specimen?.stableId);
  const links: ResultLinks = {
    ...base,
    ...(specimen && { specimen: specimen.reference }),
    ...(specimen?.stableId !== undefined && { stableSpecimenId: specimen.stableId }),
  };
  let request: Reference<ServiceRequest> | undefined;
  if (o !== undefined) {
    if (base.subject === undefined) ctx.state.warn('O.2', 'order without an identified patient; ServiceRequest omitted');
    else request = mapServiceRequest(ctx, o, order, orderKey, orderCodes, base.subject, links);
  }
  const withRequest: ResultLinks = { ...links, ...(request && { request }) };
  const results = order.results.map((node) => mapObservation(ctx, node, withRequest));
  if (results.length === 0) return;
  const orderText = o === undefined ? '' : fhirText(o.field(5));
  mapReport(ctx, { orderKey, orderCodes, orderText, results }, withRequest);
}

/** `{specimen}/{codes}` when the specimen id is stable; else tied to the message and record. */
function orderKeyOf(ctx: ResolvedContext, order: OrderNode, codes: readonly TestCode[], stableSpecimenId: string | undefined): string {
  const anchor = order.record ?? order.results[0]?.record;
  const fallback = `${ctx.messageId}/${anchor?.index ?? 0}`;
  if (stableSpecimenId === undefined) return fallback;
  let names = codes.map((c) => c.code);
  // Stago sends orders without O.5: name the order after the tests it reports.
  if (names.length === 0) names = [...new Set(order.results.map((r) => testCodeOf(ctx, r.record, 3)?.code).filter((c): c is string => c !== undefined))];
  return names.length === 0 ? fallback : `${stableSpecimenId}/${names.join('+')}`;
}

function mapServiceRequest(
  ctx: ResolvedContext,
  o: AstmRecord,
  order: OrderNode,
  orderKey: string,
  codes: readonly TestCode[],
  subject: Reference<Patient>,
  links: ResultLinks,
): Reference<ServiceRequest> {
  const identifier = ctx.identifier('order', orderKey);
  const rawStatus = o.field(26);
  let status = serviceRequestStatus(rawStatus);
  if (status === undefined) {
    ctx.state.warn('O.26', 'unknown report type; ServiceRequest.status unknown');
    status = 'unknown';
  } else if (rawStatus.trim() !== '') ctx.state.use(o, 26);
  const sr: ServiceRequest = { resourceType: 'ServiceRequest', identifier: [identifier], status, intent: 'order', subject };
  if (links.meta !== undefined) sr.meta = links.meta;
  const text = fhirText(o.field(5));
  const single = codes.length === 1 ? codes[0] : undefined;
  // Several tests in one O record are listed in the text: codings in one concept would claim synonymy.
  if (single !== undefined) sr.code = { coding: localCoding(ctx, single), text };
  else if (text !== '') sr.code = { text };
  const priority = requestPriority(o.field(6));
  if (priority !== undefined) {
    sr.priority = priority;
    ctx.state.use(o, 6);
  }
  const authored = ctx.dateTime(o, 7);
  if (authored !== undefined) sr.authoredOn = authored;
  if (links.specimen !== undefined) sr.specimen = [links.specimen];
  const notes = notesFrom(ctx, order.comments);
  if (notes.length > 0) sr.note = notes;
  const fullUrl = fullUrlFor('ServiceRequest', identifier);
  ctx.state.add(PHASE.request, fullUrl, sr, conditionalCreate('ServiceRequest', identifier));
  return { reference: fullUrl };
}
