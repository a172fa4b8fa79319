/**
 * Builds the uplink client from the configuration (TLS files, bundle type, SMART) and keeps
 * its certificate current: when renewal replaces the device certificate or key (or the CA
 * file), the new material is validated and swapped in without dropping in-flight requests.
 * A half-written pair (new certificate, old key) is not applied; the next change, or a
 * retry a moment later, picks up the finished pair.
 */
import { X509Certificate, createHash, createPrivateKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Clock } from '../core/clock.js';
import { LabedgeError, describeError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { UplinkConfig } from '../config/config.js';
import { FhirUplinkClient, type FhirUplinkClientOptions } from './fhir-client.js';
import { readTlsMaterial, watchFiles } from './tls-files.js';
import type { TlsMaterial } from './transport.js';

export interface OpenUplinkOptions {
  logger: Logger;
  clock?: Clock;
  /** Watch the TLS files for renewal (default true). */
  watch?: boolean;
  /** Extra client options (tests: deadlines, thresholds). */
  client?: Partial<FhirUplinkClientOptions>;
  /** Called after renewed material was applied (for the audit trail's `renewal` entry). */
  onRenewed?: (certificate: RenewedCertificate) => void;
}

/** A renewed device certificate, identified without its content. */
export interface RenewedCertificate {
  certSha256: string;
  serial: string;
  notAfter: string;
}

export interface OpenedUplink {
  client: FhirUplinkClient;
  /** Re-reads the TLS files now; true when new material was applied. */
  reload(): Promise<boolean>;
  close(): Promise<void>;
}

const RETRY_MS = 1000;
const MAX_RETRIES = 10;

export async function openUplink(uplink: UplinkConfig, opts: OpenUplinkOptions): Promise<OpenedUplink> {
  const files = { caFile: uplink.caFile, certFile: uplink.certFile, keyFile: uplink.keyFile, trustSystemCas: uplink.trustSystemCas ?? false };
  let current = await readTlsMaterial(files);
  const smartKeyIsDeviceKey = uplink.smart !== undefined && uplink.smart.keyFile === undefined;
  let smart: FhirUplinkClientOptions['smart'];
  if (uplink.smart) {
    const { clientId, tokenUrl, discovery, scopes, keyFile, keyId } = uplink.smart;
    let key;
    try {
      key = createPrivateKey(keyFile ? await readFile(keyFile, 'utf8') : current.key);
    } catch (e) {
      throw new LabedgeError('LABEDGE_ERR_CONFIG', `uplink.smart key is unusable (${describeError(e)})`, { cause: e });
    }
    smart = { clientId, key, ...(tokenUrl && { tokenUrl }), ...(discovery && { discoveryUrl: discovery }), ...(scopes && { scopes }), ...(keyId && { keyId }) };
  }
  const client = new FhirUplinkClient({
    baseUrl: uplink.baseUrl,
    ...current,
    timeoutMs: uplink.timeoutMs,
    bundleType: uplink.bundleType ?? 'transaction',
    connections: Math.max(uplink.maxInFlight ?? 8, 1),
    ...(smart && { smart }),
    ...(opts.clock && { clock: opts.clock }),
    ...opts.client,
  });
  opts.logger.info({ certificate: describeCert(current.cert) }, 'uplink device certificate loaded');

  let retries = 0;
  let retryTimer: NodeJS.Timeout | undefined;
  let closed = false;
  const reload = async (): Promise<boolean> => {
    if (closed) return false;
    clearTimeout(retryTimer);
    let next: TlsMaterial;
    try {
      next = await readTlsMaterial(files);
      if (sameMaterial(next, current)) return false;
      client.reloadTls(next);
      if (smartKeyIsDeviceKey) client.setSmartKey(createPrivateKey(next.key));
    } catch (e) {
      // Mid-renewal (certificate written, key not yet) or a broken file: keep the old material.
      if (retries < MAX_RETRIES) {
        retries += 1;
        retryTimer = setTimeout(() => void reload(), RETRY_MS);
        retryTimer.unref();
      }
      opts.logger.warn({ err: describeError(e), retry: retries <= MAX_RETRIES }, 'uplink TLS files changed but are not usable yet; keeping the current certificate');
      return false;
    }
    retries = 0;
    const renewed = next.cert !== current.cert;
    current = next;
    const described = describeCert(next.cert);
    opts.logger.info({ certificate: described }, 'uplink device certificate reloaded: new connections use it');
    if (renewed && described) opts.onRenewed?.({ ...described, certSha256: createHash('sha256').update(new X509Certificate(next.cert).raw).digest('hex') });
    return true;
  };
  const watcher = opts.watch === false ? undefined : watchFiles([files.caFile, files.certFile, files.keyFile], () => void reload());

  return {
    client,
    reload,
    async close() {
      closed = true;
      clearTimeout(retryTimer);
      watcher?.close();
      await client.close();
    },
  };
}

function sameMaterial(a: TlsMaterial, b: TlsMaterial): boolean {
  return a.cert === b.cert && a.key === b.key && JSON.stringify(a.ca) === JSON.stringify(b.ca);
}

/** Serial and validity of a certificate: identifies it in logs without content. */
function describeCert(pem: string): { serial: string; notAfter: string } | undefined {
  try {
    const cert = new X509Certificate(pem);
    return { serial: cert.serialNumber, notAfter: new Date(cert.validTo).toISOString() };
  } catch {
    return undefined;
  }
}
