import { EventEmitter } from 'node:events';
import { connect, type Socket } from 'node:net';
import type { Logger } from '../gateway/core/logger.js';
import { describeError } from '../gateway/core/errors.js';
import type { ByteLine, ByteLineEvents } from './byte-line.js';

export interface TcpClientLineOptions {
  host: string;
  port: number;
  logger: Logger;
  /** First reconnect delay; doubles per failure up to maxReconnectMs (default 500 / 30000 ms). */
  minReconnectMs?: number;
  maxReconnectMs?: number;
  /** Give up a connection attempt after this long (default 10000 ms). */
  connectTimeoutMs?: number;
}

/**
 * The box as TCP client: it connects out to an instrument or middleware that listens (ASTM
 * E1381-02 over TCP, or a serial-to-Ethernet converter in server mode) and keeps the connection
 * up, reconnecting with exponential backoff whenever it drops or cannot be made. Like
 * SerialLine it never throws to its owner: writes while disconnected are refused (false), which
 * the link protocol treats as line noise (the peer retries).
 */
export class TcpClientLine extends EventEmitter<ByteLineEvents> implements ByteLine {
  private socket: Socket | undefined;
  private connected = false;
  private stopped = true;
  private failures = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly minMs: number;
  private readonly maxMs: number;

  constructor(private readonly options: TcpClientLineOptions) {
    super();
    this.minMs = options.minReconnectMs ?? 500;
    this.maxMs = options.maxReconnectMs ?? 30_000;
  }

  get description(): string {
    return `tcp-client://${this.options.host}:${this.options.port}`;
  }

  get isConnected(): boolean {
    return this.connected;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.connect();
  }

  write(bytes: Uint8Array): boolean {
    if (!this.connected || !this.socket || this.socket.destroyed) return false;
    this.socket.write(bytes);
    return true;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    const socket = this.socket;
    this.socket = undefined;
    this.connected = false;
    if (socket && !socket.destroyed) {
      await new Promise<void>((resolve) => {
        socket.once('close', () => resolve());
        socket.destroy();
      });
    }
  }

  private connect(): void {
    if (this.stopped) return;
    const socket = connect({ host: this.options.host, port: this.options.port });
    this.socket = socket;
    socket.setTimeout(this.options.connectTimeoutMs ?? 10_000);
    socket.once('timeout', () => socket.destroy(Object.assign(new Error('connect timeout'), { code: 'ETIMEDOUT' })));
    socket.once('connect', () => {
      socket.setTimeout(0);
      socket.setNoDelay(true);
      socket.setKeepAlive(true, 30_000);
      this.connected = true;
      this.failures = 0;
      this.options.logger.info({ line: this.description }, 'tcp line connected');
      this.emit('open');
    });
    socket.on('data', (chunk: Buffer) => {
      if (this.socket === socket) this.emit('data', chunk);
    });
    socket.on('error', (e) => {
      if (this.socket === socket) this.options.logger[this.failures === 0 ? 'warn' : 'debug']({ line: this.description, err: describeError(e) }, 'tcp line error');
    });
    socket.once('close', () => this.onClose(socket));
  }

  private onClose(socket: Socket): void {
    if (this.socket !== socket) return;
    const wasConnected = this.connected;
    this.socket = undefined;
    this.connected = false;
    if (wasConnected) this.emit('close');
    if (this.stopped) return;
    const delay = Math.min(this.maxMs, this.minMs * 2 ** Math.min(this.failures, 16));
    this.failures++;
    this.options.logger.debug({ line: this.description, retryInMs: delay }, 'tcp line reconnecting');
    this.timer = setTimeout(() => this.connect(), delay);
    this.timer.unref();
  }
}
