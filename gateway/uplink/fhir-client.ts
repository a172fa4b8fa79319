/**
 * Posts FHIR Bundles to the hospital's FHIR server over mutual TLS (undici, keep-alive).
 * It never throws for network or HTTP failures: every attempt ends in an UplinkResult whose
 * outcome tells the delivery worker what to do. Results carry status codes and error codes
 * only, never bundle content.
 */
import { X509Certificate } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import { Pool } from 'undici';
import type { Dispatcher } from 'undici';
import { systemClock, type Clock } from '../core/clock.js';
import { LabedgeError, describeError } from '../core/errors.js';
import { parseRetryAfter } from './backoff.js';
import { classifyError, classifyResponse, errorCodeOf, type UplinkOutcome } from './classify.js';

export interface FhirUplinkClientOptions {
  /** FHIR base URL (https only), e.g. https://fhir.hospital.example/fhir/R4 */
  baseUrl: string;
  /** PEM of the CA(s) trusted for the server certificate (the system store is not used). */
  ca: string;
  /** PEM of the device certificate (client authentication). */
  cert: string;
  /** PEM of the device private key. */
  key: string;
  /** Bound on connecting, on waiting for response headers, and on each body read gap (default 30000). */
  timeoutMs?: number;
  /** TLS server name to verify and send as SNI, when it differs from the base URL's host. */
  servername?: string;
  /** Parallel connections to the server (default 4). */
  connections?: number;
  /** Used to turn a Retry-After date into a delay. */
  clock?: Clock;
}

export interface UplinkResult {
  outcome: UplinkOutcome;
  /** HTTP status, when a response arrived. */
  status?: number;
  /** The server's Retry-After, in ms, on a failed attempt. */
  retryAfterMs?: number;
  /** Code of the network/TLS error (e.g. UND_ERR_HEADERS_TIMEOUT, CERT_HAS_EXPIRED). */
  errorCode?: string;
  /** The server's parsed JSON reply (a transaction-response or OperationOutcome). It may hold PHI: store it encrypted, never log it. */
  response?: unknown;
}

const MAX_RESPONSE_BYTES = 64 * 1024 * 1024;
const FHIR_JSON = 'application/fhir+json';

export class FhirUplinkClient {
  private readonly pool: Pool;
  private readonly path: string;
  private readonly clock: Clock;

  constructor(opts: FhirUplinkClientOptions) {
    let url: URL;
    try {
      url = new URL(opts.baseUrl);
    } catch (e) {
      throw new LabedgeError('LABEDGE_ERR_CONFIG', 'uplink.baseUrl is not a URL', { cause: e });
    }
    if (url.protocol !== 'https:') throw new LabedgeError('LABEDGE_ERR_CONFIG', 'uplink.baseUrl must be https:// (plaintext uplinks are not allowed)');
    if (url.search || url.hash) throw new LabedgeError('LABEDGE_ERR_CONFIG', 'uplink.baseUrl must not have a query or fragment');
    for (const field of ['ca', 'cert', 'key'] as const) {
      if (typeof opts[field] !== 'string' || opts[field].trim() === '') throw new LabedgeError('LABEDGE_ERR_CONFIG', `uplink ${field} PEM is missing`);
    }
    const timeoutMs = opts.timeoutMs ?? 30_000;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new LabedgeError('LABEDGE_ERR_CONFIG', 'uplink.timeoutMs must be a positive number');
    // Fail at startup, not on the first delivery, when the PEMs are unusable (wrong file, key/cert mismatch).
    try {
      new X509Certificate(opts.ca);
      createSecureContext({ ca: opts.ca, cert: opts.cert, key: opts.key });
    } catch (e) {
      throw new LabedgeError('LABEDGE_ERR_CONFIG', `uplink TLS material is unusable (${describeError(e)})`, { cause: e });
    }

    this.path = url.pathname.replace(/\/+$/, '') || '/';
    this.clock = opts.clock ?? systemClock();
    this.pool = new Pool(url.origin, {
      connections: opts.connections ?? 4,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      maxResponseSize: MAX_RESPONSE_BYTES,
      connect: {
        ca: opts.ca,
        cert: opts.cert,
        key: opts.key,
        rejectUnauthorized: true,
        minVersion: 'TLSv1.2',
        timeout: timeoutMs,
        ...(opts.servername ? { servername: opts.servername } : {}),
      },
    });
  }

  /** POSTs a batch/transaction Bundle to the base URL and classifies what happened. */
  async postBundle(bundle: object): Promise<UplinkResult> {
    let body: string;
    try {
      body = JSON.stringify(bundle);
    } catch (e) {
      return { outcome: 'rejected', errorCode: errorCodeOf(e) };
    }
    let status: number | undefined;
    try {
      const res = await this.pool.request({
        method: 'POST',
        path: this.path,
        headers: { 'content-type': `${FHIR_JSON}; charset=utf-8`, accept: FHIR_JSON },
        body,
      });
      status = res.statusCode;
      const response = parseJson(await res.body.text());
      const result: UplinkResult = { outcome: classifyResponse(status, response), status };
      if (response !== undefined) result.response = response;
      if (result.outcome !== 'ok') {
        const retryAfterMs = parseRetryAfter(header(res.headers, 'retry-after'), this.clock.now());
        if (retryAfterMs !== undefined) result.retryAfterMs = retryAfterMs;
      }
      return result;
    } catch (err) {
      // A failure after the status arrived (body timeout, reset) leaves the server's state
      // unknown: transient, and safe to retry because every write is conditional.
      const result: UplinkResult = { outcome: classifyError(err), errorCode: errorCodeOf(err) };
      if (status !== undefined) result.status = status;
      return result;
    }
  }

  /** Lets in-flight requests finish, then closes the connections. */
  async close(): Promise<void> {
    await this.pool.close();
  }
}

function header(headers: Dispatcher.ResponseData['headers'], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function parseJson(text: string): unknown {
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
