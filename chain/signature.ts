/**
 * Signature algorithms of docs/FORMAT.md section 3, verified with node:crypto
 * (bench/crypto.ts measures it against @noble/ed25519: node:crypto is about 9x
 * faster to sign and 13x faster to verify on this machine).
 */
import { verify, type KeyObject } from 'node:crypto';
import { ed25519KeyProblem } from './ed25519Keys.ts';

export const SIGNATURE_ALGORITHMS = ['ed25519', 'rsa-sha256', 'ecdsa-p256-sha256'] as const;
export type SignatureAlgorithm = (typeof SIGNATURE_ALGORITHMS)[number];

export function isSignatureAlgorithm(value: unknown): value is SignatureAlgorithm {
  return typeof value === 'string' && (SIGNATURE_ALGORITHMS as readonly string[]).includes(value);
}

/** Minimum RSA modulus we accept in the registry. */
export const RSA_MIN_MODULUS_BITS = 2048;

/** Why a key does not fit an algorithm, or undefined when it does. */
export function keyMismatch(algorithm: SignatureAlgorithm, key: KeyObject): string | undefined {
  const type = key.asymmetricKeyType;
  switch (algorithm) {
    case 'ed25519':
      return type === 'ed25519'
        ? ed25519KeyProblem(key.export({ format: 'der', type: 'spki' }).subarray(-32))
        : `key is ${type ?? 'not asymmetric'}, algorithm ed25519 needs an Ed25519 key`;
    case 'rsa-sha256': {
      if (type !== 'rsa') return `key is ${type ?? 'not asymmetric'}, algorithm rsa-sha256 needs an RSA key`;
      const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
      return bits >= RSA_MIN_MODULUS_BITS
        ? undefined
        : `RSA modulus is ${bits} bits, at least ${RSA_MIN_MODULUS_BITS} required`;
    }
    case 'ecdsa-p256-sha256': {
      if (type !== 'ec') return `key is ${type ?? 'not asymmetric'}, algorithm ecdsa-p256-sha256 needs an EC P-256 key`;
      const curve = key.asymmetricKeyDetails?.namedCurve;
      return curve === 'prime256v1'
        ? undefined
        : `EC key is on curve ${curve ?? 'unknown'}, P-256 (prime256v1) required`;
    }
  }
}

/** The order n of the P-256 group (SEC 2, section 2.4.2), and n/2: (r, s) and (r, n − s) both verify. */
const P256_ORDER = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
const P256_HALF_ORDER = P256_ORDER >> 1n;

/** A P-256 ECDSA DER signature is at most 72 bytes: every length fits in one byte (short form). */
const MAX_SHORT_DER_LENGTH = 0x7f;

/**
 * r and s of an ECDSA signature in DER, SEQUENCE { INTEGER r, INTEGER s },
 * or undefined when it is not that structure with short-form lengths (no
 * P-256 signature needs more). Whether the DER is minimal is OpenSSL's to
 * refuse when it verifies; this only reads the numbers.
 */
export function ecdsaDerIntegers(der: Uint8Array): { r: bigint; s: bigint } | undefined {
  if (der.length < 8 || der[0] !== 0x30 || der[1] !== der.length - 2 || der[1]! > MAX_SHORT_DER_LENGTH)
    return undefined;
  const integers: bigint[] = [];
  let at = 2;
  while (at < der.length && integers.length < 2) {
    const length = der[at + 1];
    if (der[at] !== 0x02 || length === undefined || length === 0 || length > MAX_SHORT_DER_LENGTH) return undefined;
    const body = der.subarray(at + 2, at + 2 + length);
    if (body.length !== length) return undefined;
    integers.push(BigInt(`0x${Buffer.from(body).toString('hex')}`));
    at += 2 + length;
  }
  if (integers.length !== 2 || at !== der.length) return undefined;
  return { r: integers[0]!, s: integers[1]! };
}

function derInteger(value: bigint): Buffer {
  let hex = value.toString(16);
  if (hex.length % 2 === 1) hex = `0${hex}`;
  // A leading byte with its high bit set would read as negative: DER puts a zero byte before it.
  if (Number.parseInt(hex.slice(0, 2), 16) >= 0x80) hex = `00${hex}`;
  return Buffer.concat([Buffer.from([0x02, hex.length / 2]), Buffer.from(hex, 'hex')]);
}

/**
 * docs/FORMAT.md section 3: an ecdsa-p256-sha256 signature has s <= n/2 (low S).
 * Its twin (r, n − s) verifies too, so it would be a second text of the same
 * record; the verifier refuses the high-S form.
 */
export function isHighSEcdsa(der: Uint8Array): boolean {
  const integers = ecdsaDerIntegers(der);
  return integers !== undefined && integers.s > P256_HALF_ORDER;
}

/**
 * The low-S form of a P-256 ECDSA DER signature (s replaced by n − s when
 * above n/2), for signers whose backend returns either form (AWS KMS, PKCS#11
 * tokens). A signature that is not DER is returned as it is: verification
 * refuses it.
 */
export function lowSEcdsaDer(der: Uint8Array): Buffer {
  const integers = ecdsaDerIntegers(der);
  if (integers === undefined || integers.s <= P256_HALF_ORDER) return Buffer.from(der);
  const body = Buffer.concat([derInteger(integers.r), derInteger(P256_ORDER - integers.s)]);
  return Buffer.concat([Buffer.from([0x30, body.length]), body]);
}

/** Checks a document signature (sections 8 and 9): Ed25519 over the bytes, RSA and ECDSA over their SHA-256. */
export function verifyMessageSignature(
  algorithm: SignatureAlgorithm,
  publicKey: KeyObject,
  message: Uint8Array,
  signature: Uint8Array,
): boolean {
  if (algorithm === 'ecdsa-p256-sha256' && isHighSEcdsa(signature)) return false;
  try {
    return verify(algorithm === 'ed25519' ? null : 'sha256', message, publicKey, signature);
  } catch {
    return false;
  }
}

/**
 * Checks a record signature. Ed25519 signs the 32 hash bytes (PureEdDSA);
 * RSA and ECDSA sign a SHA-256 digest that equals `hash`, so they are checked
 * over the preimage with SHA-256, exactly as `openssl dgst -sha256 -verify`.
 * An ECDSA signature must also be low-S (isHighSEcdsa).
 */
export function verifySignature(
  algorithm: SignatureAlgorithm,
  publicKey: KeyObject,
  hash: Uint8Array,
  preimage: Uint8Array,
  signature: Uint8Array,
): boolean {
  if (algorithm === 'ecdsa-p256-sha256' && isHighSEcdsa(signature)) return false;
  try {
    if (algorithm === 'ed25519') return verify(null, hash, publicKey, signature);
    return verify('sha256', preimage, publicKey, signature);
  } catch {
    // A malformed signature (wrong length, bad DER) is a failed check, not a crash.
    return false;
  }
}
