/**
 * Deterministic identity for FHIR resources built by labedge (invariant 2).
 *
 * - Every resource carries a business identifier `{system, value}`; systems live under
 *   `urn:labedge:{sourceId}:{kind}` so two instruments never share an identifier space.
 * - fullUrl = `urn:uuid:` + a UUID derived from SHA-256 of `resourceType|system|value`, formatted
 *   like a v4 UUID (version nibble 4, RFC 4122 variant), so the same input gives a byte-identical
 *   bundle and a replay addresses the same entries.
 * - Conditional writes: create-once resources use `POST` + `ifNoneExist`; results use a conditional
 *   `PUT Type?identifier=…` so a correction updates the result it corrects.
 * - Identifier values never contain `|` (possible only through an `&F&` escape): it is written
 *   `%7C`, because servers split token searches on the first `|` even when it is escaped (Medplum
 *   does). In queries the values are escaped for FHIR search (`\` `,` `$` → backslash-escaped) and
 *   percent-encoded, leaving `:` and `/` readable (both are legal in a query string).
 */
import { createHash } from 'node:crypto';
import type { BundleEntryRequest, Identifier } from '@medplum/fhirtypes';

export function deterministicUuid(seed: string): string {
  const h = createHash('sha256').update(seed, 'utf8').digest();
  const b = Buffer.from(h.subarray(0, 16));
  b[6] = ((b[6] ?? 0) & 0x0f) | 0x40;
  b[8] = ((b[8] ?? 0) & 0x3f) | 0x80;
  const hex = b.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

export function fullUrlFor(resourceType: string, id: Identifier): string {
  return `urn:uuid:${deterministicUuid(`${resourceType}|${id.system ?? ''}|${id.value ?? ''}`)}`;
}

/** Keeps a config id usable inside a URN: anything outside [A-Za-z0-9._~-] is percent-encoded. */
export function urnSafe(text: string): string {
  return [...text].map((ch) => (/[A-Za-z0-9._~-]/.test(ch) ? ch : encodeURIComponent(ch).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`))).join('');
}

/** An identifier value as labedge writes it (see the module comment). */
export function identifierValue(text: string): string {
  return text.replace(/\|/g, '%7C');
}

export function labedgeSystem(sourceId: string, kind: string): string {
  return `urn:labedge:${urnSafe(sourceId)}:${kind}`;
}

/** FHIR search escaping for a token part, then percent-encoding for the query string. */
export function searchTokenPart(text: string): string {
  const escaped = text.replace(/[\\|,$]/g, (c) => `\\${c}`);
  return encodeURIComponent(escaped).replace(/%3A/gi, ':').replace(/%2F/gi, '/');
}

export function identifierQuery(id: Identifier): string {
  return `identifier=${searchTokenPart(id.system ?? '')}|${searchTokenPart(id.value ?? '')}`;
}

export function conditionalCreate(resourceType: string, id: Identifier): BundleEntryRequest {
  return { method: 'POST', url: resourceType, ifNoneExist: identifierQuery(id) };
}

export function conditionalUpdate(resourceType: string, id: Identifier): BundleEntryRequest {
  return { method: 'PUT', url: `${resourceType}?${identifierQuery(id)}` };
}
