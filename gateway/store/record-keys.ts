/**
 * The LevelDB key layout. Keys are opaque: fixed-width hex counters only, never a source
 * name, patient, specimen or accession id. Lexicographic order is numeric order, so
 * iteration gives FIFO order (per source for outbound records).
 *
 *   k!<keyId:8>                 wrapped data key (sealed under the KEK)
 *   m!seq                       sequence high-water mark (sealed)
 *   m!format                    store format mark (sealed, store-format.ts)
 *   s!<sourceNo:8>              source table: sourceNo -> sourceId (sealed)
 *   i!<seq:16>                  inbound record (its raw bytes are in the audit payload r!<seq>)
 *   o!<sourceNo:8>!<seq:16>     outbound record; seq is the inbound's, so receive order holds
 *   d!<seq:16>                  dead letter
 *
 * Public ids mirror the keys with '-' (`i-…`, `o-…-…`, `d-…`) so operators can type them.
 */
export const PREFIX = {
  dataKey: 'k!',
  meta: 'm!',
  source: 's!',
  inbound: 'i!',
  outbound: 'o!',
  deadLetter: 'd!',
  /** intake dedupe entries (HL7 MSH-10): h!<keyed MAC>, never the id itself */
  dedupe: 'h!',
} as const;

export const SEQ_KEY = 'm!seq';
/** The store format mark (store-format.ts). */
export const FORMAT_KEY = 'm!format';
/** Plaintext marker left by a crypto-erase (key-erase.ts): `{"at": ISO time}`. */
export const ERASED_KEY = 'm!erased';

/**
 * Every prefix a healthy store holds: the queue's, plus the audit trail's (a! entries,
 * c! checkpoints, r! archived payloads: gateway/audit/audit-keys.ts). A key outside these
 * (a bit flip in a key's first byte, say) is reported when the store opens.
 */
export const KNOWN_PREFIXES: readonly string[] = [...Object.values(PREFIX), 'a!', 'c!', 'r!'];

const SEQ_HEX = 16;
const NO_HEX = 8;
export const MAX_SOURCE_NO = 0xffffffff;

/** Range options covering every key with the given prefix ('"' sorts right after '!'). */
export function prefixRange(prefix: string): { gte: string; lt: string } {
  return { gte: prefix, lt: prefix.slice(0, -1) + '"' };
}

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, '0');
}

export const dataKeyKey = (keyId: number): string => PREFIX.dataKey + hex(keyId, NO_HEX);
export const sourceKey = (sourceNo: number): string => PREFIX.source + hex(sourceNo, NO_HEX);
export const inboundKey = (seq: number): string => PREFIX.inbound + hex(seq, SEQ_HEX);
export const deadLetterKey = (seq: number): string => PREFIX.deadLetter + hex(seq, SEQ_HEX);
export const outboundKey = (sourceNo: number, seq: number): string =>
  `${PREFIX.outbound}${hex(sourceNo, NO_HEX)}!${hex(seq, SEQ_HEX)}`;
export const outboundSourcePrefix = (sourceNo: number): string => `${PREFIX.outbound}${hex(sourceNo, NO_HEX)}!`;

export type ParsedKey =
  | { kind: 'inbound'; seq: number }
  | { kind: 'outbound'; sourceNo: number; seq: number }
  | { kind: 'deadLetter'; seq: number }
  | { kind: 'source'; sourceNo: number }
  | { kind: 'dataKey'; keyId: number };

const KEY_PATTERNS: Array<[RegExp, (m: RegExpExecArray) => ParsedKey]> = [
  [/^i!([0-9a-f]{16})$/, (m) => ({ kind: 'inbound', seq: parseInt(m[1] ?? '', 16) })],
  [/^o!([0-9a-f]{8})!([0-9a-f]{16})$/, (m) => ({ kind: 'outbound', sourceNo: parseInt(m[1] ?? '', 16), seq: parseInt(m[2] ?? '', 16) })],
  [/^d!([0-9a-f]{16})$/, (m) => ({ kind: 'deadLetter', seq: parseInt(m[1] ?? '', 16) })],
  [/^s!([0-9a-f]{8})$/, (m) => ({ kind: 'source', sourceNo: parseInt(m[1] ?? '', 16) })],
  [/^k!([0-9a-f]{8})$/, (m) => ({ kind: 'dataKey', keyId: parseInt(m[1] ?? '', 16) })],
];

export function parseKey(key: string): ParsedKey | undefined {
  for (const [pattern, build] of KEY_PATTERNS) {
    const m = pattern.exec(key);
    if (m) return build(m);
  }
  return undefined;
}

/** Public id of a record key (`i!00…2a` → `i-00…2a`). */
export const idOfKey = (key: string): string => key.replaceAll('!', '-');

/** The record key for a public id of the expected kind, or undefined if it is not one. */
export function keyOfId(id: string, kind: 'inbound' | 'outbound' | 'deadLetter'): string | undefined {
  const key = id.replaceAll('-', '!');
  const parsed = parseKey(key);
  return parsed?.kind === kind ? key : undefined;
}
