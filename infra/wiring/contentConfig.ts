/**
 * Content inspection and the quarantine, from the environment (the README's
 * configuration table, "Content inspection"). With QUARANTINE_ENABLED=true the
 * service refuses to start without a well-formed ENCRYPTION_MASTER_KEY; a
 * malformed key is refused whether or not quarantine is on.
 */
import { z } from 'zod';
import { DEFAULT_MAX_CONCURRENT_UNPACKS, TIERS, type Tier } from '../../commands/content/inspector.ts';
import { DEFAULT_INSPECTION_MAX_BYTES } from '../../commands/content/screenContent.ts';
import { MAX_TEXT_RULES, type TextRules } from '../../commands/content/plugins/textRulesPlugin.ts';
import { parseMasterKey } from '../adapters/quarantine/quarantineVault.ts';
import { DEFAULT_ARCHIVE_LIMITS, type ArchiveLimits } from '../adapters/inspection/archiveWalk.ts';

export const INSPECTION_PLUGINS = ['content-type', 'secrets', 'yara', 'text-rules'] as const;
export type InspectionPluginName = (typeof INSPECTION_PLUGINS)[number];

export const DEFAULT_QUARANTINE_EXPIRY_HOURS = 72;
export const DEFAULT_QUARANTINE_LINK_TTL_SECONDS = 300;

export interface ContentConfig {
  /** INSPECTION_PLUGINS (default all four): which built-in plugins run; each applies to its own subjects. */
  plugins: InspectionPluginName[];
  /** INSPECTION_PLUGIN_TIMEOUT_MS (default 5000). */
  pluginTimeoutMs: number;
  /** INSPECTION_FAILURE_TIER (default QUARANTINE): a plugin that throws or times out. */
  failureTier: Tier;
  /** INSPECTION_MAX_BYTES (default 64 MiB): the beginning of an artifact the plugins see. */
  maxInspectedBytes: number;
  /** INSPECTION_PARTIAL_TIER (default QUARANTINE): an artifact larger than INSPECTION_MAX_BYTES. */
  partialTier: Tier;
  /** INSPECTION_CONTENT_TYPE_MISMATCH_TIER (default QUARANTINE). */
  contentTypeMismatchTier: Tier;
  /** INSPECTION_EXECUTABLE_TIER (default QUARANTINE): an executable (ELF, PE, Mach-O) not declared as one. */
  executableTier: Tier;
  /** INSPECTION_SECRETS_TIER (default BLOCK). */
  secretsTier: Tier;
  /**
   * The archive walk's bounds and tiers: INSPECTION_ARCHIVE_MAX_DEPTH (4), INSPECTION_ARCHIVE_MAX_MEMBERS
   * (10000), INSPECTION_ARCHIVE_MAX_BYTES (256 MiB), INSPECTION_ARCHIVE_MAX_RATIO (200),
   * INSPECTION_ARCHIVE_LIMIT_TIER and INSPECTION_ARCHIVE_ENCRYPTED_TIER (QUARANTINE).
   */
  archive: ArchiveLimits;
  /** INSPECTION_ARCHIVE_CONCURRENCY (2): archive walks at once, each holding up to INSPECTION_ARCHIVE_MAX_BYTES. */
  archiveConcurrency: number;
  /** INSPECTION_YARA_RULES (default the repository's rules), YARA_PATH (default `yara`), INSPECTION_YARA_DEFAULT_TIER (BLOCK). */
  yara: { rulesPath: string | undefined; command: string; defaultTier: Tier };
  /** CONTENT_BLOCKED_DOMAINS, CONTENT_BLOCKED_WORDS, CONTENT_QUARANTINE_WORDS (comma-separated). */
  textRules: TextRules;
  quarantine: {
    /** QUARANTINE_ENABLED (default false): off, QUARANTINE falls back to BLOCK. */
    enabled: boolean;
    /** ENCRYPTION_MASTER_KEY (base64 of 32 bytes): set when enabled. */
    masterKey: Buffer | undefined;
    /** ENCRYPTION_MASTER_KEY_PREVIOUS: during a rotation only, the key data keys may still be wrapped under. */
    previousMasterKey: Buffer | undefined;
    /** QUARANTINE_EXPIRY_HOURS (default 72). */
    expiryHours: number;
    /** QUARANTINE_S3_BUCKET: the bucket (with the S3 settings of the archive); else `<data dir>/quarantine`. */
    s3Bucket: string | undefined;
    folder: string;
    /** QUARANTINE_LINK_TTL_SECONDS (default 300): how long a moderator's view link works. */
    linkTtlSeconds: number;
  };
}

