import { dirname, resolve, basename, join, relative, isAbsolute } from 'node:path';
import type { SerialSettings } from '../../hardware/serial-line.js';
import { parseAuditConfig, type AuditSettings } from '../audit/audit-config.js';
import type { OperatorCredential } from '../audit/operator-auth.js';
import { parseUplinkOptions, type UplinkOptionsConfig } from '../uplink/uplink-config.js';
import { parseHl7Transport, type Hl7InstrumentConfig } from '../hl7/hl7-instrument-config.js';
import { parseStoreConfig, type StoreConfig } from '../store/store-config.js';
import { parseFleetConfig, type FleetConfig } from '../fleet/fleet-config.js';
import { parseAstmInstrumentExtras, type AstmInstrumentExtras } from '../profiles/instrument-profile.js';
import { parseHl7InstrumentExtras } from '../profiles/hl7-profile.js';

export type { Hl7InstrumentConfig } from '../hl7/hl7-instrument-config.js';

/**
 * The daemon's configuration: parsed and validated in one pure pass that reports every
 * problem with its field path, then frozen. Nothing starts until it is valid.
 */
export type TextEncoding = 'auto' | 'utf-8' | 'latin1';

export interface InstrumentConfig extends AstmInstrumentExtras {
  /** Stable instrument id: names the source in records, identifiers and logs. Not PHI. */
  id: string;
  protocol: 'astm';
  /** tcp `role`: `server` (default) listens for the instrument; `client` connects out to it, reconnecting with backoff. */
  transport: ({ type: 'serial' } & SerialSettings) | { type: 'tcp'; host: string; port: number; role?: 'server' | 'client' };
  encoding: TextEncoding;
  /** IANA zone for instrument times that carry no offset. */
  timeZone: string;
}

/** Any instrument: ASTM (InstrumentConfig) or HL7 v2 (gateway/hl7/hl7-instrument-config.ts). */
export type AnyInstrumentConfig = InstrumentConfig | Hl7InstrumentConfig;

/** Optional fields (bundleType, maxInFlight, trustSystemCas, smart): gateway/uplink/uplink-config.ts. */
export interface UplinkConfig extends UplinkOptionsConfig {
  baseUrl: string;
  caFile: string;
  certFile: string;
  keyFile: string;
  timeoutMs: number;
}

export interface LabedgeConfig {
  deviceId: string;
  dataDir: string;
  keyFile: string;
  uplink: UplinkConfig;
  instruments: AnyInstrumentConfig[];
  logLevel: string;
  /** Operators allowed to see payloads (`audit trace`, `queue dlq show`): gateway/audit/operator-auth.ts. */
  operators?: OperatorCredential[];
  /** Checkpoint interval and payload retention: gateway/audit/audit-config.ts. */
  audit?: AuditSettings;
  /** Capacity limits, lease wait, dead-letter retention: gateway/store/store-config.ts (defaults when absent). */
  store?: StoreConfig;
  /** Fleet broker (MQTT over mTLS) for status and events: gateway/fleet/fleet-config.ts (off when absent). */
  fleet?: FleetConfig;
}

export interface ConfigIssue {
  field: string;
  message: string;
}

export function systemTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
}

/** Where the key-encryption key lives by default: beside the data directory, never inside it. */
export function defaultKeyFile(dataDir: string): string {
  const abs = resolve(dataDir);
  return join(dirname(abs), `${basename(abs)}-keys`, 'kek');
}

function isValidTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Validates raw JSON; relative paths resolve against `baseDir` (the config file's folder). */
export function parseConfig(raw: unknown, baseDir: string): { config?: LabedgeConfig; issues: ConfigIssue[] } {
  const issues: ConfigIssue[] = [];
  const fail = (field: string, message: string) => {
    issues.push({ field, message });
  };
  if (!isObject(raw)) return { issues: [{ field: '', message: 'must be a JSON object' }] };

  const str = (obj: Json, key: string, path: string, fallback?: string): string => {
    const v = obj[key];
    if (v === undefined && fallback !== undefined) return fallback;
    if (typeof v !== 'string' || v.length === 0) {
      fail(path, 'must be a non-empty string');
      return '';
    }
    return v;
  };
  const num = (obj: Json, key: string, path: string, fallback: number, allowed?: readonly number[]): number => {
    const v = obj[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) fail(path, 'must be a positive number');
    else if (allowed && !allowed.includes(v)) fail(path, `must be one of ${allowed.join(', ')}`);
    return typeof v === 'number' ? v : fallback;
  };
  const pathOf = (p: string) => (p ? resolve(baseDir, p) : p);
  // A misspelt key would silently fall back to a default (`baudrate` → 9600 baud): refuse it.
  const onlyKnown = (obj: Json, path: string, known: readonly string[]): void => {
    for (const key of Object.keys(obj)) if (!known.includes(key)) fail(path ? `${path}.${key}` : key, 'is not a known setting');
  };
  onlyKnown(raw, '', ['deviceId', 'dataDir', 'keyFile', 'logLevel', 'timeZone', 'uplink', 'instruments', 'operators', 'audit', 'store', 'fleet']);

  const deviceId = str(raw, 'deviceId', 'deviceId');
  const dataDir = pathOf(str(raw, 'dataDir', 'dataDir', './data'));
  const keyFile = raw.keyFile === undefined ? defaultKeyFile(dataDir) : pathOf(str(raw, 'keyFile', 'keyFile'));
  const keyRel = relative(dataDir, keyFile);
  if (dataDir !== '' && keyFile !== '' && (keyRel === '' || (!keyRel.startsWith('..') && !isAbsolute(keyRel)))) {
    fail('keyFile', 'must be outside dataDir: a copied data directory must reveal nothing');
  }
  const logLevel = str(raw, 'logLevel', 'logLevel', 'info');
  const defaultZone = str(raw, 'timeZone', 'timeZone', systemTimeZone());
  if (!isValidTimeZone(defaultZone)) fail('timeZone', 'is not a known IANA time zone');

  let uplink: UplinkConfig = { baseUrl: '', caFile: '', certFile: '', keyFile: '', timeoutMs: 30_000 };
  if (!isObject(raw.uplink)) fail('uplink', 'must be an object');
  else {
    const u = raw.uplink;
    onlyKnown(u, 'uplink', ['baseUrl', 'caFile', 'certFile', 'keyFile', 'timeoutMs', 'bundleType', 'maxInFlight', 'trustSystemCas', 'smart']);
    if (isObject(u.smart)) onlyKnown(u.smart, 'uplink.smart', ['clientId', 'tokenUrl', 'discovery', 'scopes', 'keyFile', 'keyId']);
    const baseUrl = str(u, 'baseUrl', 'uplink.baseUrl');
    if (baseUrl && !/^https:\/\//.test(baseUrl)) fail('uplink.baseUrl', 'must be an https:// URL (plaintext uplinks are not allowed)');
    uplink = {
      baseUrl: baseUrl.replace(/\/+$/, ''),
      // With trustSystemCas the pinned CA is optional (the system roots are trusted as well).
      caFile: u.caFile === undefined && u.trustSystemCas === true ? '' : pathOf(str(u, 'caFile', 'uplink.caFile')),
      certFile: pathOf(str(u, 'certFile', 'uplink.certFile')),
      keyFile: pathOf(str(u, 'keyFile', 'uplink.keyFile')),
      timeoutMs: num(u, 'timeoutMs', 'uplink.timeoutMs', 30_000),
      ...parseUplinkOptions(u, fail, pathOf),
    };
  }

  const instruments: AnyInstrumentConfig[] = [];
  if (!Array.isArray(raw.instruments)) fail('instruments', 'must be an array');
  else {
    const seen = new Set<string>();
    const listeners: { port: number; host: string; path: string }[] = [];
    raw.instruments.forEach((item: unknown, i: number) => {
      const p = `instruments[${i}]`;
      if (!isObject(item)) return fail(p, 'must be an object');
      const id = str(item, 'id', `${p}.id`);
      if (id && !/^[A-Za-z0-9._-]{1,64}$/.test(id)) fail(`${p}.id`, 'must be 1-64 characters of letters, digits, . _ -');
      if (seen.has(id)) fail(`${p}.id`, 'is used twice');
      seen.add(id);
      const protocol = item.protocol ?? 'astm';
      if (protocol !== 'astm' && protocol !== 'hl7') fail(`${p}.protocol`, 'must be "astm" or "hl7"');
      const encoding = item.encoding ?? 'auto';
      if (encoding !== 'auto' && encoding !== 'utf-8' && encoding !== 'latin1') fail(`${p}.encoding`, 'must be auto, utf-8 or latin1');
      const timeZone = str(item, 'timeZone', `${p}.timeZone`, defaultZone);
      if (!isValidTimeZone(timeZone)) fail(`${p}.timeZone`, 'is not a known IANA time zone');
      onlyKnown(item, p, ['id', 'protocol', 'encoding', 'timeZone', 'transport', 'profile', 'overrides']);
      if (!isObject(item.transport)) return fail(`${p}.transport`, 'must be an object');
      const t = item.transport;
      if (protocol !== 'hl7') onlyKnown(t, `${p}.transport`, t.type === 'tcp' ? ['type', 'host', 'port', 'role'] : ['type', 'path', 'baudRate', 'dataBits', 'parity', 'stopBits']);
      else {
        const framing = ['type', 'maxFrameBytes', 'openFrameTimeoutMs', 'release2'];
        if (t.type === 'mllp') onlyKnown(t, `${p}.transport`, [...framing, 'host', 'port', 'allowPlaintext', 'tls', 'maxConnections']);
        else if (t.type === 'serial') onlyKnown(t, `${p}.transport`, [...framing, 'path', 'baudRate', 'dataBits', 'parity', 'stopBits', 'framing', 'idleMs']);
        if (isObject(t.tls)) onlyKnown(t.tls, `${p}.transport.tls`, ['certFile', 'keyFile', 'caFile', 'pinnedFingerprints']);
      }
      // Two listeners on one port: the second cannot bind, and would leave the box half started.
      const listens = protocol === 'hl7' ? t.type === 'mllp' : t.type === 'tcp' && t.role !== 'client';
      if (listens && typeof t.port === 'number' && t.port !== 0) {
        const host = typeof t.host === 'string' ? t.host : '*';
        const wildcard = (h: string): boolean => h === '*' || h === '0.0.0.0' || h === '::';
        const clash = listeners.find((l) => l.port === t.port && (l.host === host || wildcard(l.host) || wildcard(host)));
        if (clash) fail(`${p}.transport.port`, `is already the listening port of ${clash.path}`);
        listeners.push({ port: t.port, host, path: p });
      }
      if (protocol === 'hl7') {
        const transport = parseHl7Transport(t, `${p}.transport`, fail, pathOf);
        const hl7Extras = parseHl7InstrumentExtras(item, p, fail);
        if (transport) instruments.push({ id, protocol: 'hl7', encoding: encoding as TextEncoding, timeZone, transport, ...hl7Extras });
        return;
      }
      const extras = parseAstmInstrumentExtras(item, p, fail);
      if (t.type === 'tcp') {
        const port = t.port;
        if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) fail(`${p}.transport.port`, 'must be a TCP port number');
        if (t.role !== undefined && t.role !== 'server' && t.role !== 'client') fail(`${p}.transport.role`, 'must be "server" or "client"');
        const role = t.role === 'client' ? { role: 'client' as const } : {};
        instruments.push({ id, protocol: 'astm', encoding: encoding as TextEncoding, timeZone, ...extras, transport: { type: 'tcp', host: str(t, 'host', `${p}.transport.host`, '127.0.0.1'), port: Number(port), ...role } });
        return;
      }
      if (t.type !== 'serial') fail(`${p}.transport.type`, 'must be "serial" or "tcp"');
      const parity = t.parity ?? 'none';
      if (!['none', 'even', 'odd', 'mark', 'space'].includes(String(parity))) fail(`${p}.transport.parity`, 'must be none, even, odd, mark or space');
      instruments.push({
        id,
        protocol: 'astm',
        encoding: encoding as TextEncoding,
        timeZone,
        ...extras,
        transport: {
          type: 'serial',
          path: str(t, 'path', `${p}.transport.path`),
          baudRate: num(t, 'baudRate', `${p}.transport.baudRate`, 9600),
          dataBits: num(t, 'dataBits', `${p}.transport.dataBits`, 8, [5, 6, 7, 8]) as SerialSettings['dataBits'],
          parity: parity as SerialSettings['parity'],
          stopBits: num(t, 'stopBits', `${p}.transport.stopBits`, 1, [1, 1.5, 2]) as SerialSettings['stopBits'],
        },
      });
    });
  }

  const auditPart = parseAuditConfig(raw, fail);
  if (isObject(raw.store)) {
    onlyKnown(raw.store, 'store', ['maxBytes', 'maxRecords', 'minFreeDiskBytes', 'leaseWaitMs', 'retention']);
    const r = raw.store.retention;
    if (isObject(r)) onlyKnown(r, 'store.retention', ['deadLetterDays', 'deadLetterMaxBytes', 'payloadArchiveMaxBytes', 'sweepIntervalMs']);
  }
  const store = parseStoreConfig(raw.store, fail);
  const fleet = parseFleetConfig(raw, { deviceId, certFile: uplink.certFile, keyFile: uplink.keyFile }, fail, pathOf);
  if (issues.length > 0) return { issues };
  const config: LabedgeConfig = { deviceId, dataDir, keyFile, uplink, instruments, logLevel, ...auditPart, store, ...(fleet ? { fleet } : {}) };
  return { config: deepFreeze(config), issues };
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
