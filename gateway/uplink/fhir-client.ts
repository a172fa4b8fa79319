/**
 * Posts FHIR Bundles to the hospital's FHIR server over mutual TLS (transport.ts).
 * It never throws for network, TLS, token or HTTP failures: every attempt ends in an
 * UplinkResult whose outcome tells the delivery worker what to do. Results carry status
 * codes, error codes and PHI-free summaries only; the server's reply (which may echo PHI) is
 * in `response`, for encrypted storage, never for logs.
 *
 * Bundle type (`bundleType`): `transaction` (default) posts the bundle as one atomic
 * transaction. `batch`, for servers without transactions, converts it at send time: the
 * entries are sent as one batch per dependency level (batch-plan.ts) and every entry's status
 * in each batch-response is checked. A partial failure is never "delivered":
 * - any entry refused for our credentials (401/403, security issues) → `auth`;
 * - else any entry failing transiently (5xx, 429, 408, timeouts, missing status) → `transient`:
 *   the whole bundle is re-sent later; the entries that succeeded are conditional writes, so
 *   sending them again changes nothing upstream;
 * - else (only data errors: 400/404/409/412/422 blaming the data) → `rejected` with the failed
 *   entries listed by position, and the record is dead-lettered. Entries of that bundle that
 *   did succeed stay upstream; a replay of the dead letter is idempotent. Levels after a
 *   failed one are not sent (their references could not resolve).
 *
 * SMART (`smart`): each request carries a bearer token (smart-auth.ts); a 401 invalidates it
 * and the request is repeated once with a fresh token; a second 401 is `auth`.
 */
import type { KeyObject } from 'node:crypto';
import { systemClock, type Clock } from '../core/clock.js';
import { LabedgeError } from '../core/errors.js';
import { parseRetryAfter } from './backoff.js';
import { planBatchLevels, readBatchResponse, rewriteReferences, type BundleEntryLike } from './batch-plan.js';
import { classifyError, classifyResponse, errorCodeOf, type UplinkOutcome } from './classify.js';
import { summarizeOutcome } from './outcome-summary.js';
import { SmartTokenSource, type SmartAuthOptions } from './smart-auth.js';
import { HandshakeProbe } from './tls-probe.js';
import { UplinkTransport, type HttpReply, type TlsMaterial } from './transport.js';

export type BundleType = 'transaction' | 'batch';

export interface FhirUplinkClientOptions extends TlsMaterial {
  /** FHIR base URL (https only), e.g. https://fhir.hospital.example/fhir/R4 */
  baseUrl: string;
  /** Bound on connecting, on waiting for response headers, and on each body read gap (default 30000). */
  timeoutMs?: number;
  /** Bound on a whole request (default 2 × timeoutMs + 5 s). */
  deadlineMs?: number;
  /** TLS server name to verify and send as SNI, when it differs from the base URL's host. */
  servername?: string;
  /** Parallel connections to the server (default 8). */
  connections?: number;
  /** `transaction` (default) or `batch` (see the module comment). */
  bundleType?: BundleType;
  /** SMART Backend Services; omitted: mutual TLS only. */
  smart?: Omit<SmartAuthOptions, 'clock' | 'http' | 'discoveryUrl'> & { discoveryUrl?: string };
  /** TLS 1.3 handshake-phase closes in a row that count as a refused client certificate (default 3). */
  handshakeRefusalThreshold?: number;
  /** Timers (request deadline), Retry-After dates and token expiry. */
  clock?: Clock;
}

export interface EntryFailure {
  /** Position of the entry in the bundle. */
  index: number;
  resourceType: string;
  status: number;
  outcome: UplinkOutcome;
  /** PHI-free summary of the entry's OperationOutcome. */
  summary: string;
}

export interface UplinkResult {
  outcome: UplinkOutcome;
  /** HTTP status, when a response arrived (in batch mode: of the first failed entry). */
  status?: number;
  /** The server's Retry-After, in ms, on a failed attempt. */
  retryAfterMs?: number;
  /** Code of the network/TLS/token error (e.g. UND_ERR_HEADERS_TIMEOUT, CERT_HAS_EXPIRED). */
  errorCode?: string;
  /** PHI-free summary of the server's OperationOutcome (issue codes and paths). */
  summary?: string;
  /** Batch mode: the entries that failed. */
  entries?: EntryFailure[];
  /** The server's parsed JSON reply. It may hold PHI: store it encrypted, never log it. */
  response?: unknown;
}

const FHIR_JSON = 'application/fhir+json';
/** Worst first: the outcome a bundle gets from its failed entries. */
const SEVERITY: readonly UplinkOutcome[] = ['auth', 'transient', 'rejected'];

type Exchange = { reply: HttpReply } | { failed: UplinkResult };

