/**
 * Sends syslog messages to an audit record repository over TLS (RFC 5425): mutual TLS with the
 * box's device certificate, the repository's CA pinned, TLS 1.2 or later, hostname verified;
 * each message in an octet-counted frame. This is the ATNA transport for `audit export
 * --format syslog --to tls://host:port`.
 */
import { connect, type TLSSocket } from 'node:tls';
import { once } from 'node:events';
import { LabedgeError } from '../core/errors.js';
import { syslogFrame } from './audit-syslog.js';

export interface SyslogTarget {
  host: string;
  port: number;
  /** The repository's CA (PEM), pinned. */
  ca: string;
  /** The box's certificate and key (PEM): ATNA nodes authenticate each other. */
  cert: string;
  key: string;
  /** Connect and handshake deadline (default 10 s). */
  connectTimeoutMs?: number;
}

/** `tls://host:port` (RFC 5425's registered port 6514 when none is given). */
export function parseSyslogUrl(text: string): { host: string; port: number } {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new LabedgeError('LABEDGE_ERR_USAGE', '--to must be tls://host:port');
  }
  if (url.protocol !== 'tls:' || url.hostname === '') throw new LabedgeError('LABEDGE_ERR_USAGE', '--to must be tls://host:port (syslog over TLS, RFC 5425)');
  return { host: url.hostname.replace(/^\[|\]$/g, ''), port: url.port === '' ? 6514 : Number(url.port) };
}

/** Writes every message, then closes the connection cleanly. Returns how many were sent. */
export async function sendSyslogTls(target: SyslogTarget, messages: AsyncIterable<string>): Promise<number> {
  const socket = await open(target);
  // One listener for the whole session: a refusal by the peer shows up here, mid-stream.
  const failure = once(socket, 'error').then(([e]) => Promise.reject(e instanceof Error ? e : new Error('socket error')));
  failure.catch(() => undefined);
  let sent = 0;
  try {
    for await (const message of messages) {
      if (!socket.write(syslogFrame(message))) await Promise.race([once(socket, 'drain'), failure]);
      sent += 1;
    }
    socket.end();
    await Promise.race([once(socket, 'close'), failure]);
    return sent;
  } catch (e) {
    throw new LabedgeError('LABEDGE_ERR_AUDIT', `syslog to ${target.host}:${target.port} failed after ${sent} message(s)`, { cause: e });
  } finally {
    socket.destroy();
  }
}

function open(target: SyslogTarget): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: target.host, port: target.port, ca: target.ca, cert: target.cert, key: target.key, minVersion: 'TLSv1.2', servername: isIp(target.host) ? undefined : target.host });
    const timer = setTimeout(() => socket.destroy(new Error('connect timeout')), target.connectTimeoutMs ?? 10_000);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once('error', (e) => {
      clearTimeout(timer);
      const code = (e as NodeJS.ErrnoException).code ?? e.message; // a TLS or socket code, never data
      reject(new LabedgeError('LABEDGE_ERR_AUDIT', `cannot open syslog over TLS to ${target.host}:${target.port} (${code})`, { cause: e }));
    });
  });
}

const isIp = (host: string): boolean => /^[\d.]+$/.test(host) || host.includes(':');
