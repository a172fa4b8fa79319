import { parseOperators, type OperatorCredential } from './operator-auth.js';

/**
 * The config's audit and operator fields (merged into LabedgeConfig by config.ts):
 *
 *   "operators": [{ "name": "jdoe", "tokenSha256": "<64 hex>" }],
 *   "audit": { "checkpointIntervalMinutes": 15, "payloadRetentionDays": 7, "sendCheckpointsUpstream": false }
 */
export interface AuditSettings {
  /** How often the daemon signs a checkpoint of the chain (also at shutdown). */
  checkpointIntervalMs: number;
  /** How long archived raw payloads stay retrievable for `audit trace` (entries are kept longer). */
  payloadRetentionMs: number;
  /** Also POST each signed checkpoint to the FHIR server as an AuditEvent (needs write access to AuditEvent there). */
  sendCheckpointsUpstream: boolean;
}

export const DEFAULT_AUDIT_SETTINGS: AuditSettings = {
  checkpointIntervalMs: 15 * 60_000,
  // Delivered records are kept 7 days by default (issue 5: store-and-forward retention); the
  // archived payload is the only copy of a delivered record, so this is that window.
  payloadRetentionMs: 7 * 86_400_000,
  sendCheckpointsUpstream: false,
};

type Fail = (field: string, message: string) => void;

export function parseAuditConfig(raw: Record<string, unknown>, fail: Fail): { operators: OperatorCredential[]; audit: AuditSettings } {
  const { operators, issues } = parseOperators(raw.operators);
  for (const i of issues) fail(i.field, i.message);
  const audit = { ...DEFAULT_AUDIT_SETTINGS };
  const a = raw.audit;
  if (a !== undefined) {
    if (typeof a !== 'object' || a === null || Array.isArray(a)) fail('audit', 'must be an object');
    else {
      const o = a as Record<string, unknown>;
      const positive = (key: string, scale: number, max: number): number | undefined => {
        const v = o[key];
        if (v === undefined) return undefined;
        if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || v > max) {
          fail(`audit.${key}`, `must be a positive number up to ${max}`);
          return undefined;
        }
        return v * scale;
      };
      audit.checkpointIntervalMs = positive('checkpointIntervalMinutes', 60_000, 24 * 60) ?? audit.checkpointIntervalMs;
      audit.payloadRetentionMs = positive('payloadRetentionDays', 86_400_000, 3660) ?? audit.payloadRetentionMs;
      if (o.sendCheckpointsUpstream !== undefined) {
        if (typeof o.sendCheckpointsUpstream !== 'boolean') fail('audit.sendCheckpointsUpstream', 'must be true or false');
        else audit.sendCheckpointsUpstream = o.sendCheckpointsUpstream;
      }
      for (const key of Object.keys(o)) {
        if (key !== 'checkpointIntervalMinutes' && key !== 'payloadRetentionDays' && key !== 'sendCheckpointsUpstream') fail(`audit.${key}`, 'is not a known setting');
      }
    }
  }
  return { operators, audit };
}
