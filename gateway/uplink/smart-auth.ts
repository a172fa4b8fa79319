/**
 * SMART Backend Services (SMART App Launch 2.x, client-confidential-asymmetric): OAuth 2.0
 * client credentials with a `private_key_jwt` client assertion signed RS384 (device key) or
 * ES384, on top of mutual TLS (the channel is still authenticated by the device certificate;
 * the token narrows what the box may write).
 *
 * - The token endpoint comes from `tokenUrl`, else from `.well-known/smart-configuration`
 *   (fetched once; it must offer private_key_jwt and our algorithm when it lists them).
 * - The narrowest scopes by default: create/update of the resource types labedge writes.
 * - Tokens are cached until shortly before they expire (20% of their lifetime, at most 60 s,
 *   early); concurrent callers share one token request; `invalidate(token)` after a 401 makes
 *   the next call fetch a new one (the client retries once).
 * - Failures are classified like deliveries: a refused client (400 invalid_client/… , 401, 403)
 *   or a bad discovery document is `auth`; network errors, 5xx and 429 are `transient`.
 * The assertion and the token are secrets: they are never logged or put in results.
 */
import { randomUUID, type KeyObject } from 'node:crypto';
import type { Clock } from '../core/clock.js';
import { LabedgeError } from '../core/errors.js';
import { classifyError, classifyResponse, errorCodeOf } from './classify.js';
import { jwkThumbprint, jwtAlgFor, signJwt } from './jwt.js';
import type { HttpReply, HttpRequest } from './transport.js';

export const DEFAULT_SMART_SCOPES: readonly string[] = Object.freeze([
  'system/Observation.cu',
  'system/DiagnosticReport.cu',
  'system/Specimen.cu',
  'system/Patient.cu',
  'system/Device.cu',
  'system/ServiceRequest.cu',
  'system/Provenance.c',
]);

/** The longest client assertion lifetime SMART allows is 5 minutes; labedge uses less. */
export const MAX_ASSERTION_LIFETIME_MS = 300_000;

export interface SmartAuthOptions {
  clientId: string;
  /** Token endpoint; when absent it is discovered from `discoveryUrl`. */
  tokenUrl?: string;
  /** Usually `{fhirBase}/.well-known/smart-configuration`. */
  discoveryUrl: string;
  scopes?: readonly string[];
  /** Private key that signs the assertion (RSA ≥ 2048 → RS384, EC P-384 → ES384). */
  key: KeyObject;
  /** `kid` header: the key's id in the JWKS registered with the server (default: RFC 7638 thumbprint). */
  keyId?: string;
  /** Assertion lifetime (default 240000, at most 300000). */
  assertionLifetimeMs?: number;
  clock: Clock;
  http: (url: URL, req: HttpRequest) => Promise<HttpReply>;
}

export type TokenResult =
  | { ok: true; token: string }
  | { ok: false; outcome: 'transient' | 'auth'; status?: number; errorCode: string };

interface CachedToken {
  token: string;
  refreshAt: number;
}

const CLIENT_REFUSALS = new Set(['invalid_client', 'invalid_grant', 'unauthorized_client', 'invalid_scope', 'unsupported_grant_type', 'access_denied']);

export class SmartTokenSource {
  private cached: CachedToken | undefined;
  private inflight: Promise<TokenResult> | undefined;
  private tokenEndpoint: URL | undefined;
  private kid: string;
  private alg: string;
  private key: KeyObject;
  private readonly scope: string;
  private readonly lifetimeMs: number;

  constructor(private readonly opts: SmartAuthOptions) {
    if (typeof opts.clientId !== 'string' || opts.clientId.trim() === '') throw new LabedgeError('LABEDGE_ERR_CONFIG', 'uplink.smart.clientId must be a non-empty string');
    this.key = opts.key;
    this.alg = jwtAlgFor(opts.key);
    this.kid = opts.keyId ?? jwkThumbprint(opts.key);
    const scopes = opts.scopes ?? DEFAULT_SMART_SCOPES;
    if (scopes.length === 0 || scopes.some((s) => !/^[\x21\x23-\x5b\x5d-\x7e]+$/.test(s))) throw new LabedgeError('LABEDGE_ERR_CONFIG', 'uplink.smart.scopes must be non-empty scope tokens');
    this.scope = scopes.join(' ');
    this.lifetimeMs = opts.assertionLifetimeMs ?? 240_000;
    if (!(this.lifetimeMs > 0 && this.lifetimeMs <= MAX_ASSERTION_LIFETIME_MS)) throw new LabedgeError('LABEDGE_ERR_CONFIG', 'SMART assertion lifetime must be positive and at most 5 minutes');
    if (opts.tokenUrl !== undefined) this.tokenEndpoint = httpsUrl(opts.tokenUrl, 'uplink.smart.tokenUrl');
    else httpsUrl(opts.discoveryUrl, 'uplink.smart.discovery');
  }

