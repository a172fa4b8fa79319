/**
 * An HL7 instrument on the LAN: sends each message MLLP-framed over TCP or TLS (with a client
 * certificate) and waits for its acknowledgement before the next, as analyzers do. Used by
 * `labedge simulate --protocol hl7` and by tests. Reports by message index and ACK code only.
 */
import { MllpClient, type MllpClientTls } from './mllp-client.js';

export interface Hl7SimulationOptions {
  host: string;
  port: number;
  tls?: MllpClientTls;
  messages: readonly Buffer[];
  ackTimeoutMs?: number;
  onMessage?: (index: number, code: string) => void;
}

export interface Hl7SimulationResult {
  /** Messages answered with AA or CA. */
  acknowledged: number;
  /** Messages answered otherwise, or not at all. */
  failed: number;
  codes: string[];
}

const POSITIVE = new Set(['AA', 'CA', 'commit-ack']);

/**
 * Why a message got no acknowledgement, in words a field engineer can act on. With TLS 1.3 a
 * server that refuses the client's certificate (or its absence) says so only after the
 * handshake, as an alert on the first read: without this, it looked like a silent server.
 */
function noReply(e: unknown): string {
  const code = (e as { code?: unknown }).code;
  if (code === 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED') return 'refused: the server requires a client certificate (--cert FILE --key FILE)';
  if (typeof code === 'string' && /^ERR_SSL_.*ALERT/.test(code)) return `refused by the server's TLS (${code})`;
  return 'no reply';
}

export async function simulateHl7Instrument(options: Hl7SimulationOptions): Promise<Hl7SimulationResult> {
  const client = await MllpClient.connect({
    host: options.host,
    port: options.port,
    ...(options.tls ? { tls: options.tls } : {}),
    ...(options.ackTimeoutMs !== undefined ? { ackTimeoutMs: options.ackTimeoutMs } : {}),
  });
  const codes: string[] = [];
  try {
    for (let i = 0; i < options.messages.length; i++) {
      let code: string;
      let gone = false;
      try {
        code = (await client.send(options.messages[i] ?? Buffer.alloc(0))).code || 'no MSA';
      } catch (e) {
        code = noReply(e);
        gone = true;
      }
      codes.push(code);
      options.onMessage?.(i, code);
      if (gone) break;
    }
  } finally {
    await client.close();
  }
  const acknowledged = codes.filter((c) => POSITIVE.has(c)).length;
  return { acknowledged, failed: options.messages.length - acknowledged, codes };
}
