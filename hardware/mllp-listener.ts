/**
 * MLLP listeners on the lab LAN: TLS with required client certificates (and optional pinning of
 * each instrument's certificate by SHA-256 fingerprint), or plain TCP only when the instrument
 * profile opts in (`allowPlaintext`), which is logged at start and visible through `secure`.
 * Many concurrent connections; each gets its own handler (its own framer state) from
 * `onConnection`, so two analyzers never share protocol state. Bytes only: framing, parsing and
 * ACKs live in gateway/hl7. Never throws to its owner after start; socket errors are logged by code.
 */
import { EventEmitter } from 'node:events';
import { createServer as createTcpServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { describeError, LabedgeError } from '../gateway/core/errors.js';
import type { Logger } from '../gateway/core/logger.js';

export interface MllpConnection {
  /** Opaque per-listener connection number. */
  readonly id: number;
  readonly remote: string;
  readonly secure: boolean;
  /** The client certificate's SHA-256 fingerprint (lower-case hex), TLS only. */
  readonly peerFingerprint: string | undefined;
  write(bytes: Uint8Array): boolean;
  pause(): void;
  resume(): void;
  close(): void;
}

export interface MllpConnectionHandler {
  data(chunk: Buffer): void;
  /** The connection closed (either side); called once. */
  end(): void;
}

export interface MllpListenerTls {
  cert: string | Buffer;
  key: string | Buffer;
  /** The CA client certificates must chain to. */
  ca: string | Buffer;
  /** Accept only these client certificates (SHA-256 fingerprints, hex, colons optional). */
  pinnedFingerprints?: readonly string[];
}

export interface MllpListenerOptions {
  host: string;
  port: number;
  tls?: MllpListenerTls;
  /** Plain TCP is refused unless this is set (legacy instruments on a point-to-point cable). */
  allowPlaintext?: boolean;
  /** Concurrent connections (default 64). */
  maxConnections?: number;
  /** Name for logs (the instrument id). */
  name: string;
  logger: Logger;
  onConnection(conn: MllpConnection): MllpConnectionHandler;
}

export interface MllpListenerEvents {
  listening: [{ port: number; secure: boolean }];
  /** A connection refused: TLS handshake failure or a certificate not pinned. */
  refused: [{ reason: string }];
  connected: [{ id: number; secure: boolean }];
  disconnected: [{ id: number }];
}

const normalise = (fp: string): string => fp.replaceAll(':', '').toLowerCase();

export class MllpListener extends EventEmitter<MllpListenerEvents> {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private nextId = 1;
  private readonly pins: Set<string> | undefined;

  constructor(private readonly options: MllpListenerOptions) {
    super();
    if (options.tls === undefined && options.allowPlaintext !== true) {
      throw new LabedgeError('LABEDGE_ERR_CONFIG', `MLLP listener ${options.name}: TLS settings are required unless the profile allows plaintext`);
    }
    const pins = options.tls?.pinnedFingerprints;
    this.pins = pins && pins.length > 0 ? new Set(pins.map(normalise)) : undefined;
  }

  get secure(): boolean {
    return this.options.tls !== undefined;
  }

  get port(): number | undefined {
    const a = this.server?.address();
    return typeof a === 'object' && a ? a.port : undefined;
  }

  get connectionCount(): number {
    return this.sockets.size;
  }

  /** Starts listening; resolves with the bound port. */
  async start(): Promise<number> {
    if (this.server) return this.port ?? 0;
    const o = this.options;
    const tls = o.tls;
    const server: Server = tls
      ? createTlsServer(
          { cert: tls.cert, key: tls.key, ca: tls.ca, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2' },
          (socket) => this.acceptTls(socket),
        )
      : createTcpServer((socket) => this.accept(socket, undefined));
    server.maxConnections = o.maxConnections ?? 64;
    server.on('tlsClientError', (e: Error) => {
      o.logger.warn({ listener: o.name, err: describeError(e) }, 'MLLP TLS handshake refused');
      this.emit('refused', { reason: (e as NodeJS.ErrnoException).code ?? 'tls' });
    });
    server.on('error', (e) => o.logger.error({ listener: o.name, err: describeError(e) }, 'MLLP listener failed'));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(o.port, o.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const port = this.port ?? 0;
    if (tls) o.logger.info({ listener: o.name, port, pinned: this.pins?.size ?? 0 }, 'MLLP listener (TLS, client certificates required)');
    else o.logger.warn({ listener: o.name, port }, 'MLLP listener in PLAINTEXT: the instrument profile opted in (allowPlaintext)');
    this.emit('listening', { port, secure: this.secure });
    return port;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private acceptTls(socket: TLSSocket): void {
    const cert = socket.getPeerCertificate();
    const fp = cert && typeof cert.fingerprint256 === 'string' ? normalise(cert.fingerprint256) : undefined;
    if (this.pins && (fp === undefined || !this.pins.has(fp))) {
      this.options.logger.warn({ listener: this.options.name }, 'MLLP client certificate is not pinned for this instrument: connection closed');
      this.emit('refused', { reason: 'not-pinned' });
      socket.destroy();
      return;
    }
    this.accept(socket, fp);
  }

  private accept(socket: Socket, fingerprint: string | undefined): void {
    const id = this.nextId++;
    const secure = this.secure;
    this.sockets.add(socket);
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 60_000);
    const conn: MllpConnection = {
      id,
      remote: `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`,
      secure,
      peerFingerprint: fingerprint,
      write: (bytes) => {
        if (socket.destroyed || !socket.writable) return false;
        socket.write(bytes);
        return true;
      },
      pause: () => socket.pause(),
      resume: () => socket.resume(),
      close: () => socket.end(),
    };
    let handler: MllpConnectionHandler;
    try {
      handler = this.options.onConnection(conn);
    } catch (e) {
      this.options.logger.error({ listener: this.options.name, err: describeError(e) }, 'MLLP connection setup failed');
      socket.destroy();
      this.sockets.delete(socket);
      return;
    }
    this.emit('connected', { id, secure });
    let ended = false;
    socket.on('data', (chunk: Buffer) => {
      try {
        handler.data(chunk);
      } catch (e) {
        // A protocol bug must not take the listener down: drop this connection only.
        this.options.logger.error({ listener: this.options.name, connection: id, err: describeError(e) }, 'MLLP connection failed');
        socket.destroy();
      }
    });
    socket.on('error', (e) => this.options.logger.debug({ listener: this.options.name, connection: id, err: describeError(e) }, 'MLLP socket error'));
    socket.on('close', () => {
      this.sockets.delete(socket);
      if (ended) return;
      ended = true;
      handler.end();
      this.emit('disconnected', { id });
    });
  }
}