const optional = z
  .string()
  .optional()
  .transform((value) => (value === undefined || value.trim() === '' ? undefined : value.trim()));
const tier = optional.refine((value) => value === undefined || (TIERS as readonly string[]).includes(value), {
  message: `must be one of ${TIERS.join(', ')}`,
});
function integer(minimum: number, maximum: number) {
  return optional.refine(
    (value) => value === undefined || (/^\d+$/.test(value) && Number(value) >= minimum && Number(value) <= maximum),
    { message: `must be an integer from ${minimum} to ${maximum}` },
  );
}
const list = optional.refine(
  (value) => value === undefined || value.split(',').filter((entry) => entry.trim() !== '').length <= MAX_TEXT_RULES,
  { message: `at most ${MAX_TEXT_RULES} entries` },
);

export const contentSchema = z.object({
  INSPECTION_PLUGINS: optional.refine(
    (value) =>
      value === undefined ||
      value.split(',').every((name) => (INSPECTION_PLUGINS as readonly string[]).includes(name.trim())),
    { message: `must be names from ${INSPECTION_PLUGINS.join(', ')}, separated by commas` },
  ),
  INSPECTION_PLUGIN_TIMEOUT_MS: integer(10, 600_000),
  INSPECTION_FAILURE_TIER: tier,
  INSPECTION_MAX_BYTES: integer(1024, 1024 ** 3),
  INSPECTION_PARTIAL_TIER: tier,
  INSPECTION_CONTENT_TYPE_MISMATCH_TIER: tier,
  INSPECTION_SECRETS_TIER: tier,
  INSPECTION_EXECUTABLE_TIER: tier,
  INSPECTION_ARCHIVE_MAX_DEPTH: integer(1, 16),
  INSPECTION_ARCHIVE_MAX_MEMBERS: integer(1, 1_000_000),
  INSPECTION_ARCHIVE_MAX_BYTES: integer(1024 ** 2, 4 * 1024 ** 3),
  INSPECTION_ARCHIVE_MAX_RATIO: integer(2, 1_000_000),
  INSPECTION_ARCHIVE_CONCURRENCY: integer(1, 64),
  INSPECTION_ARCHIVE_LIMIT_TIER: tier,
  INSPECTION_ARCHIVE_ENCRYPTED_TIER: tier,
  INSPECTION_YARA_RULES: optional,
  INSPECTION_YARA_DEFAULT_TIER: tier,
  YARA_PATH: optional,
  CONTENT_BLOCKED_DOMAINS: list,
  CONTENT_BLOCKED_WORDS: list,
  CONTENT_QUARANTINE_WORDS: list,
  QUARANTINE_ENABLED: optional.refine((value) => value === undefined || /^(true|false|1|0)$/.test(value), {
    message: 'must be true or false',
  }),
  // The value is never repeated in a message.
  ENCRYPTION_MASTER_KEY: optional.refine((value) => value === undefined || parseMasterKey(value) !== undefined, {
    message:
      "must be base64 of exactly 32 bytes (node -e \"console.log(require('crypto').randomBytes(32).toString('base64'))\")",
  }),
  ENCRYPTION_MASTER_KEY_PREVIOUS: optional.refine(
    (value) => value === undefined || parseMasterKey(value) !== undefined,
    {
      message: 'must be base64 of exactly 32 bytes (the master key being rotated out)',
    },
  ),
  QUARANTINE_EXPIRY_HOURS: integer(1, 24 * 365),
  QUARANTINE_S3_BUCKET: optional.refine(
    (value) => value === undefined || /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(value),
    { message: 'must be an S3 bucket name' },
  ),
  QUARANTINE_LINK_TTL_SECONDS: integer(10, 3600),
});
export type ContentValues = z.infer<typeof contentSchema>;

export function contentProblems(values: ContentValues): string[] {
  const enabled = values.QUARANTINE_ENABLED === 'true' || values.QUARANTINE_ENABLED === '1';
  if (enabled && values.ENCRYPTION_MASTER_KEY === undefined)
    return ['ENCRYPTION_MASTER_KEY: required when QUARANTINE_ENABLED=true (base64 of 32 bytes)'];
  const previous = values.ENCRYPTION_MASTER_KEY_PREVIOUS;
  if (previous === undefined) return [];
  // Accepted during a rotation only: beside a new, different master key, with the quarantine on.
  if (!enabled || values.ENCRYPTION_MASTER_KEY === undefined)
    return [
      'ENCRYPTION_MASTER_KEY_PREVIOUS: only during a rotation, with QUARANTINE_ENABLED=true and a new ENCRYPTION_MASTER_KEY',
    ];
  if (parseMasterKey(previous)!.equals(parseMasterKey(values.ENCRYPTION_MASTER_KEY)!))
    return [
      'ENCRYPTION_MASTER_KEY_PREVIOUS: is ENCRYPTION_MASTER_KEY itself; set the new key as ENCRYPTION_MASTER_KEY',
    ];
  return [];
}

