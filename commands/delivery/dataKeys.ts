/**
 * Option B of delivery (docs/DOMAIN.md, "Delivery"): for a buyer without a
 * key pair, the marketplace encrypts to a fresh 256-bit data key per order,
 * made by the configured key service, and releases it to the buyer only over
 * the authenticated delivery route. The chain records the key's id, its
 * origin, the wrapping key's id and the data key wrapped by the service, so
 * a restored database can still release it, and nobody without the key
 * service can.
 *
 * Implementations: infra/adapters/keys/ (a local wrapping key on the
 * embedded default; KMS GenerateDataKey; a PKCS#11 token).
 */
import type { ManagedKeyOrigin } from '../../domain/delivery/deliveryEvents.ts';

export interface GeneratedDataKey {
  /** The 32-byte AES key: used once to encrypt, then dropped. */
  plaintext: Buffer;
  /** The same key wrapped by the service, bound to the order: recorded in the chain. */
  wrapped: Buffer;
}

export interface DataKeyService {
  readonly origin: ManagedKeyOrigin;
  /** The key that wraps data keys (a KMS key id or ARN, a token key's label, a local key's fingerprint). */
  readonly wrappingKeyId: string;
  /** A fresh data key for this order; the wrapping binds the order id (KMS encryption context, AEAD additional data). */
  generate(orderId: string): Promise<GeneratedDataKey>;
  /**
   * The data key back from its wrapped form, for this order and wrapping
   * key; throws DELIVERY_KEY_UNAVAILABLE when the service cannot (another
   * order's key, a key wrapped elsewhere, the service down).
   */
  unwrap(orderId: string, wrapped: Buffer, wrappingKeyId: string): Promise<Buffer>;
}

/** The 32-byte data keys every service makes (AES-256, the JWE's A256KW key). */
export const DATA_KEY_BYTES = 32;
