import { EventEmitter } from 'node:events';
import { SerialPort } from 'serialport';
import type { Logger } from '../gateway/core/logger.js';
import { describeError } from '../gateway/core/errors.js';
import type { ByteLine, ByteLineEvents } from './byte-line.js';

/** Line settings from the instrument profile. */
export interface SerialSettings {
  path: string;
  baudRate: number;
  dataBits: 5 | 6 | 7 | 8;
  parity: 'none' | 'even' | 'odd' | 'mark' | 'space';
  stopBits: 1 | 1.5 | 2;
}

export interface SerialLineOptions {
  logger: Logger;
  /** First reopen delay; doubles per failure up to maxReopenMs. */
  minReopenMs?: number;
  maxReopenMs?: number;
}

/**
 * One instrument's serial port, kept open: when the port errors or disappears
 * (cable pulled, USB adapter re-enumerated) it is reopened with backoff. It never throws
 * to its owner; bytes written while the port is closed are dropped and reported false,
 * which the link protocol treats like line noise (the instrument retries).
 */
export class SerialLine extends EventEmitter<ByteLineEvents> implements ByteLine {
  private port: SerialPort | undefined;
  private stopped = true;
  private failures = 0;
  private reopenTimer: NodeJS.Timeout | undefined;
  private readonly minReopenMs: number;
  private readonly maxReopenMs: number;

  constructor(
    readonly settings: SerialSettings,
    private readonly options: SerialLineOptions,
  ) {
    super();
    this.minReopenMs = options.minReopenMs ?? 250;
    this.maxReopenMs = options.maxReopenMs ?? 30_000;
  }

  get description(): string {
    return this.settings.path;
  }

  get isOpen(): boolean {
    return this.port?.isOpen === true;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.open();
  }

  write(bytes: Uint8Array): boolean {
    const port = this.port;
    if (!port?.isOpen) return false;
    port.write(Buffer.from(bytes), (err) => {
      if (err) this.options.logger.warn({ port: this.settings.path, err: describeError(err) }, 'serial write failed');
    });
    return true;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.reopenTimer);
    const port = this.port;
    this.port = undefined;
    if (port?.isOpen) await new Promise<void>((resolve) => port.close(() => resolve()));
  }

  private open(): void {
    if (this.stopped) return;
    const { path, baudRate, dataBits, parity, stopBits } = this.settings;
    const port = new SerialPort({ path, baudRate, dataBits, parity, stopBits, autoOpen: false, lock: true });
    this.port = port;
    port.on('data', (chunk: Buffer) => this.emit('data', chunk));
    port.on('error', (err) => this.onFailure(port, err));
    port.on('close', () => this.onFailure(port, undefined));
    port.open((err) => {
      if (err) return this.onFailure(port, err);
      this.failures = 0;
      this.options.logger.info({ port: path, baudRate }, 'serial port open');
      this.emit('open');
    });
  }

  private onFailure(port: SerialPort, err: Error | undefined | null): void {
    if (this.port !== port) return; // a stale port's late event
    this.port = undefined;
    port.removeAllListeners('data');
    if (port.isOpen) port.close(() => undefined);
    this.emit('close');
    if (this.stopped) return;
    const delay = Math.min(this.maxReopenMs, this.minReopenMs * 2 ** Math.min(this.failures, 16));
    this.failures++;
    // Only the first failure in a row is a warning; a port that stays away is reported at debug.
    const level = this.failures === 1 ? 'warn' : 'debug';
    this.options.logger[level]({ port: this.settings.path, err: err ? describeError(err) : 'closed', retryInMs: delay }, 'serial port unavailable');
    this.reopenTimer = setTimeout(() => this.open(), delay);
    this.reopenTimer.unref();
  }
}