function entries(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
}

export function contentConfig(values: ContentValues, dataDir: string): ContentConfig {
  const enabled = values.QUARANTINE_ENABLED === 'true' || values.QUARANTINE_ENABLED === '1';
  const number = (value: string | undefined, fallback: number) => (value === undefined ? fallback : Number(value));
  return {
    plugins: values.INSPECTION_PLUGINS
      ? (entries(values.INSPECTION_PLUGINS) as InspectionPluginName[])
      : [...INSPECTION_PLUGINS],
    pluginTimeoutMs: number(values.INSPECTION_PLUGIN_TIMEOUT_MS, 5000),
    failureTier: (values.INSPECTION_FAILURE_TIER as Tier | undefined) ?? 'QUARANTINE',
    maxInspectedBytes: number(values.INSPECTION_MAX_BYTES, DEFAULT_INSPECTION_MAX_BYTES),
    partialTier: (values.INSPECTION_PARTIAL_TIER as Tier | undefined) ?? 'QUARANTINE',
    contentTypeMismatchTier: (values.INSPECTION_CONTENT_TYPE_MISMATCH_TIER as Tier | undefined) ?? 'QUARANTINE',
    executableTier: (values.INSPECTION_EXECUTABLE_TIER as Tier | undefined) ?? 'QUARANTINE',
    secretsTier: (values.INSPECTION_SECRETS_TIER as Tier | undefined) ?? 'BLOCK',
    archive: {
      maxDepth: number(values.INSPECTION_ARCHIVE_MAX_DEPTH, DEFAULT_ARCHIVE_LIMITS.maxDepth),
      maxMembers: number(values.INSPECTION_ARCHIVE_MAX_MEMBERS, DEFAULT_ARCHIVE_LIMITS.maxMembers),
      maxUnpackedBytes: number(values.INSPECTION_ARCHIVE_MAX_BYTES, DEFAULT_ARCHIVE_LIMITS.maxUnpackedBytes),
      maxRatio: number(values.INSPECTION_ARCHIVE_MAX_RATIO, DEFAULT_ARCHIVE_LIMITS.maxRatio),
      limitTier: (values.INSPECTION_ARCHIVE_LIMIT_TIER as Tier | undefined) ?? DEFAULT_ARCHIVE_LIMITS.limitTier,
      encryptedTier:
        (values.INSPECTION_ARCHIVE_ENCRYPTED_TIER as Tier | undefined) ?? DEFAULT_ARCHIVE_LIMITS.encryptedTier,
    },
    archiveConcurrency: number(values.INSPECTION_ARCHIVE_CONCURRENCY, DEFAULT_MAX_CONCURRENT_UNPACKS),
    yara: {
      rulesPath: values.INSPECTION_YARA_RULES,
      command: values.YARA_PATH ?? 'yara',
      defaultTier: (values.INSPECTION_YARA_DEFAULT_TIER as Tier | undefined) ?? 'BLOCK',
    },
    textRules: {
      blockedDomains: entries(values.CONTENT_BLOCKED_DOMAINS),
      blockedWords: entries(values.CONTENT_BLOCKED_WORDS),
      quarantineWords: entries(values.CONTENT_QUARANTINE_WORDS),
    },
    quarantine: {
      enabled,
      masterKey: enabled ? parseMasterKey(values.ENCRYPTION_MASTER_KEY) : undefined,
      previousMasterKey: enabled ? parseMasterKey(values.ENCRYPTION_MASTER_KEY_PREVIOUS) : undefined,
      expiryHours: number(values.QUARANTINE_EXPIRY_HOURS, DEFAULT_QUARANTINE_EXPIRY_HOURS),
      s3Bucket: values.QUARANTINE_S3_BUCKET,
      folder: `${dataDir}/quarantine`,
      linkTtlSeconds: number(values.QUARANTINE_LINK_TTL_SECONDS, DEFAULT_QUARANTINE_LINK_TTL_SECONDS),
    },
  };
}
