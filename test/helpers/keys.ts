/**
 * Fixed test keys: Ed25519 keys derived from a published seed label, so
 * golden vectors are reproducible byte for byte. They sign test data only;
 * no private key file is ever written to the repository.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import type { RegistryEntryJson } from '../../chain/registry.ts';
import type { SignatureAlgorithm } from '../../chain/signature.ts';

/** PKCS#8 DER prefix of an Ed25519 private key whose 32-byte seed follows (RFC 8410). */
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

export function ed25519FromSeed(label: string): { privateKey: KeyObject; publicKey: KeyObject } {
  const seed = createHash('sha256').update(`chainbook test key: ${label}`).digest();
  const privateKey = createPrivateKey({
    key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]),
    format: 'der',
    type: 'pkcs8',
  });
  return { privateKey, publicKey: createPublicKey(privateKey) };
}

export function generateKeys(algorithm: SignatureAlgorithm): { privateKey: KeyObject; publicKey: KeyObject } {
  if (algorithm === 'ed25519') return generateKeyPairSync('ed25519');
  if (algorithm === 'rsa-sha256') return generateKeyPairSync('rsa', { modulusLength: 2048 });
  return generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
}

export function publicPem(key: KeyObject): string {
  return key.export({ type: 'spki', format: 'pem' }).toString();
}

export function registryEntry(
  kid: string,
  algorithm: SignatureAlgorithm,
  publicKey: KeyObject,
  deployedAt = '2020-01-01T00:00:00Z',
  retiredAt: string | null = null,
): RegistryEntryJson {
  return { signer_kid: kid, algorithm, public_key_pem: publicPem(publicKey), deployedAt, retiredAt };
}
