/**
 * A development certificate authority: a self-signed CA that issues server and device
 * certificates for tests, the demo and lab bring-up. Never a production trust anchor.
 *
 * node-forge builds and signs the X.509 structures; keys come from node:crypto (native,
 * fast) and are handed to forge as PEM.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import forge from 'node-forge';
import { LabedgeError } from '../gateway/core/errors.js';

/** A certificate and its private key, both PEM (key is unencrypted PKCS#8). */
export interface CertAndKey {
  readonly certPem: string;
  readonly keyPem: string;
}

export interface DevCa extends CertAndKey {
  readonly commonName: string;
}

/** Validity controls shared by every issuing function. */
export interface ValidityOptions {
  /** Lifetime from `now` (default: 3650 days for the CA, 825 for leaf certificates). */
  days?: number;
  /** Overrides the start of validity (default: `now` minus 5 minutes, for clock skew). */
  notBefore?: Date;
  /** Overrides the end of validity; set it in the past to get an expired certificate. */
  notAfter?: Date;
  /** The issuing time (default: the wall clock). */
  now?: Date;
}

export interface CreateDevCaOptions extends ValidityOptions {
  commonName?: string;
}

export interface ServerCertOptions extends ValidityOptions {
  /** DNS names for the subjectAltName; the first one (or the first IP) becomes the CN. */
  hostnames: string[];
  ips?: string[];
}

export interface DeviceCertOptions extends ValidityOptions {
  /** The device's opaque id; becomes the subject CN. */
  deviceId: string;
}

const DAY_MS = 86_400_000;
const SKEW_MS = 5 * 60_000;
const ORGANIZATION = 'labedge development';
// A CN is at most 64 characters (RFC 5280 ub-common-name); device ids stay opaque and simple.
const DEVICE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const DNS_NAME = /^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** Creates a self-signed CA (RSA 2048, SHA-256) allowed to sign end-entity certificates only. */
export function createDevCa(opts: CreateDevCaOptions = {}): DevCa {
  const commonName = opts.commonName ?? 'labedge development CA';
  if (commonName.length === 0 || commonName.length > 64) throw invalid('commonName must be 1-64 characters');
  const keys = newKeyPair();
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = newSerial();
  setValidity(cert, opts, 3650);
  const subject = [
    { name: 'commonName', value: commonName },
    { name: 'organizationName', value: ORGANIZATION },
  ];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  return { commonName, certPem: forge.pki.certificateToPem(cert), keyPem: keys.keyPem };
}

/** Issues a TLS server certificate (extKeyUsage serverAuth) for the given names and addresses. */
export function issueServerCert(ca: CertAndKey, opts: ServerCertOptions): CertAndKey {
  const ips = opts.ips ?? [];
  if (opts.hostnames.length === 0 && ips.length === 0) throw invalid('a server certificate needs at least one hostname or IP');
  for (const [i, name] of opts.hostnames.entries()) {
    if (!DNS_NAME.test(name) || name.length > 253) throw invalid(`hostnames[${i}] is not a DNS name`);
  }
  for (const [i, ip] of ips.entries()) {
    if (isIP(ip) === 0) throw invalid(`ips[${i}] is not an IP address`);
  }
  const altNames = [
    ...opts.hostnames.map((value) => ({ type: 2, value })),
    ...ips.map((ip) => ({ type: 7, ip })),
  ];
  const commonName = (opts.hostnames[0] ?? ips[0] ?? '').slice(0, 64);
  return issue(ca, opts, commonName, [
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames },
  ]);
}

/** Issues a device (TLS client) certificate: CN = deviceId, extKeyUsage clientAuth. */
export function issueDeviceCert(ca: CertAndKey, opts: DeviceCertOptions): CertAndKey {
  if (!DEVICE_ID.test(opts.deviceId)) throw invalid('deviceId must be 1-64 characters of [A-Za-z0-9._-]');
  return issue(ca, opts, opts.deviceId, [{ name: 'extKeyUsage', clientAuth: true }]);
}

export interface PkiPaths {
  certPath: string;
  keyPath: string;
}

/**
 * Writes `<name>.pem` (certificate, 0644) and `<name>-key.pem` (private key, 0600) for each
 * entry, creating `dir` (0700) if needed. Modes are enforced even when a file already existed.
 */
export async function writePki(dir: string, items: Record<string, CertAndKey>): Promise<Record<string, PkiPaths>> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const paths: Record<string, PkiPaths> = {};
  for (const [name, item] of Object.entries(items)) {
    if (!/^[A-Za-z0-9._-]+$/.test(name) || name.startsWith('.')) throw invalid(`PKI file name "${name}" is not a plain file name`);
    const certPath = join(dir, `${name}.pem`);
    const keyPath = join(dir, `${name}-key.pem`);
    await writeFile(keyPath, item.keyPem, { mode: 0o600 });
    await chmod(keyPath, 0o600);
    await writeFile(certPath, item.certPem, { mode: 0o644 });
    await chmod(certPath, 0o644);
    paths[name] = { certPath, keyPath };
  }
  return paths;
}

type Extension = Record<string, unknown> & { name: string };

function issue(ca: CertAndKey, opts: ValidityOptions, commonName: string, extra: Extension[]): CertAndKey {
  const caCert = forge.pki.certificateFromPem(ca.certPem);
  const caKey = forge.pki.privateKeyFromPem(ca.keyPem);
  const keys = newKeyPair();
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = newSerial();
  setValidity(cert, opts, 825);
  cert.setSubject([
    { name: 'commonName', value: commonName },
    { name: 'organizationName', value: ORGANIZATION },
  ]);
  cert.setIssuer(caCert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    ...extra,
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
  ]);
  cert.sign(caKey, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: keys.keyPem };
}

function newKeyPair(): { publicKey: forge.pki.rsa.PublicKey; privateKey: forge.pki.rsa.PrivateKey; keyPem: string } {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return {
    publicKey: forge.pki.publicKeyFromPem(publicKey) as forge.pki.rsa.PublicKey,
    privateKey: forge.pki.privateKeyFromPem(privateKey) as forge.pki.rsa.PrivateKey,
    keyPem: privateKey,
  };
}

/** 16 random bytes, top bit cleared so the DER INTEGER stays positive (RFC 5280 §4.1.2.2). */
function newSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x01;
  return bytes.toString('hex');
}

function setValidity(cert: forge.pki.Certificate, opts: ValidityOptions, defaultDays: number): void {
  const now = opts.now ?? new Date();
  const days = opts.days ?? defaultDays;
  if (!(days > 0)) throw invalid('days must be positive');
  const notBefore = opts.notBefore ?? new Date(now.getTime() - SKEW_MS);
  const notAfter = opts.notAfter ?? new Date(now.getTime() + days * DAY_MS);
  if (Number.isNaN(notBefore.getTime()) || Number.isNaN(notAfter.getTime()) || notAfter <= notBefore) {
    throw invalid('notAfter must be a valid date after notBefore');
  }
  cert.validity.notBefore = notBefore;
  cert.validity.notAfter = notAfter;
}

function invalid(message: string): LabedgeError {
  return new LabedgeError('LABEDGE_ERR_CONFIG', `development PKI: ${message}`);
}
