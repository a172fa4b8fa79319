/**
 * Every failure kind has one class with a stable LABEDGE_ERR_* code (docs/errors.md).
 * Messages name positions and opaque ids, never content: they may reach logs.
 * Retired codes are never reused.
 */
const BRAND = Symbol.for('labedge.error');

export const ERROR_CODES = {
  LABEDGE_ERR_CONFIG: 'configuration is invalid',
  LABEDGE_ERR_USAGE: 'command-line usage is wrong',
  LABEDGE_ERR_ASTM_FRAME: 'an E1381 frame was rejected',
  LABEDGE_ERR_ASTM_RECORD: 'E1394 records could not be parsed',
  LABEDGE_ERR_MAPPING: 'a message could not be mapped to FHIR',
  LABEDGE_ERR_STORE_COMMIT: 'the store could not durably commit',
  LABEDGE_ERR_STORE_INTEGRITY: 'a stored value failed authentication',
  LABEDGE_ERR_STORE_LOCKED: 'another process holds the store',
  LABEDGE_ERR_STORE_NOT_FOUND: 'no store in that data directory, or no record with that id',
  LABEDGE_ERR_KEY: 'the data key is missing or unusable',
  LABEDGE_ERR_UPLINK_TRANSIENT: 'upstream delivery failed and will be retried',
  LABEDGE_ERR_UPLINK_REJECTED: 'upstream rejected the data',
  LABEDGE_ERR_UPLINK_AUTH: 'upstream refused the credentials',
  LABEDGE_ERR_SERIAL: 'a serial port failed',
  LABEDGE_ERR_STORE_FULL: 'the store reached a capacity limit and refuses new messages',
  LABEDGE_ERR_STORE_DAMAGED: 'the store was damaged on disk (repaired, or refused)',
  LABEDGE_ERR_STORE_FORMAT: 'the store was written by a newer labedge',
  LABEDGE_ERR_OPERATOR_AUTH: 'the operator credential is missing or wrong',
  LABEDGE_ERR_AUDIT: 'the audit trail could not be written or read',
  LABEDGE_ERR_AUDIT_BROKEN: 'the audit chain failed verification',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export const isErrorCode = (v: unknown): v is ErrorCode => typeof v === 'string' && Object.hasOwn(ERROR_CODES, v);

export class LabedgeError extends Error {
  readonly code: ErrorCode;
  readonly [BRAND] = true;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'LabedgeError';
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as { [BRAND]?: unknown })[BRAND] === true;
  }
}

export const isLabedgeError = (e: unknown): e is LabedgeError => e instanceof LabedgeError;

/** A one-line, PHI-free description of any thrown value (codes and positions only). */
export function describeError(e: unknown): string {
  if (isLabedgeError(e)) return `${e.code}: ${e.message}`;
  if (e instanceof Error) {
    const { code, syscall, address, port } = e as { code?: unknown; syscall?: unknown; address?: unknown; port?: unknown };
    const named = typeof code === 'string' ? `${e.name} ${code}` : e.name;
    // A system error's call and network endpoint say where it failed; file paths are left out
    // (a file's name may be a patient's, as in `convert Smith_John.astm`).
    if (typeof syscall !== 'string') return named;
    const endpoint = typeof address === 'string' ? ` ${address}${typeof port === 'number' ? `:${port}` : ''}` : '';
    return `${named} (${syscall}${endpoint})`;
  }
  return 'unknown error';
}
