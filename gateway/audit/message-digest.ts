import { createHash } from 'node:crypto';

/**
 * The opaque, deterministic id of a raw message: SHA-256 of its bytes, lowercase hex.
 * The same function names the message in FHIR identifiers, the Provenance entity and the
 * audit trail, so the three always agree.
 */
export function messageDigest(raw: Uint8Array): string {
  return createHash('sha256').update(raw).digest('hex');
}

/**
 * Digest of a FHIR Bundle as it goes on the wire: SHA-256 of `JSON.stringify(bundle)`, the
 * exact body the uplink POSTs, so it can be checked against a captured request.
 */
export function bundleDigest(bundle: unknown): string {
  return createHash('sha256').update(JSON.stringify(bundle) ?? '', 'utf8').digest('hex');
}
