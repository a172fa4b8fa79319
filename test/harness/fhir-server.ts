/**
 * The test FHIR server: a real HTTPS server that requires client certificates chaining to a
 * CA, routing FHIR REST calls to @medplum/fhir-router over an in-memory repository, with
 * R4 structure validation of everything it receives and a queue of injectable faults.
 *
 * What the harness adds around @medplum/fhir-router (4.5.2), and why:
 * - Transactions are run with the router's `transactions` flag OFF and made atomic here:
 *   with the flag on, medplum refuses any transaction that has a conditional entry and more
 *   than 8 entries ("requires strict isolation"), which every lab report would hit, and
 *   MemoryRepository.withTransaction has no rollback anyway. Here every request runs under
 *   one lock; a transaction journals its writes and undoes them if any entry fails, and the
 *   failing entry's status and OperationOutcome become the HTTP response.
 * - Conditional create (`ifNoneExist`), conditional update (`PUT Type?query`) and urn:uuid
 *   reference rewriting are medplum's own and work unchanged.
 */
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { once } from 'node:events';
import { getStatus, isOk, parseSearchRequest } from '@medplum/core';
import type { WithId } from '@medplum/core';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';
import type { FhirRequest, HttpMethod } from '@medplum/fhir-router';
import type { Bundle, OperationOutcome, OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';
import { loadFhirDefinitions, validateFhirResource } from './fhir-validate.js';

export type FhirServerFault =
  /** Answer the next request with this status instead of processing it. */
  | { kind: 'status'; status: number; retryAfter?: string; body?: object }
  /** Destroy the socket without answering; with `afterCommit` the request is processed first. */
  | { kind: 'reset'; afterCommit?: boolean }
  /** Wait before processing (and answering) the next request. */
  | { kind: 'delay'; ms: number }
  /** Hold the next request until `until` settles, then process it (a request kept in flight for as long as a test needs, without timing). */
  | { kind: 'hold'; until: Promise<unknown> };

export interface FhirRequestRecord {
  method: string;
  /** Path without the query string (queries can hold identifiers). */
  path: string;
  /** HTTP status sent, or 0 when the socket was destroyed. */
  status: number;
  fault?: FhirServerFault['kind'];
  /** CN of the client certificate, when one was presented. */
  clientCn?: string;
  /** Serial number of the client certificate (tells a renewed certificate from the old one). */
  clientSerial?: string;
}

export interface FhirValidationFailure {
  method: string;
  path: string;
  resourceType: string;
  issues: string[];
}

export interface FhirServerOptions {
  ca: string;
  cert: string;
  key: string;
  port?: number;
  host?: string;
  requireClientCert?: boolean;
  /** Largest accepted request body (default 32 MiB). */
  maxBodyBytes?: number;
  /** Highest TLS version offered (tests of TLS 1.2 behaviour). */
  maxVersion?: 'TLSv1.2' | 'TLSv1.3';
  /** Bearer-token check (SMART): requests it refuses get 401 and are not processed. */
  authorize?: (authorization: string | undefined) => boolean;
  /** Served without authorization at `{base}/.well-known/smart-configuration`. */
  smartConfiguration?: object;
  /**
   * Benchmarks only: answer every request 200 with a transaction-response (one `201 Created`
   * per entry) after parsing the body, without validating or storing anything, so the
   * client's own cost is what gets measured. TLS and client certificates are unchanged.
   */
  sink?: boolean;
  /** Called with each transaction Bundle once it has committed, in commit order (crash harness: delivery order). */
  onCommitted?: (bundle: unknown) => void;
}

export interface FhirTestServer {
  /** Base URL, e.g. https://127.0.0.1:PORT/fhir/R4 */
  readonly url: string;
  readonly port: number;
  readonly requests: FhirRequestRecord[];
  /** Faults for the next requests, consumed one per request in order. */
  readonly faults: FhirServerFault[];
  readonly validationErrors: FhirValidationFailure[];
  /** Codes of TLS handshakes the server refused (e.g. a missing or foreign client cert). */
  readonly tlsErrors: string[];
  countByType(): Promise<Record<string, number>>;
  search(type: string, query?: Record<string, string | string[]> | string): Promise<Resource[]>;
  /** Drops all stored resources and records (faults included). */
  clear(): void;
  close(): Promise<void>;
}

const BASE_PATH = '/fhir/R4';
const METHODS = new Set<string>(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']);
const FHIR_JSON = 'application/fhir+json; charset=utf-8';

/** MemoryRepository with an undo journal, so the harness can roll a failed transaction back. */
class JournaledRepository extends MemoryRepository {
  readonly types = new Set<string>();
  private journal: (() => Promise<unknown>)[] | undefined;

  begin(): void {
    this.journal = [];
  }

  commit(): void {
    this.journal = undefined;
  }

  async rollback(): Promise<void> {
    const undo = (this.journal ?? []).reverse();
    this.journal = undefined;
    for (const step of undo) await step();
  }

  // updateResource and patchResource funnel into createResource, so this sees every write.
  // Undoing restores the previous version (history keeps an extra copy of it: harmless here).
  override async createResource<T extends Resource>(resource: T): Promise<WithId<T>> {
    const withId = { ...resource, id: resource.id ?? this.generateId() };
    if (this.journal) {
      const previous = await this.existing(withId.resourceType, withId.id);
      this.journal.push(previous ? () => super.createResource(previous) : () => super.deleteResource(withId.resourceType, withId.id));
    }
    this.types.add(withId.resourceType);
    return super.createResource(withId);
  }

  override async deleteResource(resourceType: string, id: string): Promise<void> {
    if (this.journal) {
      const previous = await this.existing(resourceType, id);
      if (previous) this.journal.push(() => super.createResource(previous));
    }
    return super.deleteResource(resourceType, id);
  }

  private existing(resourceType: string, id: string): Promise<Resource | undefined> {
    return this.readResource(resourceType, id).catch(() => undefined);
  }
}

export async function startFhirServer(opts: FhirServerOptions): Promise<FhirTestServer> {
  loadFhirDefinitions();
  const requireClientCert = opts.requireClientCert ?? true;
  const maxBodyBytes = opts.maxBodyBytes ?? 32 * 1024 * 1024;
  const router = new FhirRouter();
  const repo = new JournaledRepository();
  const requests: FhirRequestRecord[] = [];
  const faults: FhirServerFault[] = [];
  const validationErrors: FhirValidationFailure[] = [];
  const tlsErrors: string[] = [];
  const pendingDelays = new Set<() => void>();
  let lock: Promise<unknown> = Promise.resolve();
  let closed = false;

  // One request at a time touches the repository, so a transaction's rollback is exact.
  const exclusive = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = lock.then(fn, fn);
    lock = run.catch(() => undefined);
    return run;
  };

  const delay = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        pendingDelays.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      pendingDelays.add(done);
    });

  const server = https.createServer(
    {
      ca: opts.ca,
      cert: opts.cert,
      key: opts.key,
      requestCert: requireClientCert,
      rejectUnauthorized: requireClientCert,
      minVersion: 'TLSv1.2',
      ...(opts.maxVersion && { maxVersion: opts.maxVersion }),
    },
    (req, res) => {
      handle(req, res).catch((e: unknown) => {
        if (!res.headersSent && !res.destroyed) send(res, 500, outcome('exception', `harness failure: ${(e as Error).name}`));
      });
    },
  );
  server.on('tlsClientError', (err: NodeJS.ErrnoException) => tlsErrors.push(err.code ?? err.name));

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    const target = new URL(req.url ?? '/', 'https://harness.invalid');
    const record: FhirRequestRecord = { method, path: target.pathname, status: 0 };
    const peer = peerOf(req.socket as TLSSocket);
    if (peer.cn !== undefined) record.clientCn = peer.cn;
    if (peer.serial !== undefined) record.clientSerial = peer.serial;
    requests.push(record);

    const raw = await readBody(req, maxBodyBytes);
    if (opts.smartConfiguration && method === 'GET' && target.pathname === `${BASE_PATH}/.well-known/smart-configuration`) {
      record.status = 200;
      send(res, 200, opts.smartConfiguration);
      return;
    }
    if (opts.authorize && !opts.authorize(req.headers.authorization)) {
      record.status = 401;
      send(res, 401, outcome('login', 'bearer token missing, invalid or expired'), { 'www-authenticate': 'Bearer error="invalid_token"' });
      return;
    }
    const fault = faults.shift();
    if (fault) record.fault = fault.kind;
    if (fault?.kind === 'status') {
      const headers: Record<string, string> = {};
      if (fault.retryAfter !== undefined) headers['retry-after'] = fault.retryAfter;
      record.status = fault.status;
      send(res, fault.status, fault.body ?? outcome(faultIssueCode(fault.status), `injected fault: HTTP ${fault.status}`), headers);
      return;
    }
    if (fault?.kind === 'reset' && !fault.afterCommit) {
      req.socket.destroy();
      return;
    }
    if (fault?.kind === 'delay') {
      await delay(fault.ms);
      if (closed) return;
    }
    if (fault?.kind === 'hold') {
      await fault.until.catch(() => undefined);
      if (closed) return;
    }

    const [status, body, headers] = await answer(method, target, raw);
    if (fault?.kind === 'reset') {
      req.socket.destroy();
      return;
    }
    record.status = status;
    send(res, status, body, headers);
  }

  async function answer(method: string, target: URL, raw: Buffer | undefined): Promise<[number, object, Record<string, string>?]> {
    if (raw === undefined) return [413, outcome('too-costly', 'request body too large')];
    if (target.pathname !== BASE_PATH && !target.pathname.startsWith(`${BASE_PATH}/`)) return [404, outcome('not-found', 'not a FHIR endpoint')];
    if (!METHODS.has(method)) return [405, outcome('not-supported', `method ${method} not supported`)];
    if (opts.sink) {
      const entries = (JSON.parse(raw.toString('utf8')) as { entry?: unknown[] }).entry ?? [];
      return [200, { resourceType: 'Bundle', type: 'transaction-response', entry: entries.map(() => ({ response: { status: '201 Created' } })) }];
    }
    let body: unknown;
    if (raw.length > 0) {
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch {
        return [400, outcome('structure', 'request body is not JSON')];
      }
    }
    const path = target.pathname.slice(BASE_PATH.length);
    if (isResource(body) && method !== 'PATCH' && !path.endsWith('/_search')) {
      const issues = validateFhirResource(body);
      if (issues.length > 0) {
        validationErrors.push({ method, path, resourceType: body.resourceType, issues });
        return [400, { resourceType: 'OperationOutcome', issue: issues.map((text) => ({ severity: 'error', code: 'invalid', details: { text } })) }];
      }
    }
    const fhirReq: FhirRequest = {
      method: method as HttpMethod,
      url: `${path}${target.search}`,
      pathname: '',
      body,
      params: {},
      query: {},
      config: { transactions: false },
    };
    const isTransaction = method === 'POST' && path.replace(/\/$/, '') === '' && isResource(body) && body.resourceType === 'Bundle' && (body as Bundle).type === 'transaction';
    return exclusive(async () => {
      if (!isTransaction) return toHttp(await router.handleRequest(fhirReq, repo));
      repo.begin();
      try {
        const result = await router.handleRequest(fhirReq, repo);
        const failure = firstFailure(result);
        if (failure) {
          await repo.rollback();
          return failure;
        }
        repo.commit();
        opts.onCommitted?.(body);
        return toHttp(result);
      } catch (e) {
        await repo.rollback();
        throw e;
      }
    });
  }

  server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const host = opts.host ?? '127.0.0.1';
  const urlHost = host.includes(':') ? `[${host}]` : host;

  return {
    url: `https://${urlHost}:${port}${BASE_PATH}`,
    port,
    requests,
    faults,
    validationErrors,
    tlsErrors,
    async countByType() {
      const counts: Record<string, number> = {};
      for (const type of [...repo.types].sort()) {
        const bundle = await repo.search(parseSearchRequest(type));
        if (bundle.total) counts[type] = bundle.total;
      }
      return counts;
    },
    search(type, query) {
      const request = typeof query === 'string' ? parseSearchRequest(`${type}?${query}`) : parseSearchRequest(type, query ?? {});
      return repo.searchResources(request);
    },
    clear() {
      repo.clear();
      repo.types.clear();
      requests.length = 0;
      faults.length = 0;
      validationErrors.length = 0;
      tlsErrors.length = 0;
    },
    async close() {
      closed = true;
      for (const done of [...pendingDelays]) done();
      const closing = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closing;
    },
  };
}

