import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { LabedgeError } from '../core/errors.js';
import type { AuditCheckpoint, AuditHead } from './audit-types.js';

/**
 * Signed checkpoints (RFC 6962 "signed tree head" for a hash chain): the device key signs
 * `(deviceId, seq, head hash, time, previous checkpoint)`. Kept in the store, emitted for the
 * fleet `events` topic; whoever keeps them (the cloud, an auditor) can later prove the chain
 * was not rewritten or truncated behind them. A checkpoint names the one before it, and the
 * chain must pass through both (`audit verify` checks it, and so does the checkpointer
 * before signing).
 */
const DOMAIN = 'labedge/audit-checkpoint/v1';
const HEX64 = /^[0-9a-f]{64}$/;

export function checkpointMessage(cp: Omit<AuditCheckpoint, 'signature' | 'alg' | 'publicKey' | 'v'>): Buffer {
  const prev = cp.previous ? `${cp.previous.seq}\n${cp.previous.hash}` : '-\n-';
  return Buffer.from(`${DOMAIN}\n${cp.deviceId}\n${cp.seq}\n${cp.hash}\n${cp.time}\n${prev}\n`, 'utf8');
}

function algorithmOf(key: KeyObject): { name: string; digest: string | null } {
  const type = key.asymmetricKeyType;
  if (type === 'ed25519' || type === 'ed448') return { name: type, digest: null };
  return { name: 'sha256', digest: 'sha256' };
}

/** Signs a checkpoint of `head` with the device's private key (PEM). */
export function signCheckpoint(a: { deviceId: string; head: AuditHead; time: number; previous?: AuditHead; keyPem: string }): AuditCheckpoint {
  let key: KeyObject;
  try {
    key = createPrivateKey(a.keyPem);
  } catch (e) {
    throw new LabedgeError('LABEDGE_ERR_AUDIT', 'the device key cannot sign audit checkpoints (unreadable key)', { cause: e });
  }
  const alg = algorithmOf(key);
  const fields = { deviceId: a.deviceId, seq: a.head.seq, hash: a.head.hash, time: a.time, ...(a.previous ? { previous: { seq: a.previous.seq, hash: a.previous.hash } } : {}) };
  const signature = sign(alg.digest, checkpointMessage(fields), key).toString('base64');
  const publicKey = createPublicKey(key).export({ type: 'spki', format: 'der' }).toString('base64');
  return { v: 1, ...fields, alg: alg.name, publicKey, signature };
}

/** Checks the signature against the key the checkpoint names, or `trustedKey` (SPKI DER base64) when given. */
export function checkpointSignatureValid(cp: AuditCheckpoint, trustedKey?: string): boolean {
  if (trustedKey !== undefined && trustedKey !== cp.publicKey) return false;
  try {
    const key = createPublicKey({ key: Buffer.from(cp.publicKey, 'base64'), format: 'der', type: 'spki' });
    const alg = algorithmOf(key);
    if (alg.name !== cp.alg) return false;
    const { v: _v, alg: _alg, publicKey: _pk, signature, ...fields } = cp;
    return verify(alg.digest, checkpointMessage(fields), key, Buffer.from(signature, 'base64'));
  } catch {
    return false;
  }
}

/** Short fingerprint of the signing key (SHA-256 of the SPKI DER, first 16 hex digits). */
export function keyFingerprint(publicKey: string): string {
  return createHash('sha256').update(Buffer.from(publicKey, 'base64')).digest('hex').slice(0, 16);
}

export function encodeCheckpoint(cp: AuditCheckpoint): Buffer {
  return Buffer.from(JSON.stringify(cp), 'utf8');
}

/** Parses a checkpoint (stored, or read from a file); undefined when the shape is wrong. */
export function parseCheckpoint(v: unknown): AuditCheckpoint | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const c = v as Record<string, unknown>;
  const isSeq = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
  if (c.v !== 1 || typeof c.deviceId !== 'string' || !isSeq(c.seq) || typeof c.hash !== 'string' || !HEX64.test(c.hash)) return undefined;
  if (typeof c.time !== 'number' || typeof c.alg !== 'string' || typeof c.publicKey !== 'string' || typeof c.signature !== 'string') return undefined;
  const cp: AuditCheckpoint = { v: 1, deviceId: c.deviceId, seq: c.seq, hash: c.hash, time: c.time, alg: c.alg, publicKey: c.publicKey, signature: c.signature };
  if (c.previous !== undefined) {
    const p = c.previous as Record<string, unknown> | null;
    if (!p || !isSeq(p.seq) || typeof p.hash !== 'string' || !HEX64.test(p.hash)) return undefined;
    cp.previous = { seq: p.seq, hash: p.hash };
  }
  return cp;
}

export function decodeCheckpoint(plain: Buffer): AuditCheckpoint | undefined {
  try {
    return parseCheckpoint(JSON.parse(plain.toString('utf8')));
  } catch {
    return undefined;
  }
}
