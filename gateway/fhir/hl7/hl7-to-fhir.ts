/**
 * HL7 v2 message → one FHIR R4 transaction Bundle (pure: no I/O, no clock, deterministic), per the
 * HL7 v2-to-FHIR IG for ORU^R01, OUL^R22 (the IG's segment maps, grouped by SPM), and ORM/OML
 * orders; any other message maps its PID and OBX the same way. docs/hl7-mapping.md has the tables
 * and every deliberate difference from the IG and from Microsoft's FHIR-Converter.
 *
 * Identity and idempotency (invariant 2), all systems `urn:labedge:{sourceId}:{kind}`:
 * | resource         | business identifier                                               | write              |
 * |------------------|-------------------------------------------------------------------|--------------------|
 * | Device (sender)  | `device` → sourceId; MSH-3 names it; only when there are results   | POST + ifNoneExist |
 * | Device (OBX-18)  | `instrument` → EI.1^EI.2 (or the EI's universal id system)         | POST + ifNoneExist |
 * | Patient          | PID-3 (else PID-2, PID-4) CX; system from CX.4                     | POST + ifNoneExist |
 * | Specimen         | SPM-2 placer^filler ids (else SPM-30); else OBR-derived per order   | POST + ifNoneExist |
 * | ServiceRequest   | placer order number (PLAC), else filler (FILL)                     | POST + ifNoneExist |
 * | Observation      | `result` → `{order key}/{OBX-3 code}[/{OBX-4}]` (hl7-observation)  | PUT ?identifier=   |
 * | DiagnosticReport | `report` → the order key                                           | PUT ?identifier=   |
 * Replaying a message gives a byte-identical bundle; a corrected result (OBX-11 = C) with the same
 * order number and test code updates the Observation it corrects. Entries are ordered so every
 * reference points backwards. Warnings and the unmapped list name positions only.
 */
import type { Bundle, BundleEntry, Coding, Meta, Patient, Reference } from '@medplum/fhirtypes';
import { parseHl7, type Hl7Message, type Hl7Segment } from '../../hl7/parser.js';
import { fhirText } from '../astm-codes.js';
import { identifierValue, labedgeSystem } from '../fhir-identity.js';
import { capturePayloads } from './hl7-capture.js';
import { Hl7Context, keyPart, type Hl7MappingContext } from './hl7-context.js';
import { V2_TABLE } from './hl7-codes.js';
import { mapPatient, mapSenderDevice } from './hl7-entities.js';
import { allResults, groupSegments, type OrderNode, type SpecimenNode } from './hl7-groups.js';
import { mapObservation, type ResultLinks } from './hl7-observation.js';
import { mapReport, mapServiceRequest, orderIds } from './hl7-order.js';
import { mapObrSpecimen, mapSpmSpecimen, type MappedSpecimen } from './hl7-specimen.js';

export type { Hl7DeviceProfile, Hl7MappingContext } from './hl7-context.js';

export interface Hl7MappingResult {
  /** A transaction Bundle (no entries when the message carries nothing to send, e.g. an ACK). */
  bundle: Bundle;
  warnings: string[];
  /** Input positions with content the mapping did not use, e.g. `PID-13`, `OBX-17`. */
  unmapped: string[];
}

export interface Hl7ConvertOptions extends Hl7MappingContext {
  /** Character set override (an MSH-18 spelling, `utf-8`, `latin1`); default: each message's MSH-18. */
  readonly charset?: string;
  /**
   * The id of each message from its raw bytes (e.g. the digest the daemon stores it under), so a
   * message converted from a file gets the identities it gets in the daemon. Default: `messageId`,
   * or `{messageId}/{n}` when the input holds several messages.
   */
  readonly messageIdOf?: (raw: Buffer) => string;
}

const ORDER_MESSAGES = /^(ORM|OML|OMG|OMB|OMD|OMS|OMN|OMI|OMP)$/;

export function hl7ToFhir(message: Hl7Message, ctx: Hl7MappingContext): Hl7MappingResult {
  return mapMessages([message], ctx, []);
}

/** Every message of a file or capture (plain, or MLLP-framed with junk between frames). */
function parseInput(bytes: Uint8Array, options: Hl7ConvertOptions): { messages: Hl7Message[]; warnings: string[] } {
  const capture = capturePayloads(bytes);
  const messages: Hl7Message[] = [];
  const warnings: string[] = [];
  if (capture.junkBytes > 0) warnings.push(`input: ${capture.junkBytes} bytes outside MLLP frames skipped`);
  for (const payload of capture.payloads) {
    const parsed = parseHl7(payload, options.charset === undefined ? {} : { charset: options.charset });
    messages.push(...parsed.messages);
    warnings.push(...parsed.warnings);
  }
  const kept = messages.length > 0 ? warnings.filter((w) => w !== 'input: no MSH segment found') : warnings;
  return { messages, warnings: [...new Set(kept)] };
}

