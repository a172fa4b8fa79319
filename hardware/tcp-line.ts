import { EventEmitter } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from '../gateway/core/logger.js';
import { describeError } from '../gateway/core/errors.js';
import type { ByteLine, ByteLineEvents } from './byte-line.js';

/**
 * An instrument that speaks the serial link protocol over TCP (E1381-02 TCP provision, or a
 * serial-to-Ethernet converter): the box listens, one instrument connection at a time.
 * A second connection while one is active is refused, so two peers never interleave bytes
 * in one link session.
 */
export class TcpLine extends EventEmitter<ByteLineEvents> implements ByteLine {
  private server: Server | undefined;
  private socket: Socket | undefined;

  constructor(
    private readonly options: { host: string; port: number; logger: Logger },
  ) {
    super();
  }

  get description(): string {
    return `tcp://${this.options.host}:${this.options.port}`;
  }

  /** The bound port (useful when configured as 0). */
  get port(): number | undefined {
    const a = this.server?.address();
    return typeof a === 'object' && a ? a.port : undefined;
  }

  start(): void {
    if (this.server) return;
    const server = createServer((socket) => this.accept(socket));
    server.on('error', (e) => this.options.logger.error({ line: this.description, err: describeError(e) }, 'tcp listener failed'));
    server.listen(this.options.port, this.options.host, () => this.options.logger.info({ line: this.description, port: this.port }, 'tcp line listening'));
    this.server = server;
  }

  /** Resolves once listening; rejects if the port cannot be bound (EADDRINUSE, EACCES). */
  async listening(): Promise<void> {
    if (!this.server) this.start();
    const server = this.server!;
    if (server.listening) return;
    await new Promise<void>((resolve, reject) => {
      const onError = (e: Error): void => reject(e);
      server.once('error', onError);
      server.once('listening', () => {
        server.off('error', onError);
        resolve();
      });
    });
  }

  write(bytes: Uint8Array): boolean {
    if (!this.socket || this.socket.destroyed) return false;
    this.socket.write(bytes);
    return true;
  }

  async stop(): Promise<void> {
    this.socket?.destroy();
    this.socket = undefined;
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private accept(socket: Socket): void {
    if (this.socket && !this.socket.destroyed) {
      socket.destroy();
      this.options.logger.warn({ line: this.description }, 'second connection refused: the instrument is already connected');
      return;
    }
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (chunk) => this.emit('data', chunk));
    socket.on('error', (e) => this.options.logger.warn({ line: this.description, err: describeError(e) }, 'tcp connection error'));
    socket.on('close', () => {
      if (this.socket === socket) this.socket = undefined;
      this.emit('close');
    });
    this.emit('open');
  }
}