  /** A valid access token (cached or fresh). */
  token(): Promise<TokenResult> {
    const now = this.opts.clock.now();
    if (this.cached && now < this.cached.refreshAt) return Promise.resolve({ ok: true, token: this.cached.token });
    this.inflight ??= this.fetchToken().finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  /** A new signing key (the device key was renewed); a configured keyId is kept. */
  setKey(key: KeyObject): void {
    const alg = jwtAlgFor(key);
    this.key = key;
    this.alg = alg;
    this.kid = this.opts.keyId ?? jwkThumbprint(key);
  }

  /** The server refused `token` (401): forget it, unless a newer one already replaced it. */
  invalidate(token: string): void {
    if (this.cached?.token === token) this.cached = undefined;
  }

  private async fetchToken(): Promise<TokenResult> {
    const endpoint = this.tokenEndpoint ?? (await this.discover());
    if (!(endpoint instanceof URL)) return endpoint;
    const now = this.opts.clock.now();
    const seconds = Math.floor(now / 1000);
    const assertion = signJwt(
      { iss: this.opts.clientId, sub: this.opts.clientId, aud: endpoint.href, iat: seconds, exp: seconds + Math.floor(this.lifetimeMs / 1000), jti: randomUUID() },
      this.key,
      this.kid,
    );
    const body = new URLSearchParams({
      grant_type: 'client_credentials',
      scope: this.scope,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: assertion,
    }).toString();
    const reply = await this.call(endpoint, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' }, body });
    if ('ok' in reply) return reply;
    const json = parseObject(reply.text);
    if (reply.status !== 200 || typeof json?.access_token !== 'string' || json.access_token === '') {
      const error = typeof json?.error === 'string' ? json.error : '';
      const refused = reply.status === 400 && CLIENT_REFUSALS.has(error);
      const outcome = refused ? 'auth' : reply.status >= 200 && reply.status < 300 ? 'auth' : classifyResponse(reply.status);
      return { ok: false, outcome: outcome === 'auth' || outcome === 'rejected' ? 'auth' : 'transient', status: reply.status, errorCode: `smart-token${error && /^[a-z_]{1,40}$/.test(error) ? `-${error}` : ''}` };
    }
    const expiresIn = typeof json.expires_in === 'number' && json.expires_in > 0 ? json.expires_in * 1000 : 300_000;
    const receivedAt = this.opts.clock.now();
    this.cached = { token: json.access_token, refreshAt: receivedAt + expiresIn - Math.min(60_000, expiresIn * 0.2) };
    return { ok: true, token: json.access_token };
  }

  private async discover(): Promise<URL | Exclude<TokenResult, { ok: true }>> {
    const reply = await this.call(new URL(this.opts.discoveryUrl), { method: 'GET', headers: { accept: 'application/json' } });
    if ('ok' in reply) return reply;
    const doc = parseObject(reply.text);
    const failure = (errorCode: string): Exclude<TokenResult, { ok: true }> => ({ ok: false, outcome: 'auth', status: reply.status, errorCode });
    if (reply.status !== 200 || !doc) {
      const outcome = classifyResponse(reply.status);
      return outcome === 'transient' ? { ok: false, outcome, status: reply.status, errorCode: 'smart-discovery' } : failure('smart-discovery');
    }
    const listed = (field: string, value: string): boolean => !Array.isArray(doc[field]) || (doc[field] as unknown[]).includes(value);
    if (!listed('token_endpoint_auth_methods_supported', 'private_key_jwt')) return failure('smart-discovery-no-private-key-jwt');
    if (!listed('token_endpoint_auth_signing_alg_values_supported', this.alg)) return failure(`smart-discovery-no-${this.alg}`);
    if (!listed('grant_types_supported', 'client_credentials')) return failure('smart-discovery-no-client-credentials');
    try {
      this.tokenEndpoint = httpsUrl(String(doc.token_endpoint), 'token_endpoint');
    } catch {
      return failure('smart-discovery-token-endpoint');
    }
    return this.tokenEndpoint;
  }

  private async call(url: URL, req: HttpRequest): Promise<HttpReply | Exclude<TokenResult, { ok: true }>> {
    try {
      return await this.opts.http(url, req);
    } catch (e) {
      return { ok: false, outcome: classifyError(e), errorCode: errorCodeOf(e) };
    }
  }
}

function httpsUrl(text: string, field: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch (e) {
    throw new LabedgeError('LABEDGE_ERR_CONFIG', `${field} is not a URL`, { cause: e });
  }
  if (url.protocol !== 'https:') throw new LabedgeError('LABEDGE_ERR_CONFIG', `${field} must be https://`);
  return url;
}

function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(text) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
