/**
 * Every MQTT payload the box publishes, built field by field from a whitelist (invariant 6:
 * the fleet view never sees PHI). Raw event objects are never serialised: a field added to
 * an event later does not reach the broker until it is added here, on purpose.
 */
import type { AuditCheckpoint } from '../audit/audit-types.js';

export interface StatusPayload {
  state: 'online' | 'offline';
  deviceId?: string;
  version?: string;
  since?: number;
  /** Event messages dropped from the bounded queue while the broker was unreachable. */
  dropped?: number;
}

export type FleetEvent =
  | { type: 'audit-checkpoint'; checkpoint: AuditCheckpoint }
  | { type: 'uplink-alarm'; kind: 'auth' | 'circuit-open'; active: boolean; status?: number; code?: string; retryInMs?: number }
  | { type: 'store-alarm'; code: string; severity: 'error' | 'warning' | 'info'; cleared: boolean };

// Error codes are identifiers (LABEDGE_ERR_STORE_FULL, UND_ERR_CONNECT_TIMEOUT, ECONNREFUSED).
const CODE = /^[A-Za-z0-9_.-]{1,64}$/;
const HEX64 = /^[0-9a-f]{64}$/;
const BASE64 = /^[A-Za-z0-9+/=]{1,4096}$/;
const count = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;

/** The checkpoint exactly as signed (the fields `audit verify --from-checkpoint` reads), nothing else. */
export function checkpointEvent(cp: AuditCheckpoint): FleetEvent | undefined {
  if (!count(cp.seq) || !count(cp.time) || !HEX64.test(cp.hash) || !CODE.test(cp.deviceId) || !CODE.test(cp.alg)) return undefined;
  if (!BASE64.test(cp.publicKey) || !BASE64.test(cp.signature)) return undefined;
  const previous = cp.previous && count(cp.previous.seq) && HEX64.test(cp.previous.hash) ? { previous: { seq: cp.previous.seq, hash: cp.previous.hash } } : {};
  return { type: 'audit-checkpoint', checkpoint: { v: 1, deviceId: cp.deviceId, seq: cp.seq, hash: cp.hash, time: cp.time, ...previous, alg: cp.alg, publicKey: cp.publicKey, signature: cp.signature } };
}

export function uplinkAlarmEvent(e: { kind: string; active: boolean; status?: number; code?: string; retryInMs?: number }): FleetEvent | undefined {
  if (e.kind !== 'auth' && e.kind !== 'circuit-open') return undefined;
  return {
    type: 'uplink-alarm',
    kind: e.kind,
    active: e.active === true,
    ...(count(e.status) ? { status: e.status } : {}),
    ...(typeof e.code === 'string' && CODE.test(e.code) ? { code: e.code } : {}),
    ...(count(e.retryInMs) ? { retryInMs: e.retryInMs } : {}),
  };
}

/** The alarm's code and severity only: its `message` is free text and stays on the box. */
export function storeAlarmEvent(e: { code: string; severity: string; cleared: boolean }): FleetEvent | undefined {
  if (!CODE.test(e.code)) return undefined;
  if (e.severity !== 'error' && e.severity !== 'warning' && e.severity !== 'info') return undefined;
  return { type: 'store-alarm', code: e.code, severity: e.severity, cleared: e.cleared === true };
}

/** The wire form of an event: `{v, type, at, ...}`. */
export function encodeEvent(e: FleetEvent, at: number): Buffer {
  return Buffer.from(JSON.stringify({ v: 1, at, ...e }), 'utf8');
}

export function encodeStatus(s: StatusPayload): Buffer {
  const out: StatusPayload = { state: s.state };
  if (s.deviceId !== undefined && CODE.test(s.deviceId)) out.deviceId = s.deviceId;
  if (s.version !== undefined && /^[A-Za-z0-9_.+-]{1,64}$/.test(s.version)) out.version = s.version;
  if (count(s.since)) out.since = s.since;
  if (count(s.dropped)) out.dropped = s.dropped;
  return Buffer.from(JSON.stringify(out), 'utf8');
}
