/**
 * Events of content inspection and moderation (stream `content-<inspectionId>`,
 * one per inspected submission: docs/DOMAIN.md, "Content inspection"). The
 * decision records carry the tier, the labels and each plugin's result, never
 * the content: a quarantined copy is kept encrypted outside the chain
 * (`quarantine_records`), and the chain only names it by inspection id.
 */
import { z } from 'zod';
import { idSchema, textSchema } from '../schemas.ts';

export const CONTENT_TIERS = ['CLEAR', 'QUARANTINE', 'BLOCK'] as const;
export const CONTENT_SUBJECTS = ['manifest', 'listing', 'artifact'] as const;
/** Plugin results one decision records (docs/STYLE.md rule 7). */
export const MAX_PLUGIN_RESULTS = 32;

const labelSchema = z.string().regex(/^[a-z0-9][a-z0-9._:-]{0,79}$/);

export const pluginResultSchema = z.strictObject({
  plugin: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/),
  outcome: z.enum(['ok', 'timeout', 'error']),
  tier: z.enum(CONTENT_TIERS),
  labels: z.array(labelSchema).max(32),
  reason: z.string().min(1).max(500).optional(),
  durationMs: z.number().int().nonnegative(),
});

export const contentDecisionSchema = z.strictObject({
  inspectionId: idSchema,
  subject: z.enum(CONTENT_SUBJECTS),
  /** The manifest or listing the content was submitted for. */
  subjectId: idSchema,
  publisherId: idSchema,
  /** Who submitted it (the record's actor): the publisher, or an admin writing listing text for them. Never its moderator. */
  submittedBy: idSchema,
  /** The declared type and the size of what was inspected (not the content). */
  contentType: z.string().min(1).max(255),
  sizeBytes: z.number().int().nonnegative(),
  tier: z.enum(CONTENT_TIERS),
  labels: z.array(labelSchema).max(MAX_PLUGIN_RESULTS * 32),
  pluginResults: z.array(pluginResultSchema).max(MAX_PLUGIN_RESULTS + 2),
  /** content.blocked only: the inspection said QUARANTINE but quarantine is off (QUARANTINE_ENABLED=false). */
  quarantineDisabled: z.literal(true).optional(),
  /** content.quarantined only: when the expiry job shreds it. */
  expiresAt: z.iso.datetime({ offset: false, precision: 3 }).optional(),
});
export type ContentDecision = z.infer<typeof contentDecisionSchema>;

export const contentModeratedSchema = z.strictObject({
  inspectionId: idSchema,
  moderatorId: idSchema,
  reason: textSchema,
});
export const contentExpiredSchema = z.strictObject({
  inspectionId: idSchema,
  /** The object and its wrapped data key were deleted: the content cannot be recovered. */
  shredded: z.literal(true),
});

export type ContentEvent =
  | { type: 'content.passed'; data: ContentDecision }
  | { type: 'content.quarantined'; data: ContentDecision }
  | { type: 'content.blocked'; data: ContentDecision }
  | { type: 'content.released'; data: z.infer<typeof contentModeratedSchema> }
  | { type: 'content.deleted'; data: z.infer<typeof contentModeratedSchema> }
  | { type: 'content.expired'; data: z.infer<typeof contentExpiredSchema> };

export const contentEventSchemas = {
  'content.passed': contentDecisionSchema,
  'content.quarantined': contentDecisionSchema,
  'content.blocked': contentDecisionSchema,
  'content.released': contentModeratedSchema,
  'content.deleted': contentModeratedSchema,
  'content.expired': contentExpiredSchema,
} as const;
