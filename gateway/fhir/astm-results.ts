/**
 * Results: one Observation per R record and one DiagnosticReport per order that has results. Both
 * are conditional updates (`PUT Type?identifier=…`), so a resend updates and a correction (R.9 = C)
 * replaces the result it corrects.
 */
import type { Annotation, CodeableConcept, Coding, Device, DiagnosticReport, Meta, Observation, Patient, Reference, ServiceRequest, Specimen } from '@medplum/fhirtypes';
import type { AstmRecord } from '../astm/records.js';
import type { ResultNode } from '../astm/message.js';
import {
  DIAGNOSTIC_SERVICE_SECTION, fhirText, LOINC, OBSERVATION_CATEGORY, observationStatus, reportStatus,
  type ObservationStatus, type TestCode,
} from './astm-codes.js';
import type { ResolvedContext } from './astm-context.js';
import { mapInstrumentDevice } from './astm-entities.js';
import { mapResultValue } from './astm-result-value.js';
import { conditionalUpdate, fullUrlFor } from './fhir-identity.js';
import { PHASE } from './mapping-state.js';

export interface ResultLinks {
  readonly subject?: Reference<Patient>;
  readonly specimen?: Reference<Specimen>;
  /** Specimen id that is a lasting identity (O.3); results are keyed on it when present. */
  readonly stableSpecimenId?: string;
  readonly request?: Reference<ServiceRequest>;
  /** The sending system; present whenever the message has results. */
  readonly sender?: Reference<Device>;
  readonly meta?: Meta;
}

export interface MappedResult {
  readonly reference: Reference<Observation>;
  readonly status: ObservationStatus;
  readonly testCode?: TestCode;
}

export function localCoding(ctx: ResolvedContext, code: TestCode): Coding[] {
  const codings: Coding[] = [{ system: ctx.system('test-code'), code: code.code }];
  const display = ctx.profile.codes?.[code.code]?.display;
  if (code.loinc !== undefined) codings.push({ system: LOINC, code: code.loinc, ...(display !== undefined && { display }) });
  return codings;
}

/** The test code of field n (the instrument profile may say which component holds it). */
export function testCodeOf(ctx: ResolvedContext, r: AstmRecord, n: number, repeat = 1): TestCode | undefined {
  return ctx.testCode(r, n, repeat);
}

/** C records after a record → FHIR notes (C.4 text; C.3 source and C.5 type are consumed with it). */
export function notesFrom(ctx: ResolvedContext, comments: readonly AstmRecord[]): Annotation[] {
  const notes: Annotation[] = [];
  for (const c of comments) {
    const text = c.components(4).map(fhirText).filter((t) => t !== '').join('^');
    if (text === '') continue;
    notes.push({ text });
    ctx.state.use(c, 4, 5);
    if (['I', 'L', 'P'].includes(c.field(3).trim())) ctx.state.use(c, 3);
  }
  return notes;
}

export function mapObservation(ctx: ResolvedContext, node: ResultNode, links: ResultLinks): MappedResult {
  const r = node.record;
  const code = testCodeOf(ctx, r, 3);
  const text = fhirText(r.field(3));
  let concept: CodeableConcept;
  if (code !== undefined) {
    concept = { coding: localCoding(ctx, code), text };
    ctx.state.use(r, 3);
  } else {
    ctx.state.warn('R.3', 'no test code; Observation.code is text only');
    concept = { text: 'Unidentified ASTM test' };
  }
  const rawStatus = r.field(9).trim();
  let status = observationStatus(rawStatus);
  if (status === undefined) {
    ctx.state.warn('R.9', rawStatus === '' ? 'no result status; Observation.status unknown' : 'unknown result status; Observation.status unknown');
    status = 'unknown';
  } else {
    ctx.state.use(r, 9);
  }
  const key =
    links.stableSpecimenId !== undefined && code !== undefined
      ? ctx.state.occurrence('result', `${links.stableSpecimenId}/${code.code}`)
      : `${ctx.messageId}/${r.index}`;
  const identifier = ctx.identifier('result', key);
  const obs: Observation = {
    resourceType: 'Observation',
    identifier: [identifier],
    status,
    category: [{ coding: [{ system: OBSERVATION_CATEGORY, code: 'laboratory', display: 'Laboratory' }] }],
    code: concept,
  };
  if (links.meta !== undefined) obs.meta = links.meta;
  if (links.request !== undefined) obs.basedOn = [links.request];
  if (links.subject !== undefined) obs.subject = links.subject;
  const effective = ctx.dateTime(r, 13);
  if (effective !== undefined) obs.effectiveDateTime = effective;
  const issued = ctx.dateTime(r, 13, 'instant');
  if (issued !== undefined) obs.issued = issued;
  const codeUnit = code === undefined ? undefined : ctx.profile.codes?.[code.code]?.unit;
  Object.assign(
    obs,
    mapResultValue(r, ctx.state, status === 'cancelled', {
      ucum: (unit) => ctx.ucum(unit),
      ...(ctx.profile.decimalMark !== undefined && { decimalMark: ctx.profile.decimalMark }),
      ...(codeUnit !== undefined && { defaultUnit: codeUnit }),
    }),
  );
  if (links.specimen !== undefined) obs.specimen = links.specimen;
  const device = mapInstrumentDevice(ctx, r, links.sender) ?? links.sender;
  if (device !== undefined) obs.device = device;
  const notes = notesFrom(ctx, node.comments);
  if (notes.length > 0) obs.note = notes;
  const fullUrl = fullUrlFor('Observation', identifier);
  ctx.state.add(PHASE.observation, fullUrl, obs, conditionalUpdate('Observation', identifier));
  return code === undefined ? { reference: { reference: fullUrl }, status } : { reference: { reference: fullUrl }, status, testCode: code };
}

const LAB_REPORT: Coding = { system: LOINC, code: '11502-2', display: 'Laboratory report' };

export interface ReportInput {
  readonly orderKey: string;
  readonly orderCodes: readonly TestCode[];
  readonly orderText: string;
  readonly results: readonly MappedResult[];
}

/** One DiagnosticReport per order: code from O.5 when it names one test, else LOINC 11502-2. */
export function mapReport(ctx: ResolvedContext, input: ReportInput, links: ResultLinks): void {
  const identifier = ctx.identifier('report', ctx.state.occurrence('report', input.orderKey));
  const single = input.orderCodes.length === 1 ? input.orderCodes[0] : undefined;
  const code: CodeableConcept = single !== undefined ? { coding: localCoding(ctx, single) } : { coding: [LAB_REPORT] };
  if (input.orderText !== '') code.text = input.orderText;
  const report: DiagnosticReport = {
    resourceType: 'DiagnosticReport',
    identifier: [identifier],
    status: reportStatus(input.results.map((r) => r.status)),
    category: [{ coding: [{ system: DIAGNOSTIC_SERVICE_SECTION, code: 'LAB', display: 'Laboratory' }] }],
    code,
  };
  if (links.meta !== undefined) report.meta = links.meta;
  if (links.request !== undefined) report.basedOn = [links.request];
  if (links.subject !== undefined) report.subject = links.subject;
  if (links.specimen !== undefined) report.specimen = [links.specimen];
  report.result = input.results.map((r) => r.reference);
  const fullUrl = fullUrlFor('DiagnosticReport', identifier);
  ctx.state.add(PHASE.report, fullUrl, report, conditionalUpdate('DiagnosticReport', identifier));
}
