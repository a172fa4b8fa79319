/**
 * The uplink's optional settings, parsed and checked in the config's single pass
 * (gateway/config/config.ts calls `parseUplinkOptions` for the `uplink` object).
 *
 * ```json
 * "uplink": {
 *   "bundleType": "transaction",          // or "batch" for servers without transactions
 *   "maxInFlight": 8,                     // bundles in flight across all sources
 *   "trustSystemCas": false,              // also trust the system's root CAs (caFile then optional)
 *   "smart": {                            // SMART Backend Services (optional)
 *     "clientId": "labedge-0042",
 *     "tokenUrl": "https://auth.hospital.example/token",   // or "discovery": URL of smart-configuration
 *     "scopes": ["system/Observation.cu", "..."],           // default: the narrowest set labedge needs
 *     "keyFile": "/etc/labedge/pki/smart.key",              // default: the device key (RS384)
 *     "keyId": "kid-in-the-registered-jwks"                 // default: RFC 7638 thumbprint
 *   }
 * }
 * ```
 */
import type { BundleType } from './fhir-client.js';

export interface SmartConfig {
  clientId: string;
  tokenUrl?: string;
  /** URL of the smart-configuration document (default `{baseUrl}/.well-known/smart-configuration`). */
  discovery?: string;
  scopes?: string[];
  /** Signing key (PEM); default: the device key. */
  keyFile?: string;
  keyId?: string;
}

export interface UplinkOptionsConfig {
  bundleType?: BundleType;
  maxInFlight?: number;
  trustSystemCas?: boolean;
  smart?: SmartConfig;
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

export function parseUplinkOptions(u: Json, fail: (field: string, message: string) => void, pathOf: (p: string) => string): UplinkOptionsConfig {
  const out: UplinkOptionsConfig = {};
  const bundleType = u.bundleType ?? 'transaction';
  if (bundleType !== 'transaction' && bundleType !== 'batch') fail('uplink.bundleType', 'must be "transaction" or "batch"');
  else out.bundleType = bundleType;
  const maxInFlight = u.maxInFlight ?? 8;
  if (typeof maxInFlight !== 'number' || !Number.isInteger(maxInFlight) || maxInFlight < 1 || maxInFlight > 256) fail('uplink.maxInFlight', 'must be an integer from 1 to 256');
  else out.maxInFlight = maxInFlight;
  const trust = u.trustSystemCas ?? false;
  if (typeof trust !== 'boolean') fail('uplink.trustSystemCas', 'must be true or false');
  else out.trustSystemCas = trust;
  if (u.smart === undefined) return out;
  if (!isObject(u.smart)) {
    fail('uplink.smart', 'must be an object');
    return out;
  }
  const s = u.smart;
  const text = (key: string): string | undefined => {
    const v = s[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || v === '') fail(`uplink.smart.${key}`, 'must be a non-empty string');
    return typeof v === 'string' ? v : undefined;
  };
  const https = (key: string): string | undefined => {
    const v = text(key);
    if (v !== undefined && !/^https:\/\/[^\s]+$/.test(v)) fail(`uplink.smart.${key}`, 'must be an https:// URL');
    return v;
  };
  const clientId = text('clientId');
  if (clientId === undefined) fail('uplink.smart.clientId', 'must be a non-empty string');
  const smart: SmartConfig = { clientId: clientId ?? '' };
  const tokenUrl = https('tokenUrl');
  const discovery = https('discovery');
  if (tokenUrl !== undefined && discovery !== undefined) fail('uplink.smart', 'give tokenUrl or discovery, not both');
  if (tokenUrl !== undefined) smart.tokenUrl = tokenUrl;
  if (discovery !== undefined) smart.discovery = discovery;
  if (s.scopes !== undefined) {
    if (!Array.isArray(s.scopes) || s.scopes.length === 0 || s.scopes.some((x) => typeof x !== 'string' || !/^[\x21\x23-\x5b\x5d-\x7e]+$/.test(x))) {
      fail('uplink.smart.scopes', 'must be a non-empty array of scope strings');
    } else smart.scopes = s.scopes as string[];
  }
  const keyFile = text('keyFile');
  if (keyFile !== undefined) smart.keyFile = pathOf(keyFile);
  const keyId = text('keyId');
  if (keyId !== undefined) smart.keyId = keyId;
  out.smart = smart;
  return out;
}
