import { createHash } from 'node:crypto';
import zlib from 'node:zlib';
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
 * Archived raw payload: uint32 header length, JSON header, then the raw bytes, Brotli-compressed
 * (header `z: "br"`) when that makes them smaller. This is the one copy of every message's bytes
 * and the biggest value a commit writes: instrument text shrinks four- to sixfold at Brotli's
 * fastest setting, for about 2 µs a kilobyte, and every byte not written shortens the fsync the
 * instrument's ACK waits for. Compression comes before encryption (as in database engines'
 * at-rest encryption); the value's length is all it can show, and a record's length is visible
 * anyway.
 */
export interface ArchivedPayload {
  sourceId: string;
  receivedAt: number;
  digest: string;
  raw: Buffer;
}

/** Below this, compression gains too little to be worth trying. */
const COMPRESS_FROM = 512;
const BROTLI_FASTEST = { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 1 } };

/**
 * Whether the bytes look like text (what instruments send), judged on a sample: bytes that are
 * already dense (encrypted, compressed, images) would cost a compression attempt for nothing.
 * Text has few NULs or bytes over 0x7F (a UTF-8 accent here and there); dense data has them
 * in half its bytes.
 */
function looksLikeText(raw: Buffer): boolean {
  let odd = 0;
  const end = Math.min(raw.length, 256);
  for (let i = 0; i < end; i++) if (raw[i] === 0 || (raw[i] ?? 0) > 0x7f) odd++;
  return odd * 8 <= end;
}

export function encodePayload(p: ArchivedPayload): Buffer {
  const meta: Record<string, unknown> = { sourceId: p.sourceId, receivedAt: p.receivedAt, digest: p.digest };
  let body = p.raw;
  if (p.raw.length >= COMPRESS_FROM && looksLikeText(p.raw)) {
    const packed = zlib.brotliCompressSync(p.raw, BROTLI_FASTEST);
    if (packed.length < p.raw.length) [body, meta.z] = [packed, 'br'];
  }
  const header = Buffer.from(JSON.stringify(meta), 'utf8');
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
    if (h.z !== undefined && h.z !== 'br') return undefined;
    const body = plain.subarray(4 + len);
    return { sourceId: h.sourceId, receivedAt: h.receivedAt, digest: h.digest, raw: h.z === 'br' ? zlib.brotliDecompressSync(body) : Buffer.from(body) };
  } catch {
    return undefined;
  }
}
