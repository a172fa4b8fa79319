/**
 * The audit trail's vocabulary. An entry is `{v, seq, time, kind, prev, body, hash}`:
 * `seq` counts from 1 without gaps, `prev` is the previous entry's hash (GENESIS for the
 * first), `hash` covers everything else (audit-codec.ts). Bodies are stored sealed; what
 * leaves the box goes through the PHI-free projection (audit-projection.ts).
 */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/** One stage of one message's journey. */
export const MESSAGE_KINDS = ['ingest', 'transform', 'reject', 'deliver', 'dead-letter'] as const;

/**
 * Operator and security events. `enrollment`, `renewal` and `remote-command` are reserved for
 * provisioning and fleet work; the rest are written today.
 */
export const EVENT_KINDS = [
  'app-start',
  'app-stop',
  'config-change',
  'dlq-access',
  'payload-access',
  'audit-access',
  'operator-auth-failure',
  'uplink-auth-failure',
  'integrity',
  'payload-expired',
  'retention-purge',
  'audit-recovery',
  'enrollment',
  'renewal',
  'remote-command',
] as const;

export type MessageKind = (typeof MESSAGE_KINDS)[number];
export type EventKind = (typeof EVENT_KINDS)[number];
export type AuditKind = MessageKind | EventKind;

export const isAuditKind = (k: unknown): k is AuditKind =>
  typeof k === 'string' && ((MESSAGE_KINDS as readonly string[]).includes(k) || (EVENT_KINDS as readonly string[]).includes(k));

export interface AuditEntry {
  v: 1;
  seq: number;
  /** Wall-clock ms when the entry was sealed into its batch. */
  time: number;
  kind: AuditKind;
  /** Hex SHA-256 of the previous entry (GENESIS_HASH for seq 1). */
  prev: string;
  body: JsonObject;
  /** Hex SHA-256 over the entry without this field (audit-codec.ts). */
  hash: string;
}

/** What a caller asks to record; seq, time, prev and hash are assigned when its batch is written. */
export interface AuditDraft {
  kind: AuditKind;
  body: JsonObject;
}

/** The last entry of the chain (seq 0 and GENESIS_HASH when empty). */
export interface AuditHead {
  seq: number;
  hash: string;
}

export const GENESIS_HASH = '0'.repeat(64);

/** Extra facts the transform worker knows when it moves a message inbound → outbound. */
export interface TransformAudit {
  /** messageDigest() of the raw bytes. */
  digest?: string;
  /** PHI-free warnings (`position: text`). */
  warnings?: readonly string[];
  /** Positions present in the message but not mapped (`P.6`). */
  unmapped?: readonly string[];
}

/** Extra facts the transform worker knows when it rejects a message. */
export interface RejectAudit {
  digest?: string;
}

/** What the delivery worker knows after a 2xx: the server's reply (stored sealed; only ids and versions are kept). */
export interface DeliverAudit {
  sourceId?: string;
  status?: number;
  /** The transaction-response Bundle (FhirUplinkClient result.response). */
  response?: unknown;
  /** Defaults to the server set with AuditLog.setServer (the configured uplink). */
  server?: string;
}

/** What the delivery worker knows when the server refused a Bundle. */
export interface DeadLetterAudit {
  sourceId?: string;
  status?: number;
  /** The server's OperationOutcome: only its issue codes are recorded. */
  response?: unknown;
  server?: string;
}

/** A signed statement "the chain had this head at this time" (checkpoint.ts). */
export interface AuditCheckpoint {
  v: 1;
  deviceId: string;
  seq: number;
  hash: string;
  time: number;
  /** The checkpoint before this one, which this one extends. */
  previous?: { seq: number; hash: string };
  /** Signature algorithm as node:crypto names it: `sha256` (RSA/ECDSA) or `ed25519`. */
  alg: string;
  /** The signer's public key, SPKI DER, base64. */
  publicKey: string;
  /** Signature over checkpointMessage(), base64. */
  signature: string;
}
