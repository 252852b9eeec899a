/**
 * The few DER structures HSM signing needs, built by hand because a PKCS#11
 * token deals in raw values: ECDSA signatures come back as r‖s and must be
 * DER for the chain (docs/FORMAT.md section 3); RSA PKCS#1 v1.5 over a
 * precomputed hash needs the SHA-256 DigestInfo prefix; public keys come back
 * as points and moduli and are published as SPKI.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { assert } from '../../../domain/errors.ts';

/** DigestInfo for SHA-256 (RFC 8017 section 9.2, note 1), followed by the 32 hash bytes. */
export const SHA256_DIGEST_INFO_PREFIX = Buffer.from('3031300d060960864801650304020105000420', 'hex');

/** OID 1.3.101.112 (Ed25519) and 1.2.840.10045.3.1.7 (P-256), DER, as CKA_EC_PARAMS takes them. */
export const ED25519_OID_DER = Buffer.from('06032b6570', 'hex');
export const P256_OID_DER = Buffer.from('06082a8648ce3d030107', 'hex');

const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const P256_SPKI_PREFIX = Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex');

function derLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  if (length < 0x100) return Buffer.from([0x81, length]);
  return Buffer.from([0x82, length >> 8, length & 0xff]);
}

function derInteger(unsigned: Buffer): Buffer {
  let start = 0;
  while (start < unsigned.length - 1 && unsigned[start] === 0) start++;
  let body = unsigned.subarray(start);
  if ((body[0]! & 0x80) !== 0) body = Buffer.concat([Buffer.from([0]), body]);
  return Buffer.concat([Buffer.from([0x02]), derLength(body.length), body]);
}

/** ECDSA r‖s (each half the buffer) as the DER SEQUENCE { INTEGER r, INTEGER s } OpenSSL verifies. */
export function ecdsaRawToDer(raw: Uint8Array): Buffer {
  assert(raw.length > 0 && raw.length % 2 === 0, `an ECDSA r‖s signature has even length, got ${raw.length}`);
  const half = raw.length / 2;
  const body = Buffer.concat([
    derInteger(Buffer.from(raw.subarray(0, half))),
    derInteger(Buffer.from(raw.subarray(half))),
  ]);
  return Buffer.concat([Buffer.from([0x30]), derLength(body.length), body]);
}

/** CKA_EC_POINT is a DER OCTET STRING around the point; some tokens return the bare point. */
export function unwrapEcPoint(value: Buffer, pointLength: number): Buffer {
  if (value.length === pointLength) return value;
  if (value[0] === 0x04 && value.length === pointLength + 2 && value[1] === pointLength) return value.subarray(2);
  if (value[0] === 0x04 && value.length === pointLength + 3 && value[1] === 0x81 && value[2] === pointLength)
    return value.subarray(3);
  throw new Error(`unexpected CKA_EC_POINT of ${value.length} bytes (expected a ${pointLength}-byte point)`);
}

export function ed25519PublicKey(point: Buffer): KeyObject {
  return createPublicKey({
    key: Buffer.concat([ED25519_SPKI_PREFIX, unwrapEcPoint(point, 32)]),
    format: 'der',
    type: 'spki',
  });
}

export function p256PublicKey(point: Buffer): KeyObject {
  return createPublicKey({
    key: Buffer.concat([P256_SPKI_PREFIX, unwrapEcPoint(point, 65)]),
    format: 'der',
    type: 'spki',
  });
}

export function rsaPublicKey(modulus: Buffer, exponent: Buffer): KeyObject {
  return createPublicKey({
    key: { kty: 'RSA', n: modulus.toString('base64url'), e: exponent.toString('base64url') },
    format: 'jwk',
  });
}

export function spkiPem(key: KeyObject): string {
  return key.export({ type: 'spki', format: 'pem' }).toString();
}

export function sameKey(a: KeyObject, b: KeyObject): boolean {
  return a.export({ type: 'spki', format: 'der' }).equals(b.export({ type: 'spki', format: 'der' }));
}
