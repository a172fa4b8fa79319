import { DEFAULT_LIMITS, type StoreLimits } from './capacity.js';
import { DEAD_LETTER_FLOOR_DAYS, DEFAULT_RETENTION, type RetentionConfig } from './retention.js';

/**
 * The `store` section of the daemon's config, parsed in the same one-pass, every-problem-
 * reported style as config.ts (which calls it):
 *
 *   "store": { "maxBytes", "maxRecords", "minFreeDiskBytes", "leaseWaitMs",
 *              "retention": { "deadLetterDays", "deadLetterMaxBytes", "payloadArchiveMaxBytes", "sweepIntervalMs" } }
 *
 * Delivered raw messages are kept by the audit trail's payload archive, not by the queue
 * (`audit.payloadRetentionDays`, gateway/audit/audit-config.ts); operators are `operators`.
 */
export interface StoreConfig extends StoreLimits {
  /** How long the daemon waits at start for another process to release the store. */
  leaseWaitMs: number;
  retention: RetentionConfig;
}

export const DEFAULT_STORE_CONFIG: StoreConfig = { ...DEFAULT_LIMITS, leaseWaitMs: 30_000, retention: { ...DEFAULT_RETENTION } };

type Json = Record<string, unknown>;
type Fail = (field: string, message: string) => void;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

function numberAt(obj: Json, key: string, path: string, fallback: number, fail: Fail, min = 0): number {
  const v = obj[key];
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min) {
    fail(path, `must be a number ≥ ${min}`);
    return fallback;
  }
  return v;
}

export function parseStoreConfig(raw: unknown, fail: Fail): StoreConfig {
  if (raw === undefined) return structuredClone(DEFAULT_STORE_CONFIG);
  if (!isObject(raw)) {
    fail('store', 'must be an object');
    return structuredClone(DEFAULT_STORE_CONFIG);
  }
  const d = DEFAULT_STORE_CONFIG;
  const r = raw.retention;
  if (r !== undefined && !isObject(r)) fail('store.retention', 'must be an object');
  const ret: Json = isObject(r) ? r : {};
  const dr = d.retention;
  const config: StoreConfig = {
    maxBytes: numberAt(raw, 'maxBytes', 'store.maxBytes', d.maxBytes, fail, 1),
    maxRecords: numberAt(raw, 'maxRecords', 'store.maxRecords', d.maxRecords, fail, 1),
    minFreeDiskBytes: numberAt(raw, 'minFreeDiskBytes', 'store.minFreeDiskBytes', d.minFreeDiskBytes, fail),
    leaseWaitMs: numberAt(raw, 'leaseWaitMs', 'store.leaseWaitMs', d.leaseWaitMs, fail),
    retention: {
      deadLetterDays: numberAt(ret, 'deadLetterDays', 'store.retention.deadLetterDays', dr.deadLetterDays, fail),
      deadLetterMaxBytes: numberAt(ret, 'deadLetterMaxBytes', 'store.retention.deadLetterMaxBytes', dr.deadLetterMaxBytes, fail),
      payloadArchiveMaxBytes: 0, // below: its default depends on maxBytes
      sweepIntervalMs: numberAt(ret, 'sweepIntervalMs', 'store.retention.sweepIntervalMs', dr.sweepIntervalMs, fail, 1000),
    },
  };
  // The archive holds the only copy of delivered messages' bytes (and of queued ones': their
  // inbound records point at it); were it to fill the store's byte limit, new messages would be
  // refused with an empty queue. By default it gets a quarter of a small store; set, it must
  // stay below the limit.
  const archiveShare = Math.floor(config.maxBytes / 4);
  config.retention.payloadArchiveMaxBytes = numberAt(ret, 'payloadArchiveMaxBytes', 'store.retention.payloadArchiveMaxBytes', Math.min(dr.payloadArchiveMaxBytes, archiveShare), fail);
  if (config.retention.payloadArchiveMaxBytes >= config.maxBytes) {
    fail('store.retention.payloadArchiveMaxBytes', `must be less than store.maxBytes (${config.maxBytes}): the archive alone would fill the store`);
  }
  if (config.retention.deadLetterDays < DEAD_LETTER_FLOOR_DAYS) {
    fail('store.retention.deadLetterDays', `must be at least ${DEAD_LETTER_FLOOR_DAYS} (dead letters are kept at least 90 days)`);
  }
  return config;
}