/** Parse + map: every message of the input, each to its own Bundle. */
export function convertHl7All(bytes: Uint8Array, options: Hl7ConvertOptions): Hl7MappingResult[] {
  const parsed = parseInput(bytes, options);
  const n = parsed.messages.length;
  if (n === 0) return [mapMessages([], options, parsed.warnings)];
  return parsed.messages.map((m, i) => mapMessages([m], { ...options, messageId: idOf(options, m, i, n) }, i === 0 ? parsed.warnings : []));
}

/** Parse + map: every message of the input into one Bundle (each message keeps its own keys). */
export function convertHl7(bytes: Uint8Array, options: Hl7ConvertOptions): Hl7MappingResult {
  const parsed = parseInput(bytes, options);
  return mapMessages(parsed.messages, options, parsed.warnings);
}

/** The n-th message of a multi-message input gets `{messageId}/{n}`, so its fallback keys are its own. */
function messageIdOf(messageId: string, i: number, n: number): string {
  return n === 1 ? messageId : `${messageId}/${i + 1}`;
}

function idOf(options: Hl7ConvertOptions, message: Hl7Message, i: number, n: number): string {
  return options.messageIdOf === undefined ? messageIdOf(options.messageId, i, n) : options.messageIdOf(message.raw);
}

function mapMessages(messages: readonly Hl7Message[], options: Hl7ConvertOptions, inputWarnings: readonly string[]): Hl7MappingResult {
  const warnings: string[] = [...inputWarnings];
  const unmapped: string[] = [];
  const parts: BundleEntry[][] = [];
  let timestamp: string | undefined;
  messages.forEach((message, i) => {
    warnings.push(...message.warnings);
    const ctx = new Hl7Context({ ...options, messageId: idOf(options, message, i, messages.length) }, message);
    const msh = message.segments[0]?.name === 'MSH' ? message.segments[0] : undefined;
    if (msh !== undefined) timestamp ??= ctx.dateTime(msh, 7, 'instant');
    mapMessage(ctx, msh);
    parts.push(ctx.state.entries());
    warnings.push(...ctx.state.warnings);
    unmapped.push(...ctx.usage.unmapped(message.segments));
  });
  const bundle: Bundle = { resourceType: 'Bundle', type: 'transaction' };
  const messageId = fhirText(options.messageId);
  if (messageId !== '') bundle.identifier = { system: labedgeSystem(options.sourceId, 'message'), value: identifierValue(messageId) };
  if (timestamp !== undefined) bundle.timestamp = timestamp;
  bundle.entry = parts.length === 1 ? parts[0] : mergeEntries(parts);
  if (messages.length === 0 && !warnings.some((w) => w.startsWith('input:'))) warnings.push('input: no HL7 message');
  return { bundle, warnings: [...new Set(warnings)], unmapped: [...new Set(unmapped)] };
}

const PHASE_OF: Readonly<Record<string, number>> = { Device: 0, Patient: 1, Specimen: 2, ServiceRequest: 3, Observation: 4, DiagnosticReport: 5 };

/**
 * Several messages' entries in one transaction: grouped by resource phase, so every reference still
 * points backwards; one entry per identity — a create-once resource keeps its first version, an
 * updated one (Observation, DiagnosticReport) takes the last message's version, as if the messages
 * had been sent one after the other (a correction later in a batch wins).
 */
function mergeEntries(parts: readonly BundleEntry[][]): BundleEntry[] {
  const byUrl = new Map<string, BundleEntry>();
  for (const entry of parts.flat()) {
    const url = entry.fullUrl ?? '';
    const seen = byUrl.get(url);
    if (seen === undefined) byUrl.set(url, entry);
    else if (entry.request?.method === 'PUT') seen.resource = entry.resource;
  }
  return [...byUrl.values()].sort((a, b) => (PHASE_OF[a.resource?.resourceType ?? ''] ?? 9) - (PHASE_OF[b.resource?.resourceType ?? ''] ?? 9));
}

/** MSH fields consumed by intake or as message structure: separators, type, control id, version, ACK modes, charset. */
const ENVELOPE_FIELDS = [9, 10, 12, 15, 16, 18];

