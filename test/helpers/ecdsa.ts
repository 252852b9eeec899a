/**
 * ECDSA P-256 for tests: deterministic signatures (RFC 6979, so the golden
 * vectors are reproducible byte for byte; node:crypto signs with a random
 * nonce) and the two forms of one signature, (r, s) and (r, n − s).
 * Test keys only: this is plain BigInt arithmetic, not constant-time.
 */
import { createECDH, createHash, createHmac, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { ecdsaRawToDer } from '../../infra/adapters/signers/der.ts';

/** P-256 (SEC 2, section 2.4.2): field prime p, a = −3, base point G, group order n. */
const P = 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn;
const A = P - 3n;
const G = {
  x: 0x6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296n,
  y: 0x4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5n,
};
export const P256_ORDER = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;

type Point = { x: bigint; y: bigint } | null;

function mod(value: bigint, modulus: bigint): bigint {
  const rest = value % modulus;
  return rest < 0n ? rest + modulus : rest;
}

function power(base: bigint, exponent: bigint, modulus: bigint): bigint {
  let result = 1n;
  let b = mod(base, modulus);
  for (let e = exponent; e > 0n; e >>= 1n) {
    if (e & 1n) result = (result * b) % modulus;
    b = (b * b) % modulus;
  }
  return result;
}

/** Inverse modulo a prime (Fermat). */
function inverse(value: bigint, modulus: bigint): bigint {
  return power(value, modulus - 2n, modulus);
}

function add(a: Point, b: Point): Point {
  if (a === null) return b;
  if (b === null) return a;
  if (a.x === b.x && mod(a.y + b.y, P) === 0n) return null;
  const slope =
    a.x === b.x && a.y === b.y
      ? mod((3n * a.x * a.x + A) * inverse(2n * a.y, P), P)
      : mod((b.y - a.y) * inverse(b.x - a.x, P), P);
  const x = mod(slope * slope - a.x - b.x, P);
  return { x, y: mod(slope * (a.x - x) - a.y, P) };
}

function multiply(scalar: bigint, point: Point): Point {
  let result: Point = null;
  let addend = point;
  for (let k = scalar; k > 0n; k >>= 1n) {
    if (k & 1n) result = add(result, addend);
    addend = add(addend, addend);
  }
  return result;
}

function bytes32(value: bigint): Buffer {
  return Buffer.from(value.toString(16).padStart(64, '0'), 'hex');
}

function toInteger(bytes: Uint8Array): bigint {
  return BigInt(`0x${Buffer.from(bytes).toString('hex') || '0'}`);
}

/** RFC 6979 section 3.2: the nonce for private key d and a 32-byte digest, with HMAC-SHA256. */
function nonce(d: bigint, digest: Uint8Array): bigint {
  const x = bytes32(d);
  const h = bytes32(mod(toInteger(digest), P256_ORDER));
  const hmac = (key: Buffer, ...parts: Buffer[]): Buffer =>
    createHmac('sha256', key).update(Buffer.concat(parts)).digest();
  let v: Buffer = Buffer.alloc(32, 1);
  let k: Buffer = Buffer.alloc(32, 0);
  k = hmac(k, v, Buffer.from([0]), x, h);
  v = hmac(k, v);
  k = hmac(k, v, Buffer.from([1]), x, h);
  v = hmac(k, v);
  for (;;) {
    v = hmac(k, v);
    const candidate = toInteger(v);
    if (candidate >= 1n && candidate < P256_ORDER) return candidate;
    k = hmac(k, v, Buffer.from([0]));
    v = hmac(k, v);
  }
}

/** ECDSA P-256 over a SHA-256 digest, deterministic (RFC 6979): r‖s, 64 bytes, with s as the arithmetic gives it. */
export function signDigestDeterministic(d: bigint, digest: Uint8Array): Buffer {
  const z = toInteger(digest);
  const k = nonce(d, digest);
  const r = mod(multiply(k, G)!.x, P256_ORDER);
  const s = mod(inverse(k, P256_ORDER) * (z + r * d), P256_ORDER);
  return Buffer.concat([bytes32(r), bytes32(s)]);
}

/** A fixed P-256 test key whose private scalar comes from a published label, as test/helpers/keys.ts does for Ed25519. */
export function p256FromSeed(label: string): { d: bigint; privateKey: KeyObject; publicKey: KeyObject } {
  const seed = toInteger(createHash('sha256').update(`chainbook test key: ${label}`).digest());
  const d = mod(seed, P256_ORDER - 1n) + 1n;
  const ecdh = createECDH('prime256v1');
  ecdh.setPrivateKey(bytes32(d));
  const point = ecdh.getPublicKey();
  const jwk = {
    kty: 'EC',
    crv: 'P-256',
    x: point.subarray(1, 33).toString('base64url'),
    y: point.subarray(33).toString('base64url'),
  };
  return {
    d,
    privateKey: createPrivateKey({ key: { ...jwk, d: bytes32(d).toString('base64url') }, format: 'jwk' }),
    publicKey: createPublicKey({ key: jwk, format: 'jwk' }),
  };
}

/** Both forms of an r‖s signature, as DER: [low-S, high-S]. */
export function ecdsaTwins(raw: Uint8Array): { low: Buffer; high: Buffer } {
  const r = Buffer.from(raw.subarray(0, 32));
  const s = toInteger(raw.subarray(32));
  const low = s <= P256_ORDER / 2n ? s : P256_ORDER - s;
  return {
    low: ecdsaRawToDer(Buffer.concat([r, bytes32(low)])),
    high: ecdsaRawToDer(Buffer.concat([r, bytes32(P256_ORDER - low)])),
  };
}
