/**
 * The uplink's HTTPS transport: an undici Agent (a keep-alive Pool per origin) that always
 * presents the device certificate, trusts only the configured CA(s), speaks TLS 1.2 or newer
 * and verifies the server's name; every request is bounded (connect, headers and body idle
 * timeouts, plus an overall deadline on the injected clock).
 *
 * Certificate renewal without dropping work: `reload(material)` validates the new certificate
 * and key, then swaps in a fresh Agent. New requests (and so new connections, with new TLS
 * sessions: a resumed session would carry the old identity) use the new certificate; the old
 * Agent is closed gracefully, which lets the requests already on it finish first.
 */
import { X509Certificate } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import { Agent, buildConnector } from 'undici';
import type { Dispatcher } from 'undici';
import type { Clock } from '../core/clock.js';
import { LabedgeError, describeError } from '../core/errors.js';
import type { HandshakeProbe } from './tls-probe.js';

export interface TlsMaterial {
  /** PEM(s) trusted for the server certificate (the pinned CA, plus the system roots when configured). */
  ca: string | string[];
  /** PEM of the device certificate (may include its chain). */
  cert: string;
  /** PEM of the device private key. */
  key: string;
}

export interface HttpReply {
  status: number;
  headers: Dispatcher.ResponseData['headers'];
  text: string;
}

export interface HttpRequest {
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  body?: string;
}

export interface UplinkTransportOptions {
  material: TlsMaterial;
  /** Bound on connecting, on waiting for response headers and on each body read gap. */
  timeoutMs: number;
  /** Bound on a whole request, body upload and download included (default 2 × timeoutMs + 5 s). */
  deadlineMs?: number;
  /** TLS server name to verify and send as SNI, when it differs from the URL's host. */
  servername?: string;
  /** Parallel connections per origin (default 8). */
  connections?: number;
  clock: Clock;
  probe: HandshakeProbe;
}

const MAX_RESPONSE_BYTES = 64 * 1024 * 1024;

/** Fails with a config error unless the material makes a usable TLS client context. */
export function validateTlsMaterial(material: TlsMaterial): void {
  for (const field of ['cert', 'key'] as const) {
    if (typeof material[field] !== 'string' || material[field].trim() === '') throw new LabedgeError('LABEDGE_ERR_CONFIG', `uplink ${field} PEM is missing`);
  }
  const cas = Array.isArray(material.ca) ? material.ca : [material.ca];
  if (cas.length === 0 || cas.some((c) => typeof c !== 'string' || c.trim() === '')) throw new LabedgeError('LABEDGE_ERR_CONFIG', 'uplink ca PEM is missing');
  try {
    for (const c of cas) new X509Certificate(c);
    createSecureContext({ ca: material.ca, cert: material.cert, key: material.key });
  } catch (e) {
    throw new LabedgeError('LABEDGE_ERR_CONFIG', `uplink TLS material is unusable (${describeError(e)})`, { cause: e });
  }
}

export class UplinkTransport {
  private agent: Agent;
  private readonly retiring = new Set<Promise<void>>();
  private readonly deadlineMs: number;
  private closed = false;

  constructor(private readonly opts: UplinkTransportOptions) {
    if (!Number.isFinite(opts.timeoutMs) || opts.timeoutMs <= 0) throw new LabedgeError('LABEDGE_ERR_CONFIG', 'uplink.timeoutMs must be a positive number');
    this.deadlineMs = opts.deadlineMs ?? opts.timeoutMs * 2 + 5000;
    if (!Number.isFinite(this.deadlineMs) || this.deadlineMs <= 0) throw new LabedgeError('LABEDGE_ERR_CONFIG', 'uplink deadline must be a positive number');
    validateTlsMaterial(opts.material);
    this.agent = this.createAgent(opts.material);
  }

  /** Swaps in new TLS material (after validating it); in-flight requests finish on the old connections. */
  reload(material: TlsMaterial): void {
    validateTlsMaterial(material);
    if (this.closed) return;
    const old = this.agent;
    this.agent = this.createAgent(material);
    const retired = old.close().catch(() => undefined);
    this.retiring.add(retired);
    void retired.finally(() => this.retiring.delete(retired));
  }

  /** One HTTP exchange; throws on network/TLS failures and timeouts, never on HTTP status. */
  async request(url: URL, req: HttpRequest): Promise<HttpReply> {
    const abort = new AbortController();
    const deadline = this.opts.clock.setTimer(this.deadlineMs, () => abort.abort(deadlineError()));
    try {
      const res = await this.agent.request({
        origin: url.origin,
        path: `${url.pathname}${url.search}`,
        method: req.method,
        headers: req.headers,
        body: req.body ?? null,
        signal: abort.signal,
      });
      const text = await res.body.text();
      return { status: res.statusCode, headers: res.headers, text };
    } finally {
      this.opts.clock.clearTimer(deadline);
    }
  }

  /** Lets in-flight requests finish, then closes every connection. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([this.agent.close(), ...this.retiring]);
  }

  private createAgent(material: TlsMaterial): Agent {
    const { timeoutMs, servername, probe } = this.opts;
    const connector = buildConnector({
      ca: material.ca,
      cert: material.cert,
      key: material.key,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.2',
      timeout: timeoutMs,
      ...(servername ? { servername } : {}),
    });
    return new Agent({
      connections: this.opts.connections ?? 8,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      connectTimeout: timeoutMs,
      maxResponseSize: MAX_RESPONSE_BYTES,
      connect: probe.wrap(connector),
    });
  }
}

function deadlineError(): Error {
  return Object.assign(new Error('uplink request deadline exceeded'), { name: 'TimeoutError', code: 'UPLINK_DEADLINE_EXCEEDED' });
}
