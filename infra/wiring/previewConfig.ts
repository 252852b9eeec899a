/**
 * The preview sandbox's configuration: PREVIEW_SANDBOX_POOL_CONFIG, one JSON object (docs/PREVIEWS.md,
 * "Configuration"; the README's configuration table). Every member is optional, bounded, and unknown
 * members are refused, so that a misspelt limit is an error at start rather than a default in silence.
 */
import { join, resolve } from 'node:path';
import { z } from 'zod';
import type { PreviewPoolConfig } from '../adapters/sandbox/previewPool.ts';

export interface PreviewConfig {
  pool: PreviewPoolConfig;
  /** How long a run's output and log are kept for the buyer in the object store, in seconds. */
  logRetentionSeconds: number;
}

const MIB = 1024 * 1024;
export const PREVIEW_POOL_DEFAULTS = {
  size: 2,
  queueLength: 8,
  ttlSeconds: 30,
  cpuTimeSeconds: 10,
  memoryBytes: 256 * MIB,
  processCount: 64,
  openFileCount: 128,
  outputBytes: MIB,
  maxEntries: 10_000,
  maxUnpackedBytes: 256 * MIB,
  maxPathBytes: 255,
  maxPathDepth: 32,
  // Far above the subordinate ranges useradd allocates (SUB_UID_MIN 100000 up to SUB_UID_MAX
  // 600100000) and any login user, below 2^31 (what every tool takes as a uid).
  uidBase: 2_000_000_000,
  retryAfterSeconds: 5,
  maxPerBuyer: 2,
  logRetentionSeconds: 7 * 86_400,
} as const;

const bounded = (minimum: number, maximum: number) => z.number().int().min(minimum).max(maximum).optional();

const poolSchema = z.strictObject({
  size: bounded(1, 256),
  queueLength: bounded(0, 10_000),
  ttlSeconds: bounded(1, 3600),
  maxLimits: z
    .strictObject({
      cpuTimeSeconds: bounded(1, 3600),
      memoryBytes: bounded(16 * MIB, 64 * 1024 * MIB),
      processCount: bounded(1, 4096),
      openFileCount: bounded(16, 65_536),
      outputBytes: bounded(1, 1024 * MIB),
    })
    .optional(),
  archive: z
    .strictObject({
      maxEntries: bounded(1, 1_000_000),
      maxUnpackedBytes: bounded(1, 16 * 1024 * MIB),
      maxPathBytes: bounded(1, 4096),
      maxPathDepth: bounded(1, 256),
    })
    .optional(),
  workspace: z.string().min(1).max(1024).optional(),
  uidBase: bounded(1000, 2 ** 31 - 1 - 256),
  retryAfterSeconds: bounded(1, 3600),
  allowUnprivileged: z.boolean().optional(),
  maxPerBuyer: bounded(1, 256),
  logRetentionSeconds: bounded(60, 366 * 86_400),
});

/** The problem with the variable's text, or the configuration it gives. */
export function parsePreviewConfig(text: string | undefined, dataDir: string): PreviewConfig | string {
  let json: unknown = {};
  if (text !== undefined && text.trim() !== '') {
    try {
      json = JSON.parse(text);
    } catch {
      return 'PREVIEW_SANDBOX_POOL_CONFIG: must be a JSON object';
    }
  }
  const parsed = poolSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return `PREVIEW_SANDBOX_POOL_CONFIG: ${issue?.path.join('.') ?? ''} ${issue?.message ?? 'is not valid'}`.trim();
  }
  const value = parsed.data;
  const defaults = PREVIEW_POOL_DEFAULTS;
  return {
    pool: {
      size: value.size ?? defaults.size,
      queueLength: value.queueLength ?? defaults.queueLength,
      maxLimits: {
        cpuTimeSeconds: value.maxLimits?.cpuTimeSeconds ?? defaults.cpuTimeSeconds,
        memoryBytes: value.maxLimits?.memoryBytes ?? defaults.memoryBytes,
        processCount: value.maxLimits?.processCount ?? defaults.processCount,
        openFileCount: value.maxLimits?.openFileCount ?? defaults.openFileCount,
        outputBytes: value.maxLimits?.outputBytes ?? defaults.outputBytes,
        wallClockMs: (value.ttlSeconds ?? defaults.ttlSeconds) * 1000,
      },
      archive: {
        maxEntries: value.archive?.maxEntries ?? defaults.maxEntries,
        maxUnpackedBytes: value.archive?.maxUnpackedBytes ?? defaults.maxUnpackedBytes,
        maxPathBytes: value.archive?.maxPathBytes ?? defaults.maxPathBytes,
        maxPathDepth: value.archive?.maxPathDepth ?? defaults.maxPathDepth,
      },
      // In the data folder by default, the service's own (never a guessable path in a folder anyone may
      // write in); the runs' uids cross the data folder (0711) to it and see nothing else there.
      workspace: resolve(value.workspace ?? join(resolve(dataDir), 'previews')),
      uidBase: value.uidBase ?? defaults.uidBase,
      retryAfterSeconds: value.retryAfterSeconds ?? defaults.retryAfterSeconds,
      allowUnprivileged: value.allowUnprivileged ?? false,
      maxPerBuyer: value.maxPerBuyer ?? defaults.maxPerBuyer,
    },
    logRetentionSeconds: value.logRetentionSeconds ?? defaults.logRetentionSeconds,
  };
}
