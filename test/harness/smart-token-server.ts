/**
 * A SMART Backend Services token endpoint for tests: an HTTPS server that checks the client
 * credentials grant the way a hospital's authorization server must (SMART App Launch 2.x,
 * RFC 7523), independently of labedge's own JWT code:
 * - `grant_type=client_credentials`, `client_assertion_type=…jwt-bearer`;
 * - the assertion's header (`alg` RS384/ES384, `typ` JWT, `kid` when one is registered) and its
 *   signature, against the registered public key;
 * - claims: `iss` = `sub` = client id, `aud` = this token URL, `exp` in the future and at most
 *   5 minutes ahead (and at most 5 minutes after `iat`), a `jti` never seen before;
 * - every requested scope is allowed for the client.
 * It issues opaque tokens with a lifetime, and `isValid(authorization)` lets the FHIR harness
 * (`authorize` option) check bearer tokens. Every request is recorded (scopes, claims, result).
 */
import https from 'node:https';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createPublicKey, randomBytes, verify } from 'node:crypto';

export interface SmartTokenServerOptions {
  /** TLS server certificate and key (PEM) and the CA for optional client certificates. */
  cert: string;
  key: string;
  ca: string;
  clientId: string;
  /** The client's registered public key (PEM, SPKI or certificate). */
  publicKey: string;
  /** Registered key id; when set, the assertion's `kid` must equal it. */
  kid?: string;
  allowedScopes: readonly string[];
  /** Access token lifetime in seconds (default 300). */
  tokenLifetimeSec?: number;
  /** Wall clock in ms (default Date.now). */
  now?: () => number;
}

export interface TokenRequestRecord {
  status: number;
  error?: string;
  scopes: string[];
  header?: Record<string, unknown>;
  claims?: Record<string, unknown>;
}

export interface SmartTokenServer {
  /** https://127.0.0.1:PORT/token */
  readonly tokenUrl: string;
  readonly requests: TokenRequestRecord[];
  /** Bearer-token check for the FHIR harness's `authorize` option. */
  isValid(authorization: string | undefined): boolean;
  /** Makes every token issued so far invalid (as if they had expired early). */
  revokeAll(): void;
  close(): Promise<void>;
}

const MAX_ASSERTION_SECONDS = 300;

export async function startSmartTokenServer(opts: SmartTokenServerOptions): Promise<SmartTokenServer> {
  const now = opts.now ?? Date.now;
  const publicKey = createPublicKey(opts.publicKey);
  const requests: TokenRequestRecord[] = [];
  const tokens = new Map<string, number>();
  const seenJti = new Set<string>();
  let tokenUrl = '';

  const server = https.createServer({ cert: opts.cert, key: opts.key, ca: opts.ca, requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.2' }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const record: TokenRequestRecord = { status: 200, scopes: [] };
      requests.push(record);
      const reply = (status: number, body: object): void => {
        record.status = status;
        const text = JSON.stringify(body);
        res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
        res.end(text);
      };
      const refuse = (error: string, description: string): void => {
        record.error = `${error}: ${description}`;
        reply(400, { error, error_description: description });
      };
      if (req.method !== 'POST' || new URL(req.url ?? '/', 'https://x').pathname !== '/token') return reply(404, { error: 'not_found' });
      if (!String(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) return refuse('invalid_request', 'form body expected');
      const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
      record.scopes = (form.get('scope') ?? '').split(' ').filter((s) => s !== '');
      if (form.get('grant_type') !== 'client_credentials') return refuse('unsupported_grant_type', 'client_credentials expected');
      if (form.get('client_assertion_type') !== 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer') return refuse('invalid_client', 'jwt-bearer assertion expected');
      const parts = (form.get('client_assertion') ?? '').split('.');
      if (parts.length !== 3) return refuse('invalid_client', 'assertion is not a compact JWS');
      const [h = '', c = '', sig = ''] = parts;
      let header: Record<string, unknown>;
      let claims: Record<string, unknown>;
      try {
        header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as Record<string, unknown>;
        claims = JSON.parse(Buffer.from(c, 'base64url').toString('utf8')) as Record<string, unknown>;
      } catch {
        return refuse('invalid_client', 'assertion is not JSON');
      }
      record.header = header;
      record.claims = claims;
      if (header.typ !== 'JWT') return refuse('invalid_client', 'typ must be JWT');
      if (opts.kid !== undefined && header.kid !== opts.kid) return refuse('invalid_client', 'unknown kid');
      const input = Buffer.from(`${h}.${c}`);
      const signature = Buffer.from(sig, 'base64url');
      let valid = false;
      if (header.alg === 'RS384') valid = verify('sha384', input, publicKey, signature);
      else if (header.alg === 'ES384') valid = verify('sha384', input, { key: publicKey, dsaEncoding: 'ieee-p1363' }, signature);
      else return refuse('invalid_client', 'alg must be RS384 or ES384');
      if (!valid) return refuse('invalid_client', 'bad signature');
      const seconds = Math.floor(now() / 1000);
      if (claims.iss !== opts.clientId || claims.sub !== opts.clientId) return refuse('invalid_client', 'iss and sub must be the client id');
      if (claims.aud !== tokenUrl) return refuse('invalid_client', 'aud must be the token URL');
      if (typeof claims.exp !== 'number' || claims.exp <= seconds) return refuse('invalid_client', 'assertion expired');
      if (claims.exp - seconds > MAX_ASSERTION_SECONDS) return refuse('invalid_client', 'assertion lifetime over 5 minutes');
      if (typeof claims.iat === 'number' && claims.exp - claims.iat > MAX_ASSERTION_SECONDS) return refuse('invalid_client', 'assertion lifetime over 5 minutes');
      if (typeof claims.jti !== 'string' || claims.jti === '') return refuse('invalid_client', 'jti missing');
      if (seenJti.has(claims.jti)) return refuse('invalid_client', 'jti replayed');
      seenJti.add(claims.jti);
      const notAllowed = record.scopes.filter((s) => !opts.allowedScopes.includes(s));
      if (record.scopes.length === 0 || notAllowed.length > 0) return refuse('invalid_scope', `not allowed: ${notAllowed.join(' ') || '(none requested)'}`);
      const lifetime = opts.tokenLifetimeSec ?? 300;
      const token = randomBytes(24).toString('base64url');
      tokens.set(token, now() + lifetime * 1000);
      reply(200, { access_token: token, token_type: 'bearer', expires_in: lifetime, scope: record.scopes.join(' ') });
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  tokenUrl = `https://127.0.0.1:${port}/token`;

  return {
    tokenUrl,
    requests,
    isValid(authorization) {
      const match = /^Bearer (\S+)$/i.exec(authorization ?? '');
      const until = match?.[1] === undefined ? undefined : tokens.get(match[1]);
      return until !== undefined && now() < until;
    },
    revokeAll() {
      tokens.clear();
    },
    async close() {
      const closing = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closing;
    },
  };
}
