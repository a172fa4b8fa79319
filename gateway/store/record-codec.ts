/**
 * Plaintext encodings of queue records (before sealing). Layout: uint32 BE length of a
 * JSON header, the header, then an optional binary tail (the raw message bytes, kept
 * as-is rather than base64'd). Decoders check shape and return undefined on anything
 * unexpected; callers treat that like a failed authentication.
 */
import { bundleSummary, type BundleSummary } from '../fhir/bundle-summary.js';
import { compressBody, decompressBody } from './compress.js';

export type Meta = Record<string, string | number | boolean>;

/**
 * An inbound record's body. `raw` is absent when the bytes live only in the audit trail's
 * payload archive under the same sequence number (every record written since the raw bytes
 * are stored once); records written before carry them here.
 */
export interface InboundBody {
  sourceId: string;
  raw?: Buffer;
  receivedAt: number;
  meta?: Meta;
}

/**
 * An outbound record's body. The bundle is kept as the JSON text that is posted, with what
 * delivery needs to know of it (bundle-summary.ts), so a delivery parses and re-serialises
 * nothing.
 */
export interface OutboundBody extends BundleSummary {
  sourceId: string;
  inboundId: string;
  bundleJson: string;
  createdAt: number;
  attempts: number;
}

export interface DeadLetterBody {
  sourceId: string;
  originId?: string;
  stage: 'transform' | 'deliver';
  reasonCode: string;
  detail?: string;
  raw?: Buffer;
  bundle?: unknown;
  at: number;
}

type Json = Record<string, unknown>;

function pack(header: Json, tail?: Buffer): Buffer {
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32BE(json.length);
  return Buffer.concat(tail ? [len, json, tail] : [len, json]);
}

function unpack(plain: Buffer): { header: Json; tail: Buffer } | undefined {
  if (plain.length < 4) return undefined;
  const len = plain.readUInt32BE(0);
  if (4 + len > plain.length) return undefined;
  try {
    const header: unknown = JSON.parse(plain.subarray(4, 4 + len).toString('utf8'));
    if (typeof header !== 'object' || header === null || Array.isArray(header)) return undefined;
    return { header: header as Json, tail: plain.subarray(4 + len) };
  } catch {
    return undefined;
  }
}

const isString = (v: unknown): v is string => typeof v === 'string';
const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

export function isMeta(v: unknown): v is Meta {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  return Object.values(v).every((x) => typeof x === 'string' || typeof x === 'boolean' || isNumber(x));
}

export function encodeInbound(body: InboundBody): Buffer {
  const header: Json = { sourceId: body.sourceId, receivedAt: body.receivedAt };
  if (body.meta !== undefined) header.meta = body.meta;
  if (body.raw === undefined) header.archived = true;
  return pack(header, body.raw);
}

export function decodeInbound(plain: Buffer): InboundBody | undefined {
  const u = unpack(plain);
  if (!u) return undefined;
  const { sourceId, receivedAt, meta, archived } = u.header;
  if (!isString(sourceId) || !isNumber(receivedAt) || (meta !== undefined && !isMeta(meta))) return undefined;
  if (archived !== undefined && (archived !== true || u.tail.length !== 0)) return undefined;
  const body: InboundBody = { sourceId, receivedAt };
  if (archived === undefined) body.raw = Buffer.from(u.tail);
  if (meta !== undefined) body.meta = meta;
  return body;
}

/** The body of a newly queued bundle; throws (TypeError) on a bundle JSON cannot carry. */
export function outboundBody(a: { sourceId: string; inboundId: string; bundle: unknown; createdAt: number; attempts: number }): OutboundBody {
  const bundleJson = JSON.stringify(a.bundle) as string | undefined;
  if (bundleJson === undefined) throw new TypeError('the bundle has no JSON form');
  return { sourceId: a.sourceId, inboundId: a.inboundId, bundleJson, ...bundleSummary(a.bundle), createdAt: a.createdAt, attempts: a.attempts };
}

export function encodeOutbound(body: OutboundBody): Buffer {
  const { bundleJson, ...header } = body;
  const { body: tail, z } = compressBody(Buffer.from(bundleJson, 'utf8'));
  return pack({ ...header, z }, tail);
}

export function decodeOutbound(plain: Buffer): OutboundBody | undefined {
  const u = unpack(plain);
  if (!u) return undefined;
  const { sourceId, inboundId, createdAt, attempts, resources, updateTargets, bundle } = u.header;
  if (!isString(sourceId) || !isString(inboundId) || !isNumber(createdAt) || !isNumber(attempts)) return undefined;
  // Written before bundles were kept as text: the bundle sits in the header.
  if ('bundle' in u.header) {
    if (u.tail.length !== 0) return undefined;
    const bundleJson = JSON.stringify(bundle) as string | undefined;
    return bundleJson === undefined ? undefined : { sourceId, inboundId, bundleJson, ...bundleSummary(bundle), createdAt, attempts };
  }
  if (!isNumber(resources) || !Array.isArray(updateTargets) || !updateTargets.every(isString)) return undefined;
  let bundleJson: string;
  try {
    bundleJson = decompressBody(u.tail, u.header.z).toString('utf8');
  } catch {
    return undefined;
  }
  return { sourceId, inboundId, bundleJson, resources, updateTargets, createdAt, attempts };
}

export function encodeDeadLetter(body: DeadLetterBody): Buffer {
  const header: Json = { sourceId: body.sourceId, stage: body.stage, reasonCode: body.reasonCode, at: body.at, hasRaw: body.raw !== undefined };
  if (body.detail !== undefined) header.detail = body.detail;
  if (body.originId !== undefined) header.originId = body.originId;
  if (body.bundle !== undefined) header.bundle = body.bundle;
  return pack(header, body.raw);
}

export function decodeDeadLetter(plain: Buffer): DeadLetterBody | undefined {
  const u = unpack(plain);
  if (!u) return undefined;
  const { sourceId, stage, reasonCode, detail, bundle, at, hasRaw, originId } = u.header;
  if (!isString(sourceId) || (stage !== 'transform' && stage !== 'deliver') || !isString(reasonCode) || !isNumber(at)) return undefined;
  if ((detail !== undefined && !isString(detail)) || typeof hasRaw !== 'boolean') return undefined;
  if (originId !== undefined && !isString(originId)) return undefined;
  if (!hasRaw && u.tail.length !== 0) return undefined;
  const body: DeadLetterBody = { sourceId, stage, reasonCode, at };
  if (originId !== undefined) body.originId = originId;
  if (detail !== undefined) body.detail = detail;
  if (hasRaw) body.raw = Buffer.from(u.tail);
  if (bundle !== undefined) body.bundle = bundle;
  return body;
}

export function encodeSource(sourceId: string): Buffer {
  return pack({ sourceId });
}

export function decodeSource(plain: Buffer): string | undefined {
  const sourceId = unpack(plain)?.header.sourceId;
  return isString(sourceId) ? sourceId : undefined;
}

export function encodeSeq(seq: number): Buffer {
  return pack({ seq });
}

export function decodeSeq(plain: Buffer): number | undefined {
  const seq = unpack(plain)?.header.seq;
  return isNumber(seq) && Number.isSafeInteger(seq) && seq >= 0 ? seq : undefined;
}
