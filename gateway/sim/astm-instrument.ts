import { SerialPort } from 'serialport';
import { connect } from 'node:net';
import { E1381Sender } from '../astm/e1381-sender.js';
import { systemClock } from '../core/clock.js';
import { LabedgeError } from '../core/errors.js';
import { PacedWriter } from '../../hardware/paced-writer.js';
import type { SerialSettings } from '../../hardware/serial-line.js';

export interface SimulatedSendResult {
  /** Messages whose final frame the receiver acknowledged. */
  acknowledged: number;
  failed: number;
}

/**
 * Plays an instrument on a serial line: sends each message with the E1381 sender role
 * (ENQ, frames of at most 240 characters, waits for every ACK, retransmits on NAK),
 * paced at the line's baud rate. Reports each message's outcome as it happens.
 */
/** Where the simulated instrument is plugged in: a serial line, or TCP carrying the same protocol. */
export type InstrumentLink = SerialSettings | { tcp: { host: string; port: number }; baudRate: number };

interface OpenLink {
  write(bytes: Buffer): void;
  onData(fn: (chunk: Buffer) => void): void;
  close(): Promise<void>;
}

async function openLink(link: InstrumentLink): Promise<OpenLink> {
  if ('tcp' in link) {
    const socket = connect(link.tcp.port, link.tcp.host);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('error', (e: NodeJS.ErrnoException) => reject(new LabedgeError('LABEDGE_ERR_USAGE', `cannot connect to ${link.tcp.host}:${link.tcp.port} (${e.code ?? 'error'})`, { cause: e })));
    });
    socket.setNoDelay(true);
    // A link that fails later (reset, closed under a read) must not crash the process: the
    // sender sees no reply, retries, and reports the message as not acknowledged.
    socket.on('error', () => undefined);
    return {
      write: (bytes) => void socket.write(bytes),
      onData: (fn) => void socket.on('data', fn),
      close: async () => void socket.end(),
    };
  }
  const { path, baudRate, dataBits, parity, stopBits } = link;
  const port = new SerialPort({ path, baudRate, dataBits, parity, stopBits, autoOpen: false });
  // serialport's open errors carry no code, only a message naming the device (no PHI): keep it.
  await new Promise<void>((resolve, reject) =>
    port.open((err) => (err ? reject(new LabedgeError('LABEDGE_ERR_USAGE', `cannot open serial port ${path}: ${err.message.replace(/^(Error: )+/, '')}`, { cause: err })) : resolve())),
  );
  // As for the socket above: a late EBADF/EIO (the pty closed under a read) is not a crash.
  port.on('error', () => undefined);
  return {
    write: (bytes) => void port.write(bytes),
    onData: (fn) => void port.on('data', fn),
    close: () => new Promise<void>((resolve) => (port.isOpen ? port.close(() => resolve()) : resolve())),
  };
}

export async function simulateAstmInstrument(options: {
  settings: InstrumentLink;
  messages: string[][];
  onMessage?: (index: number, ok: boolean, reason?: string) => void;
  /** Pause between messages, like an analyzer finishing the next sample. */
  gapMs?: number;
  maxTextPerFrame?: number;
  /** Sender reply timeout (E1381: 15 s); tests shorten it. */
  replyTimeoutMs?: number;
  /** Wait after a NAK to ENQ (the receiver is busy; E1381: 10 s); tests shorten it. */
  busyDelayMs?: number;
}): Promise<SimulatedSendResult> {
  const link = await openLink(options.settings);
  const paced = new PacedWriter((bytes) => link.write(bytes), options.settings.baudRate);
  const sender = new E1381Sender({
    clock: systemClock(),
    write: (bytes) => paced.write(bytes),
    maxTextPerFrame: options.maxTextPerFrame ?? 240,
    replyTimeoutMs: options.replyTimeoutMs,
    busyDelayMs: options.busyDelayMs,
  });
  link.onData((chunk) => sender.consume(chunk));
  const result: SimulatedSendResult = { acknowledged: 0, failed: 0 };
  try {
    for (const [i, records] of options.messages.entries()) {
      const outcome = await sender.send(records.map((r) => Buffer.from(r, 'latin1')));
      if (outcome.ok) result.acknowledged++;
      else result.failed++;
      options.onMessage?.(i, outcome.ok, outcome.ok ? undefined : outcome.reason);
      if (options.gapMs) await new Promise((r) => setTimeout(r, options.gapMs));
    }
    await paced.drained();
  } finally {
    sender.destroy();
    paced.close();
    await link.close();
  }
  return result;
}
