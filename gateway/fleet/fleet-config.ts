/**
 * The optional `fleet` section: where the box reports its status and events over MQTT.
 *
 * ```json
 * "fleet": {
 *   "brokerUrl": "mqtts://fleet.hospital.example:8883",
 *   "caFile": "/etc/labedge/pki/fleet-ca.pem",   // the broker's CA, pinned
 *   "certFile": "...", "keyFile": "...",          // default: the uplink's device certificate and key
 *   "topicPrefix": "labedge"                      // topics are <prefix>/<deviceId>/status|events
 * }
 * ```
 */
export interface FleetConfig {
  brokerUrl: string;
  caFile: string;
  certFile: string;
  keyFile: string;
  topicPrefix: string;
}

type Json = Record<string, unknown>;
type Fail = (field: string, message: string) => void;

// One topic level: no MQTT wildcards (+ #), no separators, no control characters.
const LEVEL = /^[A-Za-z0-9._-]{1,64}$/;
const KNOWN = new Set(['brokerUrl', 'caFile', 'certFile', 'keyFile', 'topicPrefix']);

/** Parses `raw.fleet` (absent: undefined). The device certificate defaults to the uplink's. */
export function parseFleetConfig(
  raw: Json,
  ctx: { deviceId: string; certFile: string; keyFile: string },
  fail: Fail,
  pathOf: (p: string) => string,
): FleetConfig | undefined {
  const f = raw.fleet;
  if (f === undefined) return undefined;
  if (typeof f !== 'object' || f === null || Array.isArray(f)) {
    fail('fleet', 'must be an object');
    return undefined;
  }
  const o = f as Json;
  const text = (key: string, fallback?: string): string => {
    const v = o[key];
    if (v === undefined && fallback !== undefined) return fallback;
    if (typeof v !== 'string' || v === '') {
      fail(`fleet.${key}`, 'must be a non-empty string');
      return '';
    }
    return v;
  };
  const brokerUrl = text('brokerUrl');
  if (brokerUrl && !/^mqtts:\/\/[^\s/]+(:\d{1,5})?\/?$/.test(brokerUrl)) fail('fleet.brokerUrl', 'must be an mqtts://host[:port] URL (plaintext brokers are not allowed)');
  const caFile = text('caFile');
  const certFile = o.certFile === undefined ? ctx.certFile : pathOf(text('certFile'));
  const keyFile = o.keyFile === undefined ? ctx.keyFile : pathOf(text('keyFile'));
  const topicPrefix = text('topicPrefix', 'labedge');
  if (topicPrefix && !topicPrefix.split('/').every((l) => LEVEL.test(l))) fail('fleet.topicPrefix', 'must be topic levels of letters, digits, . _ - separated by /');
  // The device id is a topic level (and the broker's ACL matches it to the certificate CN).
  if (ctx.deviceId && !LEVEL.test(ctx.deviceId)) fail('deviceId', 'must be 1-64 characters of letters, digits, . _ - when fleet is configured');
  for (const key of Object.keys(o)) if (!KNOWN.has(key)) fail(`fleet.${key}`, 'is not a known setting');
  return { brokerUrl: brokerUrl.replace(/\/$/, ''), caFile: caFile ? pathOf(caFile) : '', certFile, keyFile, topicPrefix };
}