/** The client certificate's CN and serial, read once per connection (getPeerCertificate is costly). */
const peers = new WeakMap<TLSSocket, { cn?: string; serial?: string }>();
function peerOf(socket: TLSSocket): { cn?: string; serial?: string } {
  let peer = peers.get(socket);
  if (!peer) {
    const cert = socket.getPeerCertificate?.();
    peer = {};
    if (typeof cert?.subject?.CN === 'string') peer.cn = cert.subject.CN;
    if (typeof cert?.serialNumber === 'string' && cert.serialNumber !== '') peer.serial = cert.serialNumber;
    peers.set(socket, peer);
  }
  return peer;
}

type FhirResult = Awaited<ReturnType<FhirRouter['handleRequest']>>;

function toHttp([result, resource]: FhirResult): [number, object, Record<string, string>?] {
  const status = getStatus(result);
  const headers: Record<string, string> = {};
  if (status === 201 && resource?.id) headers.location = `${BASE_PATH}/${resource.resourceType}/${resource.id}`;
  return [status, resource ?? result, headers];
}

/** The first failed entry of a transaction response, as the HTTP answer for the whole request. */
function firstFailure(result: FhirResult): [number, object] | undefined {
  const [top, resource] = result;
  if (!isOk(top)) return [getStatus(top), top];
  for (const [i, entry] of ((resource as Bundle | undefined)?.entry ?? []).entries()) {
    const status = Number(entry?.response?.status ?? 500);
    if (status >= 200 && status < 300) continue;
    const entryOutcome = entry?.response?.outcome ?? outcome('exception', 'transaction entry failed');
    const issue = (entryOutcome.issue ?? []).map((x) => ({ ...x, expression: x.expression ?? [`Bundle.entry[${i}]`] }));
    return [status, { ...entryOutcome, issue }];
  }
  return undefined;
}

function faultIssueCode(status: number): OperationOutcomeIssue['code'] {
  if (status === 429) return 'throttled';
  if (status === 401 || status === 403) return 'security';
  if (status >= 500) return 'transient';
  return 'processing';
}

function outcome(code: OperationOutcomeIssue['code'], text: string): OperationOutcome {
  return { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code, details: { text } }] };
}

function isResource(value: unknown): value is Resource {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && typeof (value as { resourceType?: unknown }).resourceType === 'string';
}

/** The body, or undefined when it exceeds the limit (the rest is drained, not buffered). */
async function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size <= limit) chunks.push(chunk as Buffer);
  }
  return size > limit ? undefined : Buffer.concat(chunks);
}

function send(res: ServerResponse, status: number, body: object, headers: Record<string, string> = {}): void {
  if (res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': FHIR_JSON, 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}
