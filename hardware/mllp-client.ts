/**
 * The sending side of MLLP (the simulator, tests, benchmarks): connects over TCP or TLS with a
 * client certificate, sends each message framed and resolves with the acknowledgement that comes
 * back. Replies are matched in order (one reply per message, as MLLP senders expect); a reply that
 * does not come within `ackTimeoutMs` fails that send and closes the connection, because a late
 * ACK could no longer be matched.
 */
import { connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { systemClock } from '../gateway/core/clock.js';
import { MllpFramer, mllpFrame } from '../gateway/hl7/mllp-framer.js';
import { ackHeaderOf, applicationAckFollows } from '../gateway/hl7/ack.js';
import { parseHl7 } from '../gateway/hl7/parser.js';

export interface MllpClientTls {
  ca: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
  servername?: string;
}

export interface MllpClientOptions {
  host: string;
  port: number;
  tls?: MllpClientTls;
  /** How long to wait for each reply (default 10,000 ms). */
  ackTimeoutMs?: number;
}

export interface MllpReply {
  /** MSA-1 (AA, AE, AR, CA, CE, CR), or 'commit-ack' / 'commit-nak' for an MLLP release 2 block. */
  readonly code: string;
  /** MSA-2: the control id the reply acknowledges. */
  readonly controlId: string;
  readonly raw: Buffer;
  /** The commit ACK (CA) that came before this application ACK, when the message asked for both. */
  readonly commit?: MllpReply;
}

interface Waiter {
  resolve(r: MllpReply): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
  /** The message asked for a commit ACK and an application ACK (MSH-15/16): a CA is not the end. */
  awaitsApplicationAck: boolean;
  commit?: MllpReply;
}

export class MllpClient {
  private readonly waiters: Waiter[] = [];
  private readonly framer: MllpFramer;
  private failed: Error | undefined;

  private constructor(
    private readonly socket: Socket,
    private readonly ackTimeoutMs: number,
  ) {
    this.framer = new MllpFramer(systemClock(), {
      emit: (e) => {
        if (e.type === 'frame') {
          const m = parseHl7(e.payload).messages[0];
          const msa = m?.segment('MSA');
          this.settle({ code: msa?.value(1) ?? '', controlId: msa?.value(2) ?? '', raw: e.payload });
        } else if (e.type === 'commit') {
          this.settle({ code: e.ok ? 'commit-ack' : 'commit-nak', controlId: '', raw: Buffer.alloc(0) });
        }
      },
    });
    socket.on('data', (chunk: Buffer) => this.framer.consume(chunk));
    socket.on('error', (e) => this.fail(e));
    socket.on('close', () => this.fail(new Error('connection closed')));
  }

  static connect(options: MllpClientOptions): Promise<MllpClient> {
    return new Promise((resolve, reject) => {
      const t = options.tls;
      const socket: Socket = t
        ? tlsConnect({ host: options.host, port: options.port, ca: t.ca, ...(t.cert ? { cert: t.cert } : {}), ...(t.key ? { key: t.key } : {}), servername: t.servername ?? 'localhost' })
        : tcpConnect({ host: options.host, port: options.port });
      const ready = t ? 'secureConnect' : 'connect';
      const onError = (e: Error): void => reject(e);
      socket.once('error', onError);
      socket.once(ready, () => {
        socket.off('error', onError);
        socket.setNoDelay(true);
        resolve(new MllpClient(socket, options.ackTimeoutMs ?? 10_000));
      });
    });
  }

  /**
   * Sends one message (MLLP-framed) and resolves with its reply. When the message asks for a commit
   * and an application ACK (enhanced mode, MSH-16 AL/SU), a CA is held and the AA/AE/AR that follows
   * resolves the send (§3 #17: a CA is not the application's answer).
   */
  send(payload: Uint8Array | string): Promise<MllpReply> {
    const bytes = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
    const cr = bytes.indexOf(0x0d);
    const m = parseHl7(bytes.subarray(0, cr < 0 ? bytes.length : cr + 1)).messages[0]; // the MSH is enough
    const header = m === undefined ? undefined : ackHeaderOf(m);
    return this.sendRaw(mllpFrame(payload), header !== undefined && applicationAckFollows(header, 'accepted'));
  }

  /** Writes bytes as they are (already framed, split, or junk) and waits for the next reply. */
  sendRaw(bytes: Uint8Array, awaitsApplicationAck = false): Promise<MllpReply> {
    if (this.failed) return Promise.reject(this.failed);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const e = new Error(`no MLLP reply within ${this.ackTimeoutMs} ms`);
        this.fail(e);
        this.socket.destroy();
      }, this.ackTimeoutMs);
      this.waiters.push({ resolve, reject, timer, awaitsApplicationAck });
      this.socket.write(bytes);
    });
  }

  /** Writes bytes without waiting for anything. */
  write(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }

  async close(): Promise<void> {
    if (this.socket.destroyed) return;
    await new Promise<void>((resolve) => {
      this.socket.once('close', () => resolve());
      this.socket.end();
      setTimeout(() => this.socket.destroy(), 1000).unref();
    });
  }

  private settle(r: MllpReply): void {
    const w = this.waiters[0];
    if (!w) return;
    if (w.awaitsApplicationAck && w.commit === undefined && r.code === 'CA') {
      w.commit = r; // the application ACK for the same message comes next
      return;
    }
    this.waiters.shift();
    clearTimeout(w.timer);
    w.resolve(w.commit !== undefined ? { ...r, commit: w.commit } : r);
  }

  private fail(e: Error): void {
    this.failed ??= e;
    for (const w of this.waiters.splice(0)) {
      clearTimeout(w.timer);
      w.reject(e);
    }
  }
}
