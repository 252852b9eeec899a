/**
 * Events of one preview run (stream `preview-<previewId>`, docs/DOMAIN.md, "Previews"): a buyer's run
 * of the program a listed manifest declares, in the preview sandbox (docs/PREVIEWS.md). `preview.started`
 * is recorded before the run begins, so that no run happens without its record; the run ends in
 * `preview.exited` (it exited, was cut at its output bound, or was killed by a drain or a shutdown) or
 * `preview.expired` (its TTL was reached and its whole tree killed).
 */
import { z } from 'zod';
import { idSchema, sha256Schema } from '../schemas.ts';

/** Arguments a preview passes its program, and the bytes of each. */
export const MAX_PREVIEW_ARGS = 32;
export const MAX_PREVIEW_ARG_BYTES = 1024;
/** A path inside the artifact: plain names joined by `/` (docs/PREVIEWS.md, "The artifact"); `.` and `..` are refused beside it. */
export const PREVIEW_ENTRY_POINT_PATTERN = /^[A-Za-z0-9._+-]+(?:\/[A-Za-z0-9._+-]+){0,31}$/;

/** The entry point: the pattern (which the OpenAPI document shows), and no `.` or `..` name. */
const entryPointSchema = z
  .string()
  .max(255)
  .regex(PREVIEW_ENTRY_POINT_PATTERN)
  .refine((path) => path.split('/').every((name) => name !== '.' && name !== '..'), {
    message: 'a path of plain names: no . or ..',
  });

const count = z
  .number()
  .int()
  .positive()
  .max(2 ** 52);

/** The limits of one run; each within the operator's maximums (PREVIEW_SANDBOX_POOL_CONFIG). */
export const previewLimitsSchema = z.strictObject({
  cpuTimeSeconds: count,
  memoryBytes: count,
  processCount: count,
  openFileCount: count,
  outputBytes: count,
  wallClockMs: count,
});
export type PreviewLimits = z.infer<typeof previewLimitsSchema>;

/** What a manifest may declare: the program, its arguments, and the limits it asks for (each optional: the operator's maximum). */
export const previewDeclarationSchema = z.strictObject({
  entryPoint: entryPointSchema,
  args: z.array(z.string().max(MAX_PREVIEW_ARG_BYTES)).max(MAX_PREVIEW_ARGS),
  limits: previewLimitsSchema.partial(),
});
export type PreviewDeclaration = z.infer<typeof previewDeclarationSchema>;

export const previewStartedSchema = z.strictObject({
  previewId: idSchema,
  listingId: idSchema,
  manifestId: idSchema,
  buyerId: idSchema,
  artifactSha256: sha256Schema,
  entryPoint: entryPointSchema,
  args: z.array(z.string().max(MAX_PREVIEW_ARG_BYTES)).max(MAX_PREVIEW_ARGS),
  /** Passed to the program as PREVIEW_SEED: the same seed, artifact and arguments give the same output. */
  seed: z.string().min(1).max(128),
  limits: previewLimitsSchema,
  /** Which sandbox ran it: host and sandbox kind, for the operator. */
  runner: z.string().min(1).max(200),
});

const outputShape = {
  previewId: idSchema,
  durationMs: z
    .number()
    .int()
    .nonnegative()
    .max(2 ** 52),
  outputSha256: sha256Schema,
  outputSizeBytes: z
    .number()
    .int()
    .nonnegative()
    .max(2 ** 52),
};

export const previewExitedSchema = z.strictObject({
  ...outputShape,
  /** The exit code, or null when a signal ended it. */
  exitCode: z.number().int().min(0).max(255).nullable(),
  signal: z.string().max(16).nullable(),
  /** The output reached its bound: the run was cut there. */
  truncated: z.boolean(),
  /** Killed by a drain of the pool or a shutdown, not by its own limits. */
  killed: z.boolean(),
  /** Killed by its memory cgroup's OOM killer: it reached memoryBytes of resident memory. */
  memoryExceeded: z.boolean(),
});

export const previewExpiredSchema = z.strictObject({
  ...outputShape,
  ttlMs: z
    .number()
    .int()
    .positive()
    .max(2 ** 52),
});

export type PreviewStarted = z.infer<typeof previewStartedSchema>;
export type PreviewExited = z.infer<typeof previewExitedSchema>;
export type PreviewExpired = z.infer<typeof previewExpiredSchema>;

export type PreviewEvent =
  | { type: 'preview.started'; data: PreviewStarted }
  | { type: 'preview.exited'; data: PreviewExited }
  | { type: 'preview.expired'; data: PreviewExpired };

export const previewEventSchemas = {
  'preview.started': previewStartedSchema,
  'preview.exited': previewExitedSchema,
  'preview.expired': previewExpiredSchema,
} as const;
