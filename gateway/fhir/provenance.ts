/**
 * The Provenance entry labedge adds to every Bundle it sends (pure: no I/O, no clock).
 *
 * - target: every resource the Bundle writes (by the entries' fullUrls, which the server
 *   resolves in the transaction, or rewrites to literal ids in batch mode).
 * - agent: the box, as a contained Device carrying the box's deviceId (identifier system
 *   `urn:labedge:device`) and the labedge software version; the reference also carries the
 *   identifier, so it stays meaningful without the contained copy. Contained, not a Bundle
 *   entry: a shared Device written from many bundles in parallel would race its own
 *   conditional create on servers without unique constraints.
 * - entity: the raw instrument message as it was received, named by its SHA-256
 *   (`messageDigest(raw)` of gateway/daemon/transform-worker.ts, lowercase hex): the same digest
 *   the audit log records at ingest, so a Provenance upstream can be matched to the audit trail.
 * - recorded: when the box produced the FHIR (the caller's clock).
 * - Idempotency: R4 Provenance has no `identifier`, so its deterministic key is a tag,
 *   `urn:labedge:{sourceId}:provenance|{digest}`, written with a conditional create on `_tag`:
 *   a replay of the same message never adds a second Provenance.
 */
import type { Bundle, BundleEntry, Provenance } from '@medplum/fhirtypes';
import { fullUrlFor, labedgeSystem, searchTokenPart } from './fhir-identity.js';

export const DEVICE_IDENTIFIER_SYSTEM = 'urn:labedge:device';
export const MESSAGE_DIGEST_SYSTEM = 'urn:labedge:message-digest:sha256';

export interface ProvenanceContext {
  sourceId: string;
  /** SHA-256 of the raw instrument message, lowercase hex (messageDigest(raw)). */
  messageDigest: string;
  /** The box's deviceId (its certificate's CN). */
  deviceId: string;
  /** labedge's version (package.json). */
  softwareVersion: string;
  /** When the Bundle was produced (epoch ms). */
  recordedAt: number;
}

const PARTICIPANT_TYPE = 'http://terminology.hl7.org/CodeSystem/provenance-participant-type';

/** The Provenance resource for a Bundle's entries (targets: their fullUrls). */
export function buildProvenance(targets: readonly string[], ctx: ProvenanceContext): Provenance {
  if (!/^[0-9a-f]{64}$/.test(ctx.messageDigest)) throw new TypeError('messageDigest must be a SHA-256 in lowercase hex');
  const box = { system: DEVICE_IDENTIFIER_SYSTEM, value: ctx.deviceId };
  return {
    resourceType: 'Provenance',
    meta: { tag: [{ system: labedgeSystem(ctx.sourceId, 'provenance'), code: ctx.messageDigest }] },
    contained: [
      {
        resourceType: 'Device',
        id: 'labedge',
        identifier: [box],
        deviceName: [{ name: 'labedge', type: 'manufacturer-name' }],
        version: [{ value: ctx.softwareVersion }],
      },
    ],
    target: targets.map((reference) => ({ reference })),
    recorded: new Date(ctx.recordedAt).toISOString(),
    agent: [
      {
        type: { coding: [{ system: PARTICIPANT_TYPE, code: 'assembler', display: 'Assembler' }] },
        who: { reference: '#labedge', type: 'Device', identifier: box },
      },
    ],
    entity: [
      {
        role: 'source',
        what: { identifier: { system: MESSAGE_DIGEST_SYSTEM, value: ctx.messageDigest }, display: 'instrument message as received' },
      },
    ],
  };
}

/**
 * A copy of `bundle` with a Provenance entry appended, targeting every entry that has a fullUrl.
 * A bundle without entries is returned unchanged (there is nothing to attribute).
 */
export function withProvenance(bundle: Bundle, ctx: ProvenanceContext): Bundle {
  const entries = bundle.entry ?? [];
  const targets = entries.map((e) => e.fullUrl).filter((u): u is string => typeof u === 'string' && u !== '');
  if (targets.length === 0) return bundle;
  const tag = { system: labedgeSystem(ctx.sourceId, 'provenance'), value: ctx.messageDigest };
  const entry: BundleEntry = {
    fullUrl: fullUrlFor('Provenance', tag),
    resource: buildProvenance(targets, ctx),
    request: { method: 'POST', url: 'Provenance', ifNoneExist: `_tag=${searchTokenPart(tag.system)}|${searchTokenPart(tag.value)}` },
  };
  return { ...bundle, entry: [...entries, entry] };
}
