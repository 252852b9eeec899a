/**
 * What a buyer's delivery key is, and whether the artifact can be encrypted
 * to it (docs/DOMAIN.md, "Delivery keys"): an RSA key of 2048 to 8192 bits
 * (JWE `RSA-OAEP-256`), a P-256 key or an X25519 key (JWE `ECDH-ES+A256KW`).
 * A signing-only key (Ed25519, RSA-PSS), a short RSA key or another curve is
 * refused at checkout, before anything is appended: a key the artifact cannot
 * be encrypted to would make a paid order undeliverable.
 */
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import type { DeliveryKeyType } from '../../domain/delivery/deliveryEvents.ts';
import { CodedError } from '../../domain/errors.ts';
import { MAX_PUBLIC_KEY_LENGTH } from '../../domain/orders/orderEvents.ts';

/** RSA moduli accepted, in bits: below 2048 is breakable, above 8192 only costs time. */
export const MIN_RSA_DELIVERY_KEY_BITS = 2048;
export const MAX_RSA_DELIVERY_KEY_BITS = 8192;

/** The JWE key-management algorithm for each key type (content is always A256GCM). */
export const KEY_MANAGEMENT_ALGORITHM: Record<DeliveryKeyType, 'RSA-OAEP-256' | 'ECDH-ES+A256KW'> = {
  rsa: 'RSA-OAEP-256',
  p256: 'ECDH-ES+A256KW',
  x25519: 'ECDH-ES+A256KW',
};

export interface DeliveryKey {
  keyType: DeliveryKeyType;
  key: KeyObject;
  /** SHA-256 of the key's DER SPKI, hex: the key's provenance in delivery records and proofs. */
  spkiSha256: string;
}

function refuse(reason: string, details: Record<string, unknown>): never {
  throw new CodedError(
    'DELIVERY_KEY_NOT_FOR_ENCRYPTION',
    `deliveryPublicKey cannot receive an encrypted delivery: ${reason} (accepted: RSA of ${MIN_RSA_DELIVERY_KEY_BITS} to ${MAX_RSA_DELIVERY_KEY_BITS} bits, P-256, X25519)`,
    { ...details, accepted: ['rsa>=2048', 'p256', 'x25519'] },
  );
}

function keyTypeOf(key: KeyObject): DeliveryKeyType {
  const type = key.asymmetricKeyType;
  const details = key.asymmetricKeyDetails ?? {};
  if (type === 'x25519') return 'x25519';
  if (type === 'ec') {
    if (details.namedCurve === 'prime256v1') return 'p256';
    return refuse(`the curve ${details.namedCurve ?? 'unknown'} is not P-256`, {
      keyType: 'ec',
      curve: details.namedCurve,
    });
  }
  if (type === 'rsa') {
    const bits = details.modulusLength ?? 0;
    if (bits >= MIN_RSA_DELIVERY_KEY_BITS && bits <= MAX_RSA_DELIVERY_KEY_BITS) return 'rsa';
    return refuse(`an RSA key of ${bits} bits`, { keyType: 'rsa', modulusBits: bits });
  }
  return refuse(`a ${type ?? 'unknown'} key is not an encryption key`, { keyType: type });
}

/**
 * Keys parsed lately, by PEM text: a checkout's key is read by the route's
 * input check, the handler's and deliveryKeyOf, and a buyer keeps using
 * the same key, while parsing one costs more than the rest of the request's
 * checks together. A parsed key never changes; the oldest goes first.
 */
const PARSED_KEYS_MAX_ENTRIES = 1000;
const parsedKeys = new Map<string, KeyObject | undefined>();

/**
 * The public key of a PEM text, or undefined when it does not parse as one.
 * A text longer than a delivery key may be is parsed but not kept: the
 * checkout schema checks the key even when its length check failed, and
 * 1,000 texts of a request body each would be a cache of a gigabyte.
 */
export function parsedPublicKey(pem: string): KeyObject | undefined {
  if (parsedKeys.has(pem)) return parsedKeys.get(pem);
  let key: KeyObject | undefined;
  try {
    key = createPublicKey({ key: pem, format: 'pem' });
  } catch {
    key = undefined;
  }
  if (pem.length > MAX_PUBLIC_KEY_LENGTH) return key;
  if (parsedKeys.size >= PARSED_KEYS_MAX_ENTRIES) parsedKeys.delete(parsedKeys.keys().next().value!);
  parsedKeys.set(pem, key);
  return key;
}

const deliveryKeys = new Map<string, DeliveryKey>();

/** The delivery key of an SPKI PEM; throws DELIVERY_KEY_NOT_FOR_ENCRYPTION for a key the artifact cannot be encrypted to. */
export function deliveryKeyOf(pem: string): DeliveryKey {
  const known = deliveryKeys.get(pem);
  if (known) return known;
  // Parsed again when not a key (createPublicKey's own error, as before), and never kept then.
  const key = parsedPublicKey(pem) ?? createPublicKey({ key: pem, format: 'pem' });
  const spki = key.export({ type: 'spki', format: 'der' });
  const parsed = Object.freeze({
    keyType: keyTypeOf(key),
    key,
    spkiSha256: createHash('sha256').update(spki).digest('hex'),
  });
  if (pem.length > MAX_PUBLIC_KEY_LENGTH) return parsed;
  if (deliveryKeys.size >= PARSED_KEYS_MAX_ENTRIES) deliveryKeys.delete(deliveryKeys.keys().next().value!);
  deliveryKeys.set(pem, parsed);
  return parsed;
}
