/** Events of a kernel upgrade under multisig governance (stream `upgrade-<upgradeId>`). */
import { z } from 'zod';
import { idSchema, sha256Schema, textSchema, timestampSchema } from '../schemas.ts';

/** Named approvers of one upgrade. */
export const MAX_UPGRADE_APPROVERS = 15;

export const upgradeProposedSchema = z.strictObject({
  upgradeId: idSchema,
  description: textSchema,
  /** SHA-256 of the upgrade payload (the artifact or change set being applied). */
  payloadSha256: sha256Schema,
  /** k of k-of-n. */
  threshold: z.number().int().positive().max(MAX_UPGRADE_APPROVERS),
  /** The n named approvers. */
  approvers: z.array(idSchema).min(1).max(MAX_UPGRADE_APPROVERS),
  proposedBy: idSchema,
  /** After this instant, approvals are refused and the upgrade may be marked expired. */
  expiresAt: timestampSchema,
});
export const upgradeApprovedSchema = z.strictObject({
  upgradeId: idSchema,
  approverId: idSchema,
  approvals: z.number().int().positive(),
});
export const upgradeAppliedSchema = z.strictObject({
  upgradeId: idSchema,
  payloadSha256: sha256Schema,
  approvers: z.array(idSchema),
});
export const upgradeRejectedSchema = z.strictObject({ upgradeId: idSchema, rejectedBy: idSchema, reason: textSchema });
export const upgradeExpiredSchema = z.strictObject({ upgradeId: idSchema, expiresAt: timestampSchema });

export type UpgradeProposed = z.infer<typeof upgradeProposedSchema>;

export type UpgradeEvent =
  | { type: 'upgrade.proposed'; data: UpgradeProposed }
  | { type: 'upgrade.approved'; data: z.infer<typeof upgradeApprovedSchema> }
  | { type: 'upgrade.applied'; data: z.infer<typeof upgradeAppliedSchema> }
  | { type: 'upgrade.rejected'; data: z.infer<typeof upgradeRejectedSchema> }
  | { type: 'upgrade.expired'; data: z.infer<typeof upgradeExpiredSchema> };

export const upgradeEventSchemas = {
  'upgrade.proposed': upgradeProposedSchema,
  'upgrade.approved': upgradeApprovedSchema,
  'upgrade.applied': upgradeAppliedSchema,
  'upgrade.rejected': upgradeRejectedSchema,
  'upgrade.expired': upgradeExpiredSchema,
} as const;
