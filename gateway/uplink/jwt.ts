/**
 * Compact JWS signing for SMART Backend Services client assertions (RFC 7515/7519/7523) with
 * node:crypto only: RS384 for RSA keys (the device key), ES384 for P-384 EC keys.
 */
import { createHash, createPublicKey, sign, type KeyObject } from 'node:crypto';
import { LabedgeError } from '../core/errors.js';

export type JwtAlg = 'RS384' | 'ES384';

export function base64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

/** The JWS algorithm a key signs with, or a config error for keys SMART does not allow. */
export function jwtAlgFor(key: KeyObject): JwtAlg {
  if (key.asymmetricKeyType === 'rsa') {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < 2048) throw new LabedgeError('LABEDGE_ERR_CONFIG', 'SMART signing key: RSA keys must be at least 2048 bits');
    return 'RS384';
  }
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'secp384r1') return 'ES384';
  throw new LabedgeError('LABEDGE_ERR_CONFIG', 'SMART signing key must be RSA (RS384) or EC P-384 (ES384)');
}

/** RFC 7638 JWK thumbprint (SHA-256, base64url) of a key's public part: the default `kid`. */
export function jwkThumbprint(key: KeyObject): string {
  const jwk = (key.type === 'public' ? key : createPublicKey(key)).export({ format: 'jwk' }) as Record<string, string>;
  const members = jwk.kty === 'EC' ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y } : { e: jwk.e, kty: jwk.kty, n: jwk.n };
  return createHash('sha256').update(JSON.stringify(members)).digest('base64url');
}

/** Signs `claims` as a compact JWS with header `{alg, typ: JWT, kid}`. */
export function signJwt(claims: Record<string, unknown>, key: KeyObject, kid: string): string {
  const alg = jwtAlgFor(key);
  const input = `${base64url(JSON.stringify({ alg, typ: 'JWT', kid }))}.${base64url(JSON.stringify(claims))}`;
  const signature = alg === 'RS384' ? sign('sha384', Buffer.from(input), key) : sign('sha384', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
  return `${input}.${base64url(signature)}`;
}
