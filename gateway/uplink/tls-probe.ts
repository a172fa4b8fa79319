/**
 * Tells "the server refused our client certificate" apart from "the network dropped us" where
 * TLS itself does not.
 *
 * The known problem: under TLS 1.3 the client finishes its handshake before the server has
 * checked the client certificate. A server that refuses it then either sends an alert
 * (`certificate_required`, `unknown_ca`, `bad_certificate`) and closes, or, like Node's own TLS
 * server for a certificate from a foreign CA, just closes. undici reports both as "other side
 * closed" (UND_ERR_SOCKET), exactly like a reset, so the request would be retried forever as
 * transient and nobody would learn that the credentials are wrong.
 *
 * What this probe does, per socket our connector opens:
 * - it listens for the socket's own `error` events: an `ERR_SSL_*ALERT*` code there (which
 *   undici's error hides) is the alert, and the failure is classified `auth` at once;
 * - a TLS 1.3 socket that the server closed after we wrote a request but before it sent a
 *   single byte of HTTP (cleartext `bytesRead` is 0), and a TLS 1.2 connection reset during
 *   the handshake, count as handshake-phase failures. (Session tickets do not help: Node's
 *   server sends them with its first response, not after the handshake.) `threshold` of them in a row with no HTTP
 *   response in between classify the failure as `auth` (code TLS_REFUSED_AFTER_HANDSHAKE).
 * Any HTTP response (any status) proves the server accepted our identity and resets the count.
 * A server that resets every fresh connection after reading the request (a crashing server or
 * proxy) looks exactly the same from the client and also trips it: that raises the auth alarm
 * and pauses delivery, still retrying with backoff, which is the safe side: data is never
 * dead-lettered for it, and the first HTTP response clears it.
 */
import type { TLSSocket } from 'node:tls';
import type { Socket } from 'node:net';
import type { buildConnector } from 'undici';

export const HANDSHAKE_REFUSAL_CODE = 'TLS_REFUSED_AFTER_HANDSHAKE';
const ALERT = /^ERR_SSL_.*ALERT/;

export class HandshakeProbe {
  private consecutive = 0;
  private alert: string | undefined;

  constructor(private readonly threshold = 3) {}

  /** Wraps an undici connector so every connection it makes is watched. */
  wrap(connector: buildConnector.connector): buildConnector.connector {
    return (options, callback) => {
      connector(options, (...args) => {
        const [err, socket] = args;
        if (err) this.connectFailed(err);
        else if (socket) this.watch(socket);
        callback(...args);
      });
    };
  }

  /** An HTTP response arrived: the server accepted our TLS identity. */
  responded(): void {
    this.consecutive = 0;
    this.alert = undefined;
  }

  /** For a request that failed below HTTP: the auth code the evidence supports, if any. */
  refusal(): string | undefined {
    if (this.alert) return this.alert;
    return this.consecutive >= this.threshold ? HANDSHAKE_REFUSAL_CODE : undefined;
  }

  /** Handshake-phase failures since the last HTTP response (for tests and telemetry). */
  get failures(): number {
    return this.consecutive;
  }

  private connectFailed(err: Error): void {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && ALERT.test(code)) this.alert = code;
    // Node's wording for a peer that hung up in the middle of the TLS handshake.
    else if (code === 'ECONNRESET' && /before secure TLS connection/.test(err.message)) this.consecutive += 1;
  }

  // Registered before undici's own listeners (the connector runs first), so by the time the
  // request fails these have already seen the socket's end.
  private watch(socket: Socket | TLSSocket): void {
    socket.on('error', (e: Error) => {
      const code = (e as { code?: unknown }).code;
      if (typeof code === 'string' && ALERT.test(code)) this.alert = code;
    });
    const tls13 = 'getProtocol' in socket && socket.getProtocol() === 'TLSv1.3';
    if (!tls13) return;
    socket.once('close', () => {
      if (socket.bytesRead === 0 && socket.bytesWritten > 0) this.consecutive += 1;
    });
  }
}
