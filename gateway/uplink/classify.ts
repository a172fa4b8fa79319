/**
 * What an upstream failure means for the record being delivered:
 * - ok: delivered, delete it;
 * - transient: the network or the server is unwell, retry later with backoff;
 * - rejected: the server refused this data (4xx data errors), dead-letter this one record;
 * - auth: our credentials or the TLS trust are wrong; good data is never dead-lettered for
 *   this, delivery pauses until an operator fixes it.
 * Anything unexpected is transient: retrying never loses data, dead-lettering hides it.
 */
export type UplinkOutcome = 'ok' | 'transient' | 'rejected' | 'auth';

const TRANSIENT_STATUS = new Set([408, 425, 429]);
const AUTH_STATUS = new Set([401, 403, 407]);
/**
 * 4xx statuses that blame the request's content even without an OperationOutcome. Any other
 * 4xx with no error issues to go on (404, 405, 406, 410, 415 from a proxy or a wrong base URL)
 * says nothing about the data: dead-lettering on it would empty the whole backlog into the
 * DLQ, so it is retried (and the circuit breaker raises its alarm) instead.
 */
const DATA_STATUS = new Set([400, 409, 412, 413, 422]);

// OperationOutcome issue codes (http://hl7.org/fhir/R4/valueset-issue-type.html) by category.
const TRANSIENT_ISSUES = new Set(['transient', 'lock-error', 'no-store', 'exception', 'timeout', 'throttled', 'incomplete']);
const SECURITY_ISSUES = new Set(['security', 'login', 'unknown', 'expired', 'forbidden', 'suppressed']);

/**
 * Classifies an HTTP status, refined by the server's OperationOutcome for 4xx answers
 * (a 400 whose every error is `transient`/`throttled` is retried, a `security` error is auth,
 * a 404 with an error OperationOutcome blames the data, a bare 404 does not).
 */
export function classifyResponse(status: number, outcome?: unknown): UplinkOutcome {
  if (status >= 200 && status < 300) return 'ok';
  if (AUTH_STATUS.has(status)) return 'auth';
  if (TRANSIENT_STATUS.has(status) || status >= 500) return 'transient';
  if (status >= 400 && status < 500) {
    const codes = errorIssueCodes(outcome);
    if (codes.some((c) => SECURITY_ISSUES.has(c))) return 'auth';
    if (codes.length > 0 && codes.every((c) => TRANSIENT_ISSUES.has(c))) return 'transient';
    return codes.length > 0 || DATA_STATUS.has(status) ? 'rejected' : 'transient';
  }
  // 1xx/3xx: a proxy or a misconfigured base URL, not the data's fault.
  return 'transient';
}

// Certificate verification failures (OpenSSL X509_V_ERR_* names as Node reports them).
const CERT_ERRORS = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
  'CERT_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID',
  'CERT_HAS_EXPIRED',
  'ERROR_IN_CERT_NOT_BEFORE_FIELD',
  'ERROR_IN_CERT_NOT_AFTER_FIELD',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_CHAIN_TOO_LONG',
  'CERT_REVOKED',
  'INVALID_CA',
  'PATH_LENGTH_EXCEEDED',
  'INVALID_PURPOSE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  // Our own key or certificate cannot be loaded.
  'ERR_OSSL_PEM_NO_START_LINE',
  'ERR_OSSL_X509_KEY_VALUES_MISMATCH',
]);

/**
 * Classifies a thrown error. TLS failures are auth: the server's certificate is not one we
 * trust, or the server refused ours with an alert (`ERR_SSL_*_ALERT_*`, e.g. certificate
 * required, unknown CA). Everything else (resets, refusals, timeouts, DNS) is transient.
 */
export function classifyError(err: unknown): 'transient' | 'auth' {
  for (const code of errorCodes(err)) {
    if (CERT_ERRORS.has(code) || /^ERR_SSL_.*ALERT/.test(code) || code === 'ERR_SSL_WRONG_VERSION_NUMBER') return 'auth';
  }
  return 'transient';
}

/** A PHI-free identifier for an error: its code (or its cause's), else its name. */
export function errorCodeOf(err: unknown): string {
  const [code] = errorCodes(err);
  if (code) return code;
  return err instanceof Error ? err.name : 'unknown';
}

/** Codes of the error and its causes, outermost first (bounded: causes can be cyclic). */
function errorCodes(err: unknown): string[] {
  const codes: string[] = [];
  let current: unknown = err;
  for (let depth = 0; depth < 5 && typeof current === 'object' && current !== null; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') codes.push(code);
    current = (current as { cause?: unknown }).cause;
  }
  return codes;
}

function errorIssueCodes(outcome: unknown): string[] {
  if (typeof outcome !== 'object' || outcome === null) return [];
  const { resourceType, issue } = outcome as { resourceType?: unknown; issue?: unknown };
  if (resourceType !== 'OperationOutcome' || !Array.isArray(issue)) return [];
  const codes: string[] = [];
  for (const i of issue as { severity?: unknown; code?: unknown }[]) {
    if ((i?.severity === 'error' || i?.severity === 'fatal') && typeof i.code === 'string') codes.push(i.code);
  }
  return codes;
}
