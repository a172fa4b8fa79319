import type { EventEmitter } from 'node:events';

export interface ByteLineEvents {
  data: [Buffer];
  /** A (re)opened line: a new link session starts from scratch. */
  open: [];
  close: [];
}

/**
 * A bidirectional byte pipe to one instrument: a serial port, or a TCP connection
 * carrying the same link protocol. The protocol layer sees only this.
 */
export interface ByteLine extends EventEmitter<ByteLineEvents> {
  readonly description: string;
  start(): void;
  write(bytes: Uint8Array): boolean;
  stop(): Promise<void>;
}
