/**
 * The `protocol: "hl7"` instrument profile: where its messages arrive (an MLLP listener, TLS by
 * default, or a serial line with or without MLLP framing) and how they are framed. Parsed in the
 * same one-pass, report-everything style as gateway/config/config.ts, which calls this.
 */
import type { SerialSettings } from '../../hardware/serial-line.js';
import type { Hl7InstrumentExtras } from '../profiles/hl7-profile.js';

export interface MllpTlsConfig {
  certFile: string;
  keyFile: string;
  /** CA that client certificates must chain to (client certificates are always required). */
  caFile: string;
  /** Optional per-instrument pinning: SHA-256 fingerprints (hex, colons optional) of accepted client certificates. */
  pinnedFingerprints?: string[];
}

export interface MllpFramingConfig {
  /** Largest message accepted, bytes (default 16 MiB). */
  maxFrameBytes?: number;
  /** Silence inside an open frame after which it is dropped, ms (default 30,000). */
  openFrameTimeoutMs?: number;
  /** MLLP release 2 commit blocks (ACK/NAK after each commit). */
  release2?: boolean;
}

export type Hl7Transport =
  | ({ type: 'mllp'; host: string; port: number; tls?: MllpTlsConfig; allowPlaintext?: boolean; maxConnections?: number } & MllpFramingConfig)
  | ({ type: 'serial'; framing: 'mllp' | 'none'; idleMs?: number } & SerialSettings & MllpFramingConfig);

/** `profile` / `overrides` (gateway/profiles/hl7-profile.ts): device quirks for intake and mapping. */
export interface Hl7InstrumentConfig extends Hl7InstrumentExtras {
  id: string;
  protocol: 'hl7';
  transport: Hl7Transport;
  /** `auto` (MSH-18, else UTF-8 when valid, else ISO-8859-1), or a forced `utf-8` / `latin1`. */
  encoding: 'auto' | 'utf-8' | 'latin1';
  timeZone: string;
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Parses `instruments[i].transport` for an HL7 instrument; problems go to `fail` with field paths. */
export function parseHl7Transport(
  t: Json,
  p: string,
  fail: (field: string, message: string) => void,
  pathOf: (path: string) => string,
): Hl7Transport | undefined {
  const str = (obj: Json, key: string, path: string, fallback?: string): string => {
    const v = obj[key];
    if (v === undefined && fallback !== undefined) return fallback;
    if (typeof v !== 'string' || v === '') {
      fail(path, 'must be a non-empty string');
      return '';
    }
    return v;
  };
  const optPositive = (key: string): number | undefined => {
    const v = t[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
      fail(`${p}.${key}`, 'must be a positive number');
      return undefined;
    }
    return v;
  };
  const framing: MllpFramingConfig = {};
  const maxFrameBytes = optPositive('maxFrameBytes');
  if (maxFrameBytes !== undefined) framing.maxFrameBytes = maxFrameBytes;
  const openFrameTimeoutMs = optPositive('openFrameTimeoutMs');
  if (openFrameTimeoutMs !== undefined) framing.openFrameTimeoutMs = openFrameTimeoutMs;
  if (t.release2 !== undefined) {
    if (typeof t.release2 !== 'boolean') fail(`${p}.release2`, 'must be true or false');
    else framing.release2 = t.release2;
  }

  if (t.type === 'mllp') {
    const port = t.port;
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) fail(`${p}.port`, 'must be a TCP port number');
    const allowPlaintext = t.allowPlaintext === true;
    if (t.allowPlaintext !== undefined && typeof t.allowPlaintext !== 'boolean') fail(`${p}.allowPlaintext`, 'must be true or false');
    let tls: MllpTlsConfig | undefined;
    if (t.tls !== undefined) {
      if (!isObject(t.tls)) fail(`${p}.tls`, 'must be an object');
      else {
        const s = t.tls;
        tls = {
          certFile: pathOf(str(s, 'certFile', `${p}.tls.certFile`)),
          keyFile: pathOf(str(s, 'keyFile', `${p}.tls.keyFile`)),
          caFile: pathOf(str(s, 'caFile', `${p}.tls.caFile`)),
        };
        if (s.pinnedFingerprints !== undefined) {
          const list = s.pinnedFingerprints;
          const norm = Array.isArray(list) ? list.map((f) => (typeof f === 'string' ? f.replaceAll(':', '').toLowerCase() : '')) : [];
          if (!Array.isArray(list) || norm.some((f) => !/^[0-9a-f]{64}$/.test(f))) {
            fail(`${p}.tls.pinnedFingerprints`, 'must be a list of SHA-256 fingerprints (64 hex digits, colons allowed)');
          } else tls.pinnedFingerprints = norm;
        }
      }
    } else if (!allowPlaintext) {
      fail(`${p}.tls`, 'is required: MLLP listeners use TLS with client certificates unless the profile sets "allowPlaintext": true');
    }
    const maxConnections = optPositive('maxConnections');
    return {
      type: 'mllp',
      host: str(t, 'host', `${p}.host`, '0.0.0.0'),
      port: Number(port),
      ...(tls ? { tls } : {}),
      ...(allowPlaintext && !tls ? { allowPlaintext: true } : {}),
      ...(maxConnections !== undefined ? { maxConnections } : {}),
      ...framing,
    };
  }
  if (t.type !== 'serial') {
    fail(`${p}.type`, 'must be "mllp" or "serial" for an HL7 instrument');
    return undefined;
  }
  const f = t.framing ?? 'mllp';
  if (f !== 'mllp' && f !== 'none') fail(`${p}.framing`, 'must be "mllp" or "none"');
  const parity = t.parity ?? 'none';
  if (!['none', 'even', 'odd', 'mark', 'space'].includes(String(parity))) fail(`${p}.parity`, 'must be none, even, odd, mark or space');
  const pick = <T extends number>(key: string, fallback: T, allowed: readonly number[]): T => {
    const v = t[key] ?? fallback;
    if (typeof v !== 'number' || !allowed.includes(v)) {
      fail(`${p}.${key}`, `must be one of ${allowed.join(', ')}`);
      return fallback;
    }
    return v as T;
  };
  const baudRate = t.baudRate ?? 9600;
  if (typeof baudRate !== 'number' || !Number.isInteger(baudRate) || baudRate <= 0) fail(`${p}.baudRate`, 'must be a positive integer');
  const idleMs = optPositive('idleMs');
  return {
    type: 'serial',
    framing: f === 'none' ? 'none' : 'mllp',
    path: str(t, 'path', `${p}.path`),
    baudRate: Number(baudRate),
    dataBits: pick<SerialSettings['dataBits']>('dataBits', 8, [5, 6, 7, 8]),
    parity: parity as SerialSettings['parity'],
    stopBits: pick<SerialSettings['stopBits']>('stopBits', 1, [1, 1.5, 2]),
    ...(idleMs !== undefined ? { idleMs } : {}),
    ...framing,
  };
}