export class FhirUplinkClient {
  private readonly transport: UplinkTransport;
  private readonly base: URL;
  private readonly clock: Clock;
  private readonly probe: HandshakeProbe;
  private readonly bundleType: BundleType;
  private readonly smart: SmartTokenSource | undefined;

  constructor(opts: FhirUplinkClientOptions) {
    let url: URL;
    try {
      url = new URL(opts.baseUrl);
    } catch (e) {
      throw new LabedgeError('LABEDGE_ERR_CONFIG', 'uplink.baseUrl is not a URL', { cause: e });
    }
    if (url.protocol !== 'https:') throw new LabedgeError('LABEDGE_ERR_CONFIG', 'uplink.baseUrl must be https:// (plaintext uplinks are not allowed)');
    if (url.search || url.hash) throw new LabedgeError('LABEDGE_ERR_CONFIG', 'uplink.baseUrl must not have a query or fragment');
    const bundleType = opts.bundleType ?? 'transaction';
    if (bundleType !== 'transaction' && bundleType !== 'batch') throw new LabedgeError('LABEDGE_ERR_CONFIG', 'uplink.bundleType must be "transaction" or "batch"');
    this.bundleType = bundleType;
    url.pathname = url.pathname.replace(/\/+$/, '') || '/';
    this.base = url;
    this.clock = opts.clock ?? systemClock();
    this.probe = new HandshakeProbe(opts.handshakeRefusalThreshold ?? 3);
    this.transport = new UplinkTransport({
      material: { ca: opts.ca, cert: opts.cert, key: opts.key },
      timeoutMs: opts.timeoutMs ?? 30_000,
      ...(opts.deadlineMs !== undefined && { deadlineMs: opts.deadlineMs }),
      ...(opts.servername !== undefined && { servername: opts.servername }),
      ...(opts.connections !== undefined && { connections: opts.connections }),
      clock: this.clock,
      probe: this.probe,
    });
    if (opts.smart) {
      const discoveryUrl = opts.smart.discoveryUrl ?? `${url.href.replace(/\/$/, '')}/.well-known/smart-configuration`;
      this.smart = new SmartTokenSource({ ...opts.smart, discoveryUrl, clock: this.clock, http: (u, req) => this.transport.request(u, req) });
    }
  }

  /** Delivers a transaction Bundle (as a transaction or as batches) and classifies what happened. */
  async postBundle(bundle: object): Promise<UplinkResult> {
    const entries = (bundle as { entry?: unknown }).entry;
    if (this.bundleType === 'batch' && Array.isArray(entries)) return this.postAsBatches(bundle, entries as BundleEntryLike[]);
    return this.postOne({ ...bundle, type: 'transaction' });
  }

  /**
   * The same, from the bundle's JSON text as stored: a transaction Bundle (what the mapping
   * writes) is posted as that text, never parsed and serialised again; anything else, or batch
   * mode, goes through postBundle with the parsed bundle.
   */
  async postBundleJson(json: string, bundle: () => object): Promise<UplinkResult> {
    if (this.bundleType === 'transaction' && json.startsWith(TRANSACTION_JSON_START)) return this.postOne(json);
    return this.postBundle(bundle());
  }

  /**
   * One GET relative to the base URL (`ServiceRequest?specimen=…`) on the same mutual-TLS
   * transport and SMART token as deliveries: for searches (gateway/uplink/fhir-search.ts).
   * Throws on network/TLS/token failures, never on HTTP status. The URL may hold PHI: never log it.
   */
  async get(pathAndQuery: string): Promise<{ status: number; text: string }> {
    const url = new URL(`${this.base.href.replace(/\/$/, '')}/${pathAndQuery.replace(/^\//, '')}`);
    const headers: Record<string, string> = { accept: FHIR_JSON };
    if (this.smart) {
      const t = await this.smart.token();
      if (!t.ok) throw new LabedgeError('LABEDGE_ERR_UPLINK_AUTH', `no SMART token (${t.errorCode ?? t.outcome})`);
      headers.authorization = `Bearer ${t.token}`;
    }
    const reply = await this.transport.request(url, { method: 'GET', headers });
    return { status: reply.status, text: reply.text };
  }

  /** New TLS material (a renewed device certificate): new connections use it, in-flight requests finish. */
  reloadTls(material: TlsMaterial): void {
    this.transport.reload(material);
  }

  /** A renewed SMART signing key (when the assertion is signed with the device key). */
  setSmartKey(key: KeyObject): void {
    this.smart?.setKey(key);
  }

  /** Lets in-flight requests finish, then closes the connections. */
  async close(): Promise<void> {
    await this.transport.close();
  }

  private async postOne(bundle: object | string): Promise<UplinkResult> {
    const sent = await this.exchange(bundle);
    if ('failed' in sent) return sent.failed;
    const { reply } = sent;
    const response = parseJson(reply.text);
    const result: UplinkResult = { outcome: classifyResponse(reply.status, response), status: reply.status };
    if (response !== undefined) result.response = response;
    if (result.outcome !== 'ok') this.describeFailure(result, reply, response);
    return result;
  }