function mapMessage(ctx: Hl7Context, msh: Hl7Segment | undefined): void {
  let meta: Meta | undefined;
  if (msh !== undefined) {
    ctx.use(msh, ...ENVELOPE_FIELDS);
    const processing = fhirText(msh.value(11)).toUpperCase();
    if (processing === 'P') ctx.use(msh, 11);
    else if (/^[A-Z]$/.test(processing)) {
      const tag: Coding = { system: V2_TABLE('0103'), code: processing };
      meta = { tag: [tag] };
      ctx.use(msh, 11);
      ctx.warn('MSH-11', 'processing id is not production; resources tagged');
    }
  }
  const orderMessage = ORDER_MESSAGES.test(ctx.message.messageType.trim().toUpperCase());
  const patients = groupSegments(ctx.message);
  const hasResults = patients.some((p) => allResults(p).length > 0);
  const sender = hasResults ? mapSenderDevice(ctx, msh) : undefined;
  for (const p of patients) {
    const subject = mapPatient(ctx, p.pid);
    const base: Base = { subject, sender, meta, specimens: new Map(), orderMessage };
    for (const s of p.specimens) {
      const mapped = specimenOf(ctx, base, s);
      for (const r of s.results) {
        mapObservation(ctx, r, links(base, `specimen/${keyPart(mapped.key)}`, { specimen: mapped.reference, effective: ctx.dateTime(s.spm, 17) }));
      }
    }
    for (const r of p.results) mapObservation(ctx, r, links(base, `message/${ctx.messageId}`, {}));
    for (const o of p.orders) mapOrder(ctx, o, base);
  }
}

interface Base {
  readonly subject: Reference<Patient> | undefined;
  readonly sender: ResultLinks['sender'];
  readonly meta: Meta | undefined;
  readonly specimens: Map<SpecimenNode, MappedSpecimen>;
  readonly orderMessage: boolean;
}

function links(base: Base, anchor: string, extra: Partial<ResultLinks>): ResultLinks {
  const out: { -readonly [K in keyof ResultLinks]: ResultLinks[K] } = { anchor };
  if (base.subject !== undefined) out.subject = base.subject;
  if (base.sender !== undefined) out.sender = base.sender;
  if (base.meta !== undefined) out.meta = base.meta;
  for (const [k, v] of Object.entries(extra)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}

function specimenOf(ctx: Hl7Context, base: Base, node: SpecimenNode): MappedSpecimen {
  let mapped = base.specimens.get(node);
  if (mapped === undefined) {
    mapped = mapSpmSpecimen(ctx, node, base.subject);
    base.specimens.set(node, mapped);
  }
  return mapped;
}

function mapOrder(ctx: Hl7Context, order: OrderNode, base: Base): void {
  const ids = orderIds(ctx, order);
  const spms = order.specimens.map((s) => specimenOf(ctx, base, s));
  const anchorSegment = order.obr ?? order.orc;
  const key = ids.key ?? (spms[0] !== undefined ? `specimen/${keyPart(spms[0].key)}` : `message/${ctx.messageId}/${anchorSegment?.index ?? 0}`);
  const obrSpecimen = spms.length === 0 && order.obr !== undefined ? mapObrSpecimen(ctx, order.obr, key, base.subject) : undefined;
  const specimens = [...spms.map((s) => s.reference), ...(obrSpecimen === undefined ? [] : [obrSpecimen.reference])];
  let request: ResultLinks['request'];
  if (base.subject !== undefined) request = mapServiceRequest(ctx, order, ids, key, { subject: base.subject, specimens, ...(base.meta && { meta: base.meta }) });
  else ctx.warn(anchorSegment?.name === 'ORC' ? 'ORC-2' : 'OBR-2', 'order without an identified patient; ServiceRequest omitted');
  const obr = order.obr;
  const effective = obr === undefined ? undefined : ctx.dateTime(obr, 7);
  const issued = obr === undefined ? undefined : ctx.dateTime(obr, 22, 'instant');
  const only = specimens.length === 1 ? specimens[0] : undefined;
  const results = order.results.map((r) => {
    // An OBX after an SPM is about that specimen (and was timed by its collection).
    const own = r.specimen === undefined ? undefined : { mapped: specimenOf(ctx, base, r.specimen), collected: ctx.dateTime(r.specimen.spm, 17) };
    const extra: Partial<ResultLinks> = { specimen: own?.mapped.reference ?? only, request, effective: own?.collected ?? effective, issued };
    return mapObservation(ctx, r, links(base, key, extra));
  });
  if (base.orderMessage || results.length === 0) return;
  mapReport(ctx, order, { key, ids, results, specimens, ...(base.subject && { subject: base.subject }), ...(request && { request }), ...(base.meta && { meta: base.meta }) });
}
