/**
 * Test helpers for the HL7 v2 → FHIR mapping tests (not used by production code): build messages
 * from segment strings, convert them, and pick resources out of the bundle.
 */
import assert from 'node:assert/strict';
import type { Bundle, BundleEntry, Observation, Resource } from '@medplum/fhirtypes';
import { convertHl7, convertHl7All, type Hl7ConvertOptions, type Hl7MappingResult } from './hl7-to-fhir.js';

export const MSH = 'MSH|^~\\&|LAB|FAC|LIS|HOSP|20240105083512-0500||ORU^R01^ORU_R01|CTRL1|P|2.5.1';
export const PID = 'PID|1||PAT123^^^HOSP^MR||Doe^Jane||19800101|F';
export const OBR = 'OBR|1|PLC1|FIL1|24317-0^CBC^LN|||20240105080000-0500||||||||||||||||||F';

export const CTX: Hl7ConvertOptions = { sourceId: 'analyzer-1', messageId: 'msg-1', timeZone: 'Europe/Berlin' };

/** Segments joined with CR (the standard terminator), ending with CR. */
export function message(...segments: string[]): string {
  return `${segments.join('\r')}\r`;
}

export function convert(text: string | Uint8Array, options: Partial<Hl7ConvertOptions> = {}): Hl7MappingResult {
  const bytes = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
  return convertHl7(bytes, { ...CTX, ...options });
}

export function convertAll(text: string | Uint8Array, options: Partial<Hl7ConvertOptions> = {}): Hl7MappingResult[] {
  const bytes = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
  return convertHl7All(bytes, { ...CTX, ...options });
}

export function resources<T extends Resource>(bundle: Bundle, type: T['resourceType']): T[] {
  return (bundle.entry ?? []).map((e) => e.resource).filter((r): r is T => r?.resourceType === type);
}

/** The Observations of an ORU with one patient, one order and the given OBX segments. */
export function observations(obx: string[], options: Partial<Hl7ConvertOptions> = {}, header = MSH): { obs: Observation[]; result: Hl7MappingResult } {
  const result = convert(message(header, PID, OBR, ...obx), options);
  return { obs: resources<Observation>(result.bundle, 'Observation'), result };
}

/** The single Observation of an ORU with one OBX. */
export function observation(obx: string, options: Partial<Hl7ConvertOptions> = {}, header = MSH): { obs: Observation; result: Hl7MappingResult } {
  const { obs, result } = observations([obx], options, header);
  const first = obs[0];
  if (first === undefined || obs.length !== 1) throw new Error(`expected one Observation, got ${obs.length}`);
  return { obs: first, result };
}

/** A warning is a position, then fixed text. */
export const WARNING = /^(input|config|message|segment \d+|[A-Z][A-Z0-9]{2}-\d+(\.\d+){0,2}): [A-Za-z0-9][A-Za-z0-9 ,;:()'./+^_|\\&~-]*$/;
export const POSITION = /^([A-Z][A-Z0-9]{2}-\d+|segment \d+)$/;

function referencesIn(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) for (const v of value) referencesIn(v, out);
  else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === 'reference' && typeof v === 'string') out.push(v);
      else referencesIn(v, out);
    }
  }
  return out;
}

/** R4 dateTime/instant with a time need seconds and an offset (Medplum's regex makes the zone optional). */
function badTimes(value: unknown, out: string[] = [], path = ''): string[] {
  if (typeof value === 'string' && /^\d{4}-\d{2}-\d{2}T/.test(value)) {
    if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-](0\d|1[0-3]):[0-5]\d|[+-]14:00)$/.test(value)) out.push(`${path}=${value}`);
  } else if (Array.isArray(value)) value.forEach((v, i) => badTimes(v, out, `${path}[${i}]`));
  else if (value !== null && typeof value === 'object') for (const [k, v] of Object.entries(value)) badTimes(v, out, `${path}.${k}`);
  return out;
}

export function checkShape(bundle: Bundle): void {
  assert.equal(bundle.type, 'transaction');
  const seen = new Set<string>();
  for (const entry of bundle.entry ?? []) {
    const e = entry as BundleEntry<Resource>;
    assert.match(e.fullUrl ?? '', /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.ok(!seen.has(e.fullUrl ?? ''), 'fullUrls are unique');
    for (const ref of referencesIn(e.resource)) assert.ok(seen.has(ref), `${e.resource?.resourceType} refers forward`);
    seen.add(e.fullUrl ?? '');
    const type = e.resource?.resourceType ?? '';
    const identifiers = (e.resource as { identifier?: { system?: string; value?: string }[] }).identifier ?? [];
    assert.ok(identifiers[0]?.system && identifiers[0].value, `${type} has a business identifier`);
    for (const id of identifiers) assert.ok(!id.value?.includes('|'), 'identifier values never hold |');
    if (type === 'Observation' || type === 'DiagnosticReport') {
      assert.equal(e.request?.method, 'PUT');
      assert.ok(e.request?.url.startsWith(`${type}?identifier=`));
    } else {
      assert.equal(e.request?.method, 'POST');
      assert.equal(e.request?.url, type);
      assert.ok(e.request?.ifNoneExist?.startsWith('identifier='));
    }
  }
  assert.deepEqual(badTimes(bundle), []);
}

