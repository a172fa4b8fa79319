import { createHash } from 'node:crypto';
import { compressBody, decompressBody } from '../store/compress.js';
import { isAuditKind, type AuditDraft, type AuditEntry, type AuditHead, type JsonObject, type JsonValue } from './audit-types.js';

/**
 * Entry bytes and hashes.
 *
 * Plaintext of a stored entry (sealed by RecordSealer with its key as AAD):
 *   [0..31]  the entry hash (raw 32 bytes)
 *   [32..]   canonical JSON of {body, kind, prev, seq, time, v}
 * hash = SHA-256("labedge/audit-entry/v1\n" ‖ canonical JSON). The hash covers the
 * plaintext, not the ciphertext, so re-sealing under a rotated data key keeps the chain.
 */
const DOMAIN = Buffer.from('labedge/audit-entry/v1\n', 'utf8');
const HASH_BYTES = 32;
const HEX64 = /^[0-9a-f]{64}$/;

/** JSON with object keys sorted at every level: one byte string per value. */
export function canonicalJson(value: JsonValue): string {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError('audit values must be finite numbers');
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) out += (i ? ',' : '') + canonicalJson(value[i] as JsonValue);
    return `${out}]`;
  }
  const keys = Object.keys(value).sort();
  let out = '{';
  let first = true;
  for (const k of keys) {
    const v = value[k];
    if (v === undefined) continue;
    out += `${first ? '' : ','}${JSON.stringify(k)}:${canonicalJson(v)}`;
    first = false;
  }
  return `${out}}`;
}

function hashOf(canonical: Buffer): Buffer {
  return createHash('sha256').update(DOMAIN).update(canonical).digest();
}

/** Builds the next entry after `head` and its plaintext bytes. */
export function buildEntry(head: AuditHead, draft: AuditDraft, time: number): { entry: AuditEntry; plain: Buffer } {
  const unhashed = { body: draft.body, kind: draft.kind, prev: head.hash, seq: head.seq + 1, time, v: 1 };
  const canonical = Buffer.from(canonicalJson(unhashed as unknown as JsonObject), 'utf8');
  const hash = hashOf(canonical);
  const entry: AuditEntry = { v: 1, seq: unhashed.seq, time, kind: draft.kind, prev: head.hash, body: draft.body, hash: hash.toString('hex') };
  return { entry, plain: Buffer.concat([hash, canonical]) };
}

/** Why decoded bytes are not an entry. */
export type DecodeResult = { ok: true; entry: AuditEntry; hashMatches: boolean } | { ok: false; reason: string };

/** Parses entry plaintext and recomputes its hash (`hashMatches` false means the bytes were edited). */
export function decodeEntry(plain: Buffer): DecodeResult {
  if (plain.length <= HASH_BYTES) return { ok: false, reason: 'entry too short' };
  const stored = plain.subarray(0, HASH_BYTES);
  const canonical = plain.subarray(HASH_BYTES);
  let parsed: unknown;
  try {
    parsed = JSON.parse(canonical.toString('utf8'));
  } catch {
    return { ok: false, reason: 'entry is not JSON' };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return { ok: false, reason: 'entry is not an object' };
  const { v, seq, time, kind, prev, body } = parsed as Record<string, unknown>;
  if (v !== 1) return { ok: false, reason: 'unknown entry version' };
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1) return { ok: false, reason: 'bad seq' };
  if (typeof time !== 'number' || !Number.isFinite(time)) return { ok: false, reason: 'bad time' };
  if (!isAuditKind(kind)) return { ok: false, reason: 'unknown kind' };
  if (typeof prev !== 'string' || !HEX64.test(prev)) return { ok: false, reason: 'bad prev hash' };
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return { ok: false, reason: 'bad body' };
  const entry: AuditEntry = { v: 1, seq, time, kind, prev, body: body as JsonObject, hash: stored.toString('hex') };
  return { ok: true, entry, hashMatches: hashOf(canonical).equals(stored) };
}

/** The sealed head mark: `{seq, hash}` of the last entry written, kept in the same batches. */
export function encodeHead(head: AuditHead): Buffer {
  return Buffer.from(JSON.stringify({ seq: head.seq, hash: head.hash }), 'utf8');
}

export function decodeHead(plain: Buffer): AuditHead | undefined {
  try {
    const v = JSON.parse(plain.toString('utf8')) as { seq?: unknown; hash?: unknown };
    if (typeof v.seq === 'number' && Number.isSafeInteger(v.seq) && v.seq >= 0 && typeof v.hash === 'string' && HEX64.test(v.hash)) {
      return { seq: v.seq, hash: v.hash };
    }
  } catch {
    // fall through
  }
  return undefined;
}

/**
 * Archived raw payload: uint32 header length, JSON header, then the raw bytes, compressed
 * (header `z`) when that makes them smaller (gateway/store/compress.ts). This is the one copy of
 * every message's bytes and the biggest value a commit writes.
 */
export interface ArchivedPayload {
  sourceId: string;
  receivedAt: number;
  digest: string;
  raw: Buffer;
}

export function encodePayload(p: ArchivedPayload): Buffer {
  const { body, z } = compressBody(p.raw);
  const header = Buffer.from(JSON.stringify({ sourceId: p.sourceId, receivedAt: p.receivedAt, digest: p.digest, z }), 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32BE(header.length);
  return Buffer.concat([len, header, body]);
}

export function decodePayload(plain: Buffer): ArchivedPayload | undefined {
  if (plain.length < 4) return undefined;
  const len = plain.readUInt32BE(0);
  if (4 + len > plain.length) return undefined;
  try {
    const h = JSON.parse(plain.subarray(4, 4 + len).toString('utf8')) as Record<string, unknown>;
    if (typeof h.sourceId !== 'string' || typeof h.receivedAt !== 'number' || typeof h.digest !== 'string') return undefined;
    const body = plain.subarray(4 + len);
    return { sourceId: h.sourceId, receivedAt: h.receivedAt, digest: h.digest, raw: h.z === undefined ? Buffer.from(body) : decompressBody(body, h.z) };
  } catch {
    return undefined;
  }
}
