/**
 * Sealing records straight from docs/FORMAT.md sections 1 to 3, with the
 * `canonicalize` package and node:crypto only. The golden vectors must not
 * inherit a bug of chain/'s fast serialisation: test/verifier/vectors.unit.test.ts
 * checks the writer's sealing against these bytes instead.
 */
import canonicalize from 'canonicalize';
import { createHash, sign, type KeyObject } from 'node:crypto';
import { ed25519FromSeed, publicPem } from '../helpers/keys.ts';

/** A record or payload as the vectors handle it: corruptions may give it any members. */
export type VectorObject = Record<string, unknown>;

export interface VectorKey {
  kid: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
}

export const ZERO_HASH = '0'.repeat(64);

/** A fixed test key: its seed label is published in test/helpers/keys.ts, so anyone can rebuild the vectors. */
export function vectorKey(kid: string): VectorKey {
  return { kid, ...ed25519FromSeed(kid) };
}

export function canonical(value: unknown): string {
  const text = canonicalize(value);
  if (text === undefined) throw new Error('assertion failed: value has no JSON form');
  return text;
}

/** docs/FORMAT.md section 2: the record without hash, prevHash and sig. */
export function payloadOf(record: VectorObject): VectorObject {
  const { hash: _hash, prevHash: _prevHash, sig: _sig, ...payload } = record;
  return payload;
}

/** docs/FORMAT.md section 2: JCS(payload) as UTF-8 || the 32 raw bytes of prevHash. */
export function preimage(payload: VectorObject, prevHash: string): Buffer {
  return Buffer.concat([Buffer.from(canonical(payload), 'utf8'), Buffer.from(prevHash, 'hex')]);
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** docs/FORMAT.md section 3, ed25519: the signature over the 32 raw bytes of `hash`. */
export function signHash(key: VectorKey, hash: string): { kid: string; alg: string; value: string } {
  return {
    kid: key.kid,
    alg: 'ed25519',
    value: sign(null, Buffer.from(hash, 'hex'), key.privateKey).toString('base64'),
  };
}

/** A record linked to prevHash, hashed and signed. */
export function seal(payload: VectorObject, prevHash: string, key: VectorKey): VectorObject {
  const hash = sha256Hex(preimage(payload, prevHash));
  return { ...payload, prevHash, hash, sig: signHash(key, hash) };
}

/** Records linked one to the next from `firstPrevHash`, each signed by the key `signerFor` picks. */
export function sealChain(
  payloads: readonly VectorObject[],
  signerFor: (payload: VectorObject) => VectorKey,
  firstPrevHash = ZERO_HASH,
): VectorObject[] {
  let prevHash = firstPrevHash;
  return payloads.map((payload) => {
    const record = seal(payload, prevHash, signerFor(payload));
    prevHash = record['hash'] as string;
    return record;
  });
}

export interface RegistryEntry {
  signer_kid: string;
  algorithm: string;
  public_key_pem: string;
  deployedAt: string;
  retiredAt: string | null;
  description: string;
}

export function registryEntryOf(
  key: VectorKey,
  deployedAt: string,
  retiredAt: string | null,
  description: string,
): RegistryEntry {
  return {
    signer_kid: key.kid,
    algorithm: 'ed25519',
    public_key_pem: publicPem(key.publicKey),
    deployedAt,
    retiredAt,
    description,
  };
}

/** A UUID of version 7 layout whose time is `ts` and whose other bits come from `label`: fixed, unique per label. */
export function fixedUuid(ts: string, label: string): string {
  const time = Date.parse(ts).toString(16).padStart(12, '0');
  const bits = createHash('sha256').update(label).digest('hex');
  const variant = ((Number.parseInt(bits[3]!, 16) & 0x3) | 0x8).toString(16);
  return `${time.slice(0, 8)}-${time.slice(8, 12)}-7${bits.slice(0, 3)}-${variant}${bits.slice(4, 7)}-${bits.slice(7, 19)}`;
}
