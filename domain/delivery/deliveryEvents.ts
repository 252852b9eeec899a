/**
 * Events of an order's delivery (stream `delivery-<orderId>`, docs/DOMAIN.md
 * "Delivery"): the artifact encrypted for the buyer and stored (prepared),
 * the signed delivery proof over that record (proof_issued), each download
 * link handed to the buyer (link_issued), a preparation that failed (failed,
 * with its reason), and the revocation on refund (revoked).
 */
import { z } from 'zod';
import { idSchema, sha256Schema, textSchema, timestampSchema } from '../schemas.ts';

/** Buyer keys an artifact is encrypted to (docs/DOMAIN.md, "Delivery keys"). */
export const DELIVERY_KEY_TYPES = ['rsa', 'p256', 'x25519'] as const;
export type DeliveryKeyType = (typeof DELIVERY_KEY_TYPES)[number];
/** Where a marketplace-managed data key (Option B) comes from. */
export const MANAGED_KEY_ORIGINS = ['local', 'kms', 'pkcs11'] as const;
export type ManagedKeyOrigin = (typeof MANAGED_KEY_ORIGINS)[number];
/** Links handed out for one order: a buyer asking more often is refused (DELIVERY_LINK_LIMIT). */
export const MAX_DELIVERY_LINKS = 1000;
/**
 * Failures recorded for one order: past it a failure is still answered (and
 * counted in the metric) but not recorded, so a client retrying in a loop
 * cannot fill the stream and block the order's refund.
 */
export const MAX_RECORDED_DELIVERY_FAILURES = 100;
/** The key-management algorithm of the envelope's JWE, by how the content key is protected. */
export const ENVELOPE_ALGORITHMS = ['RSA-OAEP-256', 'ECDH-ES+A256KW', 'A256KW'] as const;

const base64urlSchema = z.string().regex(/^[A-Za-z0-9_-]{1,4096}$/);

/** Whose key the content key is wrapped to: the buyer's public key (Option A) or a managed data key (Option B). */
export const keyProvenanceSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('buyer-key'), keyType: z.enum(DELIVERY_KEY_TYPES), spkiSha256: sha256Schema }),
  z.strictObject({
    type: z.literal('managed-key'),
    /** The data key's id: what the buyer names when it fetches the key. */
    keyId: idSchema,
    origin: z.enum(MANAGED_KEY_ORIGINS),
    /** The key that wraps the data key in the key service (a KMS key id, a token label, a local key's fingerprint). */
    wrappingKeyId: textSchema,
    /** The data key, wrapped by that key: only the key service opens it. */
    wrappedKey: base64urlSchema,
  }),
]);
export type KeyProvenance = z.infer<typeof keyProvenanceSchema>;

export const deliveryPreparedSchema = z.strictObject({
  orderId: idSchema,
  /** Fresh per preparation: a delivery whose object expired is prepared again under a new id. */
  deliveryId: idSchema,
  buyerId: idSchema,
  manifestId: idSchema,
  artifactSha256: sha256Schema,
  artifactBytes: z.number().int().nonnegative(),
  /** Where the ciphertext is in the delivery store. */
  objectKey: z.string().min(1).max(512),
  ciphertextSha256: sha256Schema,
  ciphertextBytes: z.number().int().nonnegative(),
  /** The envelope format (docs/FORMAT.md section 11) and its JWE key-management algorithm; content A256GCM. */
  envelope: z.literal('CHAINBOOK-DELIVERY-1'),
  algorithm: z.enum(ENVELOPE_ALGORITHMS),
  keyProvenance: keyProvenanceSchema,
  /** The kernel signature over the manifest, checked again against the signer registry before encrypting. */
  manifestSignatureId: idSchema,
  /** A ledger proof covering the order's postings, issued in the same append. */
  ledgerProofId: idSchema,
});

export const deliveryProofIssuedSchema = z.strictObject({
  orderId: idSchema,
  deliveryId: idSchema,
  proofId: idSchema,
  kind: z.literal('delivery'),
  /** The `delivery.prepared` record the proof is over. */
  deliverySeq: z.number().int().positive(),
  deliveryHash: sha256Schema,
  signerKid: textSchema,
  alg: textSchema,
  signature: z.string().min(1).max(2048),
  /** SHA-256 of the proof's canonical_payload, hex. */
  payloadSha256: sha256Schema,
  /** The proof document's `ts`. */
  proofTs: timestampSchema,
});

export const deliveryLinkIssuedSchema = z.strictObject({
  orderId: idSchema,
  deliveryId: idSchema,
  linkId: idSchema,
  expiresAt: timestampSchema,
});

export const DELIVERY_FAILURE_CODES = [
  'artifact_missing',
  'artifact_changed',
  'manifest_signature_invalid',
  'key_service_unavailable',
  'storage_failed',
] as const;
export const deliveryFailedSchema = z.strictObject({
  orderId: idSchema,
  code: z.enum(DELIVERY_FAILURE_CODES),
  reason: textSchema,
});

export const deliveryRevokedSchema = z.strictObject({
  orderId: idSchema,
  deliveryId: idSchema,
  objectKey: z.string().min(1).max(512),
  reason: textSchema,
});

export type DeliveryPrepared = z.infer<typeof deliveryPreparedSchema>;
export type DeliveryProofIssued = z.infer<typeof deliveryProofIssuedSchema>;
export type DeliveryFailureCode = (typeof DELIVERY_FAILURE_CODES)[number];

export type DeliveryEvent =
  | { type: 'delivery.prepared'; data: DeliveryPrepared }
  | { type: 'delivery.proof_issued'; data: DeliveryProofIssued }
  | { type: 'delivery.link_issued'; data: z.infer<typeof deliveryLinkIssuedSchema> }
  | { type: 'delivery.failed'; data: z.infer<typeof deliveryFailedSchema> }
  | { type: 'delivery.revoked'; data: z.infer<typeof deliveryRevokedSchema> };

export const deliveryEventSchemas = {
  'delivery.prepared': deliveryPreparedSchema,
  'delivery.proof_issued': deliveryProofIssuedSchema,
  'delivery.link_issued': deliveryLinkIssuedSchema,
  'delivery.failed': deliveryFailedSchema,
  'delivery.revoked': deliveryRevokedSchema,
} as const;
