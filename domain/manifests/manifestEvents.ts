/**
 * Events of a kernel manifest (stream `manifest-<manifestId>`) and the schemas
 * their `data` has on the chain. The data of `manifest.submitted` is the
 * manifest document itself: its JCS hash is what the kernel signs.
 */
import { z } from 'zod';
import { previewDeclarationSchema } from '../previews/previewEvents.ts';
import { amountSchema, currencySchema, idSchema, sha256Schema, textSchema } from '../schemas.ts';

/** Parties in one royalty split. */
export const MAX_ROYALTY_PARTIES = 20;
/** Artifact size bound: 64 GiB. */
export const MAX_ARTIFACT_BYTES = 64 * 1024 ** 3;

export const royaltySplitSchema = z.strictObject({
  partyId: idSchema,
  basisPoints: z.number().int().positive().max(10_000),
});
export type RoyaltySplit = z.infer<typeof royaltySplitSchema>;

export const manifestDocumentSchema = z.strictObject({
  manifestId: idSchema,
  publisherId: idSchema,
  name: textSchema,
  version: z.string().min(1).max(64),
  artifactSha256: sha256Schema,
  sizeBytes: z.number().int().positive().max(MAX_ARTIFACT_BYTES),
  priceMinor: amountSchema,
  currency: currencySchema,
  royaltySplits: z.array(royaltySplitSchema).min(1).max(MAX_ROYALTY_PARTIES),
  /** A program in the artifact a buyer may run in the preview sandbox before buying (docs/PREVIEWS.md); absent: no preview. */
  preview: previewDeclarationSchema.optional(),
});
export type ManifestDocument = z.infer<typeof manifestDocumentSchema>;

/** A signature as the chain records it (docs/FORMAT.md section 1 `sig`). */
export const signatureSchema = z.strictObject({
  kid: z.string().min(1).max(128),
  alg: z.string().min(1).max(32),
  value: z.string().min(1).max(2048),
});
export type KernelSignature = z.infer<typeof signatureSchema>;

export const manifestApprovedSchema = z.strictObject({
  manifestId: idSchema,
  /** SHA-256 of JCS(manifest document), hex. */
  manifestSha256: sha256Schema,
  /** The id later steps (listings, orders, deliveries) cite. */
  manifestSignatureId: idSchema,
  approvedBy: idSchema,
  /** The kernel signer's signature over the 32 bytes of manifestSha256. */
  signature: signatureSchema,
});

/** Keys in the artifact store: `artifacts/<manifestId>/<upload id>`, one per upload, so uploads never share an object. */
export const artifactObjectKeySchema = z
  .string()
  .max(256)
  .regex(/^artifacts\/[A-Za-z0-9._:-]+\/[A-Za-z0-9._-]+$/);

/** The publisher's upload, checked against the document: the bytes are in the artifact store under objectKey. */
export const manifestArtifactStoredSchema = z.strictObject({
  manifestId: idSchema,
  artifactSha256: sha256Schema,
  sizeBytes: z.number().int().positive().max(MAX_ARTIFACT_BYTES),
  objectKey: artifactObjectKeySchema,
  storedBy: idSchema,
});
export type ManifestArtifactStored = z.infer<typeof manifestArtifactStoredSchema>;

export const manifestRejectedSchema = z.strictObject({
  manifestId: idSchema,
  rejectedBy: idSchema,
  reason: textSchema,
});

export type ManifestEvent =
  | { type: 'manifest.submitted'; data: ManifestDocument }
  | { type: 'manifest.artifact_stored'; data: ManifestArtifactStored }
  | { type: 'manifest.approved'; data: z.infer<typeof manifestApprovedSchema> }
  | { type: 'manifest.rejected'; data: z.infer<typeof manifestRejectedSchema> };

export const manifestEventSchemas = {
  'manifest.submitted': manifestDocumentSchema,
  'manifest.artifact_stored': manifestArtifactStoredSchema,
  'manifest.approved': manifestApprovedSchema,
  'manifest.rejected': manifestRejectedSchema,
} as const;
