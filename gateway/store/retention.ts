import { deleteDeadLetters } from './dead-letter-ops.js';
import { decodeDeadLetter } from './record-codec.js';
import { PREFIX, prefixRange } from './record-keys.js';
import type { StoreInternals } from './store-internals.js';

/**
 * Retention: what the sweeper may delete, per key range. Records are streamed (one chunk in
 * memory), ages come from the opened value, and nothing younger than `minAgeMs` is ever
 * deleted, whatever the size bound says: over the bound, the oldest records past the floor
 * go first, and if that is not enough an alarm says so.
 */
export interface RetentionRule {
  /** For reports and alarms: "dead letters". */
  name: string;
  prefix: string;
  /** Delete records older than this. */
  maxAgeMs: number;
  /** Never delete records younger than this (dead letters: 90 days). */
  minAgeMs: number;
  /** Bound on the range's size (ciphertext bytes); undefined: none. */
  maxBytes?: number;
  /** The record's time (ms since the epoch) from its opened value; undefined keeps it. */
  ageOf(plain: Buffer): number | undefined;
}

/**
 * The queue's retention. Delivered records leave the queue on delivery; their raw bytes are
 * kept by the audit trail's payload archive for audit.payloadRetentionDays, bounded here by size.
 */
export interface RetentionConfig {
  /** Dead letters are kept this long; never less than DEAD_LETTER_FLOOR_DAYS. */
  deadLetterDays: number;
  deadLetterMaxBytes: number;
  /**
   * Bound on the audit trail's archive of raw payloads (delivered messages' only copy); its
   * age limit is `audit.payloadRetentionDays`. Oldest first (payload-bound.ts).
   */
  payloadArchiveMaxBytes: number;
  sweepIntervalMs: number;
}

export const DEAD_LETTER_FLOOR_DAYS = 90;
export const DAY_MS = 24 * 60 * 60 * 1000;

export const DEFAULT_RETENTION: RetentionConfig = {
  deadLetterDays: DEAD_LETTER_FLOOR_DAYS,
  deadLetterMaxBytes: 256 * 1024 * 1024,
  payloadArchiveMaxBytes: 256 * 1024 * 1024,
  sweepIntervalMs: 60 * 60 * 1000,
};

export function deadLetterRule(cfg: Pick<RetentionConfig, 'deadLetterDays' | 'deadLetterMaxBytes'>): RetentionRule {
  const days = Math.max(cfg.deadLetterDays, DEAD_LETTER_FLOOR_DAYS);
  return {
    name: 'dead letters',
    prefix: PREFIX.deadLetter,
    maxAgeMs: days * DAY_MS,
    minAgeMs: DEAD_LETTER_FLOOR_DAYS * DAY_MS,
    maxBytes: cfg.deadLetterMaxBytes,
    ageOf: (plain) => decodeDeadLetter(plain)?.at,
  };
}

export interface SweepResult {
  rule: string;
  purged: number;
  /** Ciphertext bytes of the records the range keeps. */
  bytes: number;
  /** Still over maxBytes with only records under the floor left. */
  overBound: boolean;
}

const CHUNK = 500;

async function deleteKeys(s: StoreInternals, keys: string[], prefix: string, rule: string): Promise<number> {
  if (prefix === PREFIX.deadLetter) return deleteDeadLetters(s, keys, rule);
  const done = await Promise.all(
    keys.map((key) =>
      s.locks.with(key, async () => {
        if ((await s.db.get(key)) === undefined) return 0;
        await s.submit([{ type: 'del', key }]);
        return 1;
      }),
    ),
  );
  return done.reduce<number>((a, b) => a + b, 0);
}

/** One sweep of one rule: by age, then by size. Values that do not open are kept (quarantine is not retention). */
export async function sweepRule(s: StoreInternals, rule: RetentionRule, now: number): Promise<SweepResult> {
  const range = prefixRange(rule.prefix);
  const oldest = now - rule.maxAgeMs;
  const floor = now - rule.minAgeMs;
  let purged = 0;
  let bytes = 0;
  /** Records past the floor but kept by age, oldest first by key: size-bound candidates (keys only). */
  let chunk: string[] = [];
  const flush = async (): Promise<void> => {
    const keys = chunk;
    chunk = [];
    if (keys.length > 0) purged += await deleteKeys(s, keys, rule.prefix, rule.name);
  };
  for await (const [key, value] of s.db.iterator(range)) {
    const at = ageOfValue(s, rule, key, value);
    if (at !== undefined && at < oldest && at < floor) {
      chunk.push(key);
      if (chunk.length >= CHUNK) await flush();
    } else {
      bytes += value.length;
    }
  }
  await flush();

  let overBound = false;
  if (rule.maxBytes !== undefined && bytes > rule.maxBytes) {
    for await (const [key, value] of s.db.iterator(range)) {
      if (bytes <= rule.maxBytes) break;
      const at = ageOfValue(s, rule, key, value);
      if (at === undefined || at >= floor) continue;
      chunk.push(key);
      bytes -= value.length;
      if (chunk.length >= CHUNK) await flush();
    }
    await flush();
    overBound = bytes > rule.maxBytes;
  }
  return { rule: rule.name, purged, bytes, overBound };
}

function ageOfValue(s: StoreInternals, rule: RetentionRule, key: string, value: Buffer): number | undefined {
  try {
    return s.sealer.open(key, value, rule.ageOf);
  } catch {
    return undefined;
  }
}