  private async postAsBatches(bundle: object, entries: BundleEntryLike[]): Promise<UplinkResult> {
    const resolved = new Map<string, string>();
    let last: UplinkResult = { outcome: 'ok', status: 200 };
    for (const level of planBatchLevels(entries)) {
      const batch = { resourceType: 'Bundle', type: 'batch', entry: level.map(({ entry }) => rewriteReferences(entry, resolved)) };
      const sent = await this.exchange(batch);
      if ('failed' in sent) return sent.failed;
      const { reply } = sent;
      const response = parseJson(reply.text);
      const whole = classifyResponse(reply.status, response);
      if (whole !== 'ok') {
        const result: UplinkResult = { outcome: whole, status: reply.status };
        if (response !== undefined) result.response = response;
        this.describeFailure(result, reply, response);
        return result;
      }
      const failures: EntryFailure[] = [];
      for (const r of readBatchResponse(response, level)) {
        const entry = entries[r.index];
        if (r.status >= 200 && r.status < 300) {
          // Unresolvable (no location, no id): later references keep their urn:uuid and the server decides.
          if (entry?.fullUrl && r.literal) resolved.set(entry.fullUrl, r.literal);
          continue;
        }
        failures.push({
          index: r.index,
          resourceType: typeof entry?.resource?.resourceType === 'string' ? entry.resource.resourceType : 'unknown',
          status: r.status,
          outcome: r.status === 0 ? 'transient' : classifyResponse(r.status, r.outcome),
          summary: summarizeOutcome(r.outcome),
        });
      }
      last = { outcome: 'ok', status: reply.status };
      if (response !== undefined) last.response = response;
      if (failures.length > 0) {
        const worst = SEVERITY.find((o) => failures.some((f) => f.outcome === o)) ?? 'transient';
        const first = failures.find((f) => f.outcome === worst);
        const result: UplinkResult = { outcome: worst, entries: failures, summary: failures.map((f) => `entry[${f.index}] ${f.resourceType} ${f.status}${f.summary ? ` ${f.summary}` : ''}`).join('; ') };
        if (first) result.status = first.status;
        if (response !== undefined) result.response = response;
        const retryAfterMs = parseRetryAfter(headerOf(reply, 'retry-after'), this.clock.now());
        if (retryAfterMs !== undefined) result.retryAfterMs = retryAfterMs;
        return result;
      }
    }
    return last;
  }

  /** One POST to the base URL, with a bearer token when SMART is on (refreshed once on 401). */
  private async exchange(bundle: object | string): Promise<Exchange> {
    let body: string;
    try {
      body = typeof bundle === 'string' ? bundle : JSON.stringify(bundle);
    } catch (e) {
      return { failed: { outcome: 'rejected', errorCode: errorCodeOf(e) } };
    }
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = { 'content-type': `${FHIR_JSON}; charset=utf-8`, accept: FHIR_JSON };
      let token: string | undefined;
      if (this.smart) {
        const t = await this.smart.token();
        if (!t.ok) {
          const failed: UplinkResult = { outcome: t.outcome, errorCode: t.errorCode };
          if (t.status !== undefined) failed.status = t.status;
          return { failed };
        }
        token = t.token;
        headers.authorization = `Bearer ${token}`;
      }
      let reply: HttpReply;
      try {
        reply = await this.transport.request(this.base, { method: 'POST', headers, body });
      } catch (err) {
        // Unknown whether the server committed: transient, and safe to retry because every
        // write is conditional. TLS 1.3 refusals hide behind socket errors: see tls-probe.ts.
        let outcome = classifyError(err);
        let errorCode = errorCodeOf(err);
        const refusal = outcome === 'transient' ? this.probe.refusal() : undefined;
        if (refusal !== undefined) {
          outcome = 'auth';
          errorCode = refusal;
        }
        return { failed: { outcome, errorCode } };
      }
      this.probe.responded();
      if (reply.status === 401 && this.smart && token !== undefined && attempt === 0) {
        this.smart.invalidate(token);
        continue;
      }
      return { reply };
    }
  }

  private describeFailure(result: UplinkResult, reply: HttpReply, response: unknown): void {
    const summary = summarizeOutcome(response);
    if (summary) result.summary = summary;
    const retryAfterMs = parseRetryAfter(headerOf(reply, 'retry-after'), this.clock.now());
    if (retryAfterMs !== undefined) result.retryAfterMs = retryAfterMs;
  }
}

/** How JSON.stringify writes a transaction Bundle built as `{ resourceType, type, … }` (gateway/fhir/*). */
const TRANSACTION_JSON_START = '{"resourceType":"Bundle","type":"transaction"';

function headerOf(reply: HttpReply, name: string): string | undefined {
  const value = reply.headers[name];
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

