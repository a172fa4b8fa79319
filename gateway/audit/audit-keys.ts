/**
 * Where the audit trail lives in the store (beside record-keys.ts; same rules: opaque,
 * fixed-width hex counters, every value sealed with its key as AAD).
 *
 *   a!<seq:16>        audit entry; seq is the audit chain's own counter (1, 2, 3 …)
 *   c!<seq:16>        signed checkpoint of the chain at that seq
 *   r!<seq:16>        archived raw payload of inbound record i!<seq> (kept for the retention window)
 *   m!audit-head      {seq, hash} of the last entry, rewritten in every batch that appends
 *   m!audit-config    digest of the configuration at the last start (to record changes)
 */
export const AUDIT_PREFIX = { entry: 'a!', checkpoint: 'c!', payload: 'r!' } as const;
export const AUDIT_HEAD_KEY = 'm!audit-head';
export const AUDIT_CONFIG_KEY = 'm!audit-config';

const SEQ_HEX = 16;
const hex = (n: number): string => n.toString(16).padStart(SEQ_HEX, '0');

export const entryKey = (seq: number): string => AUDIT_PREFIX.entry + hex(seq);
export const checkpointKey = (seq: number): string => AUDIT_PREFIX.checkpoint + hex(seq);
export const payloadKey = (inboundSeq: number): string => AUDIT_PREFIX.payload + hex(inboundSeq);

/** Public id of a payload reference (`r-…`), like the queue's `i-…` ids. */
export const payloadRef = (key: string): string => key.replace('!', '-');
export const payloadKeyOfRef = (ref: string): string | undefined => (/^r-[0-9a-f]{16}$/.test(ref) ? ref.replace('-', '!') : undefined);

/** The seq of a key with this prefix, or undefined if the key is not exactly `<prefix><16 hex>`. */
export function seqOfKey(key: string, prefix: string): number | undefined {
  if (!key.startsWith(prefix) || key.length !== prefix.length + SEQ_HEX) return undefined;
  const digits = key.slice(prefix.length);
  if (!/^[0-9a-f]{16}$/.test(digits)) return undefined;
  return parseInt(digits, 16);
}

/** Range options covering every key with the prefix ('"' sorts right after '!'). */
export function auditRange(prefix: string, fromSeq?: number): { gte: string; lt: string } {
  return { gte: fromSeq === undefined ? prefix : prefix + hex(fromSeq), lt: prefix.slice(0, -1) + '"' };
}
