/**
 * Configuration from the environment, validated at start with one message per
 * bad variable, naming it. The README's configuration table lists them all.
 */
import { accessSync, constants } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { CodedError } from '../../domain/errors.ts';
import { CHAIN_NAME_PATTERN } from '../../chain/record.ts';
import { DEFAULT_BREAKER } from '../adapters/signers/resilience.ts';
import { isSignatureAlgorithm, SIGNATURE_ALGORITHMS, type SignatureAlgorithm } from '../../chain/signature.ts';
import { DEFAULT_RETENTION_DAYS } from '../../archive/limits.ts';
import { LABEL_PATTERN } from '../../archive/manifest.ts';
import { DEFAULT_ARTIFACT_MAX_BYTES } from '../../commands/manifests/uploadArtifact.ts';
import { MAX_ARTIFACT_BYTES } from '../../domain/manifests/manifestEvents.ts';
import { MAX_AMOUNT_MINOR } from '../../domain/money.ts';
import { ID_PATTERN } from '../../domain/ids.ts';
import { DEFAULT_PAYOUT_MINIMUM_MINOR } from '../../commands/payouts/runPayouts.ts';
import { parsePreviewConfig, type PreviewConfig } from './previewConfig.ts';
import {
  parseQuorum,
  parseWitnessEndpoints,
  parseWitnessLogs,
  witnessNameProblems,
  type WitnessEndpoint,
  type WitnessServiceConfig,
} from './witnessConfig.ts';
import { contentConfig, contentProblems, contentSchema, type ContentConfig } from './contentConfig.ts';

export const SIGNING_BACKENDS = ['local', 'kms', 'pkcs11', 'proxy', 'breakglass'] as const;
export type SigningBackend = (typeof SIGNING_BACKENDS)[number];

/** Longest session-key window (docs/FORMAT.md section 4b) and the default. */
export const MAX_SESSION_HOURS = 24;
export const DEFAULT_SESSION_HOURS = 4;
export const DEFAULT_SIGNING_TIMEOUT_MS = 2000;

export interface SigningConfig {
  backend: SigningBackend;
  /** The registry kid the backend signs as (SIGNING_KID); the local backend computes its own. */
  kid: string | undefined;
  requireKms: boolean;
  requireSigningProxy: boolean;
  /** Per attempt of a remote signing call. */
  timeoutMs: number;
  /** How long the circuit breaker refuses calls after the backend failed repeatedly. */
  circuitOpenMs: number;
  /** docs/FORMAT.md section 4b: sign records with in-memory session keys delegated by the backend's key. */
  sessionKeys: boolean;
  sessionLifetimeMs: number;
  kms: { keyId: string; algorithm: SignatureAlgorithm; region: string | undefined } | undefined;
  /** The token (PKCS11_MODULE, PKCS11_TOKEN_LABEL, PKCS11_PIN) and the signing key's label (PKCS11_KEY_LABEL, needed to sign). */
  pkcs11: { modulePath: string; tokenLabel: string; pin: string; keyLabel: string | undefined } | undefined;
  proxy:
    | {
        url: string;
        apiKey: string;
        /** SIGNING_PROXY_CLIENT_CERT/_KEY (mTLS to the proxy) and SIGNING_PROXY_CA (the proxy's CA): PEM files. */
        tls: { certFile: string | undefined; keyFile: string | undefined; caFile: string | undefined } | undefined;
      }
    | undefined;
  /** The break-glass signer's private key file (SIGNING_BACKEND=breakglass). */
  breakglassKeyFile: string | undefined;
  /** Who may call `chainbook signing-proxy`: name and API key per client (SIGNING_PROXY_CLIENTS). */
  proxyClients: { name: string; apiKey: string }[];
}

export const OBJECT_LOCK_MODES = ['COMPLIANCE', 'GOVERNANCE'] as const;
/** Longest Object Lock retention accepted, in days (100 years). */
export const MAX_RETENTION_DAYS = 36_500;
/** IDEMPOTENCY_RETENTION_HOURS: 30 days by default; never under 3 days (a payment provider retries a webhook for up to 3 days). */
export const DEFAULT_IDEMPOTENCY_RETENTION_HOURS = 720;
export const MIN_IDEMPOTENCY_RETENTION_HOURS = 72;
const MAX_IDEMPOTENCY_RETENTION_HOURS = MAX_RETENTION_DAYS * 24;

export interface ArchiveConfig {
  /** Where `export` writes and `audit-verify --archive` reads by default: a folder, or s3://bucket/prefix. */
  target: string;
  /** The archive's top folder (`<service>` of docs/FORMAT.md section 8). */
  service: string;
  /** `env` in manifests and object metadata. */
  env: string;
  lockMode: (typeof OBJECT_LOCK_MODES)[number];
  retentionDays: number;
  piiIncluded: boolean;
  /** undefined: not declared; production refuses to export then. */
  piiPolicyVersion: string | undefined;
  s3: {
    endpoint: string | undefined;
    region: string;
    forcePathStyle: boolean;
    /** S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY; undefined: the AWS SDK's standard credential chain. */
    credentials: { accessKeyId: string; secretAccessKey: string } | undefined;
  };
}

/** Where publishers' artifacts are kept (docs/DOMAIN.md, "Artifacts"). */
export interface ArtifactConfig {
  /** ARTIFACT_MAX_BYTES (default 4 GiB): uploads of larger artifacts are refused before a byte is read. */
  maxBytes: number;
  /** S3_BUCKET (production): the artifacts go to this bucket, with the archive's S3 settings; else `<data dir>/artifacts`. */
  s3Bucket: string | undefined;
  folder: string;
}

/** Delivery to the buyer (docs/DOMAIN.md, "Delivery"). */
export interface DeliveryConfig {
  /** DELIVERY_LINK_TTL (1h to 24h, default 1h): how long a download link works, in seconds. */
  linkTtlSeconds: number;
  /** DELIVERY_OBJECT_LIFETIME (default 7 days, at least DELIVERY_LINK_TTL): ciphertexts older than this are deleted, in seconds. */
  objectLifetimeSeconds: number;
  /** DELIVERY_S3_BUCKET (production): ciphertexts go there and links are S3 pre-signed GETs; else `<data dir>/deliveries` and signed download routes. */
  s3Bucket: string | undefined;
  folder: string;
  /** DELIVERY_LINK_SECRET: the HMAC key of download routes; else a key file in the data directory (refused in production). */
  linkSecret: string | undefined;
  linkSecretFile: string;
  /** DELIVERY_LINK_BASE_URL: the API's public URL, for download routes; else the URL the request came to. */
  linkBaseUrl: string | undefined;
  /**
   * DELIVERY_KEY_SERVICE: where Option B data keys come from (`local`: a
   * wrapping key of ours; `kms`: AWS KMS GenerateDataKey; `pkcs11`: an AES
   * key on the signer's PKCS#11 token). Default `local`.
   */
  keyService: (typeof DELIVERY_KEY_SERVICES)[number];
  /** DELIVERY_WRAPPING_KEY (base64 of 32 bytes): the local wrapping key; else a key file in the data directory (refused in production). */
  wrappingKey: string | undefined;
  wrappingKeyFile: string;
  /** DELIVERY_KMS_KEY_ID (a symmetric key's id or ARN) in AWS_REGION; set when DELIVERY_KEY_SERVICE=kms. */
  kms: { keyId: string; region: string | undefined } | undefined;
  /** The signer's token (PKCS11_MODULE, PKCS11_TOKEN_LABEL, PKCS11_PIN) and the AES key's label (DELIVERY_PKCS11_KEY_LABEL); set when DELIVERY_KEY_SERVICE=pkcs11. */
  pkcs11: { modulePath: string; tokenLabel: string; pin: string; keyLabel: string } | undefined;
}

export const DELIVERY_KEY_SERVICES = ['local', 'kms', 'pkcs11'] as const;
export type DeliveryKeyService = (typeof DELIVERY_KEY_SERVICES)[number];
/** DELIVERY_LINK_TTL's bounds and default, in seconds (marketplace runbook section 5: 1–24 hours). */
export const DELIVERY_LINK_TTL_BOUNDS = { min: 3600, max: 86_400, default: 3600 } as const;

export interface Config {
  nodeEnv: string;
  production: boolean;
  /** PostgreSQL; undefined means the embedded PGlite in dataDir. */
  databaseUrl: string | undefined;
  /** Named (server-side prepared) statements on PostgreSQL (DATABASE_PREPARED_STATEMENTS, default true). */
  preparedStatements: boolean;
  dataDir: string;
  /** The signer registry in use (signers.json). */
  signersPath: string;
  /** Read-only mode on purpose: appends are refused with this reason. */
  signingDisabledReason: string | undefined;
  defaultChain: string;
  /** IDEMPOTENCY_RETENTION_HOURS (default 720, at least 72): idempotency records older than this are purged. */
  idempotencyRetentionHours: number;
  signing: SigningConfig;
  archive: ArchiveConfig;
  artifacts: ArtifactConfig;
  delivery: DeliveryConfig;
  payouts: PayoutsConfig;
  checkpoints: CheckpointConfig;
  /** PREVIEW_SANDBOX_POOL_CONFIG (infra/wiring/previewConfig.ts). */
  preview: PreviewConfig;
  witness: WitnessServiceConfig;
  /** Content inspection and the quarantine (infra/wiring/contentConfig.ts). */
  content: ContentConfig;
}

/** Signed checkpoints of each chain's Merkle tree (docs/FORMAT.md section 14). */
export interface CheckpointConfig {
  /** CHECKPOINT_INTERVAL (1s to 1d, default 10s): the least time between two checkpoints of a chain, in milliseconds. */
  intervalMs: number;
  /** CHECKPOINT_INTERVAL_RECORDS (default 1000): a checkpoint comes sooner once this many records were appended. */
  intervalRecords: number;
  /** CHECKPOINT_ORIGIN (default `chainbook`): a chain's checkpoints name `<origin>/<chain>` on their first line. */
  origin: string;
  /** CHECKPOINT_WITNESSES: the witnesses asked to cosign each checkpoint (infra/wiring/witnessConfig.ts). */
  witnesses: readonly WitnessEndpoint[];
  /** CHECKPOINT_WITNESS_QUORUM (default 0): cosignatures a checkpoint needs before it is published. */
  quorum: number;
}

export const DEFAULT_CHECKPOINT_INTERVAL_SECONDS = 10;
export const DEFAULT_CHECKPOINT_INTERVAL_RECORDS = 1000;
export const DEFAULT_CHECKPOINT_ORIGIN = 'chainbook';
const CHECKPOINT_ORIGIN_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,190}$/;

export const PAYOUT_PROVIDERS = ['sandbox', 'none', 'stripe'] as const;

/** Where STRIPE_API_BASE points when it is not set. */
export const DEFAULT_STRIPE_API_BASE = 'https://api.stripe.com';
/** Parties STRIPE_CONNECTED_ACCOUNTS may name (docs/STYLE.md rule 7): the variable stays well under an environment string's size. */
export const MAX_STRIPE_CONNECTED_ACCOUNTS = 2000;
const STRIPE_ACCOUNT_PATTERN = /^acct_[A-Za-z0-9]{1,64}$/;

/** PAYOUT_PROVIDER=stripe: Stripe Connect transfers (infra/adapters/payouts/stripePayoutProvider.ts). */
export interface StripeConfig {
  /** STRIPE_SECRET_KEY: the platform's secret API key (never logged). */
  secretKey: string;
  /** STRIPE_WEBHOOK_SECRET: the signing secret of the webhook endpoint `POST /webhooks/stripe` (never logged). */
  webhookSecret: string;
  /** STRIPE_CONNECTED_ACCOUNTS: party id → its connected account (`acct_…`). */
  connectedAccounts: ReadonlyMap<string, string>;
  /** STRIPE_API_BASE: https://api.stripe.com unless a stand-in is named (http only on the loopback). */
  apiBase: string;
}

/** `party:acct_…,party:acct_…` (the last colon separates, as a party id may hold one); undefined when malformed. */
export function parseConnectedAccounts(text: string): Map<string, string> | undefined {
  const accounts = new Map<string, string>();
  const pairs = text.split(',');
  if (pairs.length > MAX_STRIPE_CONNECTED_ACCOUNTS) return undefined;
  for (const pair of pairs) {
    const colon = pair.lastIndexOf(':');
    const party = pair.slice(0, colon).trim();
    const account = pair.slice(colon + 1).trim();
    if (colon < 0 || !ID_PATTERN.test(party) || !STRIPE_ACCOUNT_PATTERN.test(account) || accounts.has(party))
      return undefined;
    accounts.set(party, account);
  }
  return accounts;
}

/** The secret key travels to it: https, or http to this machine only (a test's stand-in). */
function stripeApiBaseAccepted(value: string): boolean {
  if (!/^https?:\/\/[^/\s]+\/?$/.test(value)) return false;
  const url = new URL(value);
  return url.protocol === 'https:' || ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
}

export interface PayoutsConfig {
  /** A payout run pays a party only when it is owed at least this much, in minor units (PAYOUT_MINIMUM_MINOR). */
  minimumMinor: number;
  /**
   * PAYOUT_PROVIDER: `sandbox` records what it is asked to pay and sends
   * nothing (the provider's answers come through its webhook); `stripe` sends
   * Stripe Connect transfers (answers through `POST /webhooks/stripe`); `none`
   * refuses payout runs. The default is `sandbox`, and `none` with NODE_ENV=production.
   */
  provider: (typeof PAYOUT_PROVIDERS)[number];
  /** Set when PAYOUT_PROVIDER=stripe. */
  stripe: StripeConfig | undefined;
}

export class ConfigError extends CodedError {
  constructor(problems: readonly string[]) {
    super('INVALID_CONFIGURATION', `invalid configuration:\n  - ${problems.join('\n  - ')}`, { problems });
  }
}

/** Exported for the other configuration sections (infra/wiring/httpConfig.ts). */
export const optionalText = z
  .string()
  .optional()
  .transform((value) => (value === undefined || value.trim() === '' ? undefined : value));

export const flag = optionalText
  .refine((value) => value === undefined || /^(true|false|1|0)$/.test(value), { message: 'must be true or false' })
  .transform((value) => value === 'true' || value === '1');

export function positiveInteger(maximum: number) {
  return optionalText
    .refine((value) => value === undefined || (/^\d+$/.test(value) && Number(value) >= 1 && Number(value) <= maximum), {
      message: `must be an integer from 1 to ${maximum}`,
    })
    .transform((value) => (value === undefined ? undefined : Number(value)));
}

/** `name:key,name:key`; undefined when malformed. Keys shorter than 16 characters are refused. */
export function parseClients(text: string): { name: string; apiKey: string }[] | undefined {
  const clients = text.split(',').map((pair) => {
    const colon = pair.indexOf(':');
    return { name: pair.slice(0, colon).trim(), apiKey: pair.slice(colon + 1).trim() };
  });
  return clients.every((client) => /^[A-Za-z0-9._-]{1,64}$/.test(client.name) && client.apiKey.length >= 16)
    ? clients
    : undefined;
}

const schema = z.object({
  NODE_ENV: optionalText,
  DATABASE_URL: optionalText.refine((value) => value === undefined || /^postgres(ql)?:\/\//.test(value), {
    message: 'must be a postgres:// or postgresql:// URL',
  }),
  DATABASE_PREPARED_STATEMENTS: optionalText
    .refine((value) => value === undefined || /^(true|false|1|0)$/.test(value), { message: 'must be true or false' })
    .transform((value) => (value === undefined ? undefined : value === 'true' || value === '1')),
  CHAINBOOK_DATA_DIR: optionalText,
  CHAINBOOK_SIGNERS: optionalText,
  SIGNING_DISABLED_REASON: optionalText,
  CHAINBOOK_CHAIN: optionalText.refine((value) => value === undefined || CHAIN_NAME_PATTERN.test(value), {
    message: `must match ${CHAIN_NAME_PATTERN.source}`,
  }),
  IDEMPOTENCY_RETENTION_HOURS: positiveInteger(MAX_IDEMPOTENCY_RETENTION_HOURS).refine(
    (value) => value === undefined || value >= MIN_IDEMPOTENCY_RETENTION_HOURS,
    { message: `must be at least ${MIN_IDEMPOTENCY_RETENTION_HOURS} (hours)` },
  ),
  PAYOUT_MINIMUM_MINOR: positiveInteger(MAX_AMOUNT_MINOR),
  DELIVERY_LINK_TTL: optionalText
    .refine((value) => value === undefined || durationSeconds(value) !== undefined, {
      message: `must be a duration from 1h to 24h (3600, 3600s, 90m, 2h)`,
    })
    .transform((value) => (value === undefined ? undefined : durationSeconds(value))),
  DELIVERY_OBJECT_LIFETIME: optionalText
    .refine((value) => value === undefined || lifetimeSeconds(value) !== undefined, {
      message: 'must be a duration from 1h to 365d (86400, 12h, 7d)',
    })
    .transform((value) => (value === undefined ? undefined : lifetimeSeconds(value))),
  DELIVERY_S3_BUCKET: optionalText,
  DELIVERY_LINK_SECRET: optionalText.refine((value) => value === undefined || value.length >= 32, {
    message: 'must be at least 32 characters',
  }),
  DELIVERY_LINK_BASE_URL: optionalText.refine((value) => value === undefined || /^https?:\/\/[^\s]+$/.test(value), {
    message: 'must be an http:// or https:// URL',
  }),
  DELIVERY_KEY_SERVICE: optionalText.refine(
    (value) => value === undefined || (DELIVERY_KEY_SERVICES as readonly string[]).includes(value),
    { message: `must be one of ${DELIVERY_KEY_SERVICES.join(', ')}` },
  ),
  DELIVERY_WRAPPING_KEY: optionalText.refine(
    (value) => value === undefined || Buffer.from(value, 'base64').length === 32,
    { message: 'must be base64 of 32 bytes' },
  ),
  // The id is recorded in the chain with every wrapped data key, and Decrypt names it: an alias could later name another key.
  DELIVERY_KMS_KEY_ID: optionalText.refine((value) => value === undefined || !/(^|:)alias\//.test(value), {
    message: 'must be a KMS key id or key ARN, not an alias (it is recorded with each wrapped data key)',
  }),
  DELIVERY_PKCS11_KEY_LABEL: optionalText,
  PAYOUT_PROVIDER: optionalText.refine(
    (value) => value === undefined || (PAYOUT_PROVIDERS as readonly string[]).includes(value),
    { message: `must be one of ${PAYOUT_PROVIDERS.join(', ')}` },
  ),
  STRIPE_SECRET_KEY: optionalText.refine((value) => value === undefined || /^(sk|rk)_[A-Za-z0-9_]{8,}$/.test(value), {
    // The value is never repeated in a message.
    message: 'must be a Stripe secret or restricted key (sk_… or rk_…)',
  }),
  STRIPE_WEBHOOK_SECRET: optionalText.refine((value) => value === undefined || value.length >= 16, {
    message: 'must be at least 16 characters (the endpoint signing secret, whsec_…)',
  }),
  STRIPE_CONNECTED_ACCOUNTS: optionalText.refine((value) => value === undefined || parseConnectedAccounts(value), {
    message: `must be party:acct_… pairs separated by commas, each party once, at most ${MAX_STRIPE_CONNECTED_ACCOUNTS}`,
  }),
  STRIPE_API_BASE: optionalText.refine((value) => value === undefined || stripeApiBaseAccepted(value), {
    message: 'must be an https:// origin (http:// only to 127.0.0.1, localhost or [::1])',
  }),
  SIGNING_BACKEND: optionalText.refine(
    (value) => value === undefined || (SIGNING_BACKENDS as readonly string[]).includes(value),
    {
      message: `must be one of ${SIGNING_BACKENDS.join(', ')}`,
    },
  ),
  SIGNING_KID: optionalText.refine(
    (value) => value === undefined || /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/.test(value),
    {
      message: 'must be a signer kid (letters, digits, . _ : -)',
    },
  ),
  REQUIRE_KMS: flag,
  REQUIRE_SIGNING_PROXY: flag,
  SIGNING_TIMEOUT_MS: positiveInteger(60_000),
  SIGNING_CIRCUIT_OPEN_MS: positiveInteger(600_000),
  SIGNING_SESSION_KEYS: flag,
  SIGNING_SESSION_HOURS: positiveInteger(MAX_SESSION_HOURS),
  AUDIT_SIGNING_KMS_KEY_ID: optionalText,
  AUDIT_SIGNING_ALG: optionalText.refine((value) => value === undefined || isSignatureAlgorithm(value), {
    message: `must be one of ${SIGNATURE_ALGORITHMS.join(', ')}`,
  }),
  AWS_REGION: optionalText,
  PKCS11_MODULE: optionalText,
  PKCS11_TOKEN_LABEL: optionalText,
  PKCS11_PIN: optionalText,
  PKCS11_KEY_LABEL: optionalText,
  SIGNING_PROXY_URL: optionalText.refine((value) => value === undefined || /^https?:\/\/[^/]/.test(value), {
    message: 'must be an http:// or https:// URL',
  }),
  SIGNING_PROXY_API_KEY: optionalText,
  SIGNING_PROXY_CLIENT_CERT: optionalText,
  SIGNING_PROXY_CLIENT_KEY: optionalText,
  SIGNING_PROXY_CA: optionalText,
  SIGNING_PROXY_CLIENTS: optionalText.refine((value) => value === undefined || parseClients(value) !== undefined, {
    message: 'must be name:key pairs separated by commas, e.g. finance:k1,kernel:k2 (keys of at least 16 characters)',
  }),
  BREAKGLASS_KEY_FILE: optionalText,
  ARCHIVE_TARGET: optionalText.refine(
    (value) =>
      value === undefined || !value.includes('://') || /^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/.*)?$/.test(value),
    {
      message: 'must be a folder or s3://bucket/prefix',
    },
  ),
  ARCHIVE_SERVICE: optionalText.refine((value) => value === undefined || CHAIN_NAME_PATTERN.test(value), {
    message: `must match ${CHAIN_NAME_PATTERN.source}`,
  }),
  ARCHIVE_ENV: optionalText.refine((value) => value === undefined || LABEL_PATTERN.test(value), {
    message: `must match ${LABEL_PATTERN.source}`,
  }),
  ARCHIVE_OBJECT_LOCK_MODE: optionalText.refine(
    (value) => value === undefined || (OBJECT_LOCK_MODES as readonly string[]).includes(value),
    {
      message: `must be one of ${OBJECT_LOCK_MODES.join(', ')}`,
    },
  ),
  ARCHIVE_RETENTION_DAYS: positiveInteger(MAX_RETENTION_DAYS),
  ARCHIVE_PII_INCLUDED: flag,
  ARCHIVE_PII_POLICY_VERSION: optionalText.refine((value) => value === undefined || LABEL_PATTERN.test(value), {
    message: `must match ${LABEL_PATTERN.source}`,
  }),
  S3_ENDPOINT: optionalText.refine((value) => value === undefined || /^https?:\/\/[^/]/.test(value), {
    message: 'must be an http:// or https:// URL',
  }),
  S3_AUDIT_BUCKET: optionalText.refine(
    (value) => value === undefined || /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(value),
    { message: 'must be an S3 bucket name' },
  ),
  S3_BUCKET: optionalText.refine((value) => value === undefined || /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(value), {
    message: 'must be an S3 bucket name',
  }),
  ARTIFACT_MAX_BYTES: positiveInteger(MAX_ARTIFACT_BYTES),
  S3_REGION: optionalText,
  S3_FORCE_PATH_STYLE: flag,
  S3_ACCESS_KEY_ID: optionalText,
  S3_SECRET_ACCESS_KEY: optionalText,
  CHECKPOINT_INTERVAL: optionalText
    .refine((value) => value === undefined || checkpointSeconds(value) !== undefined, {
      message: 'must be a duration from 1s to 1d (10, 10s, 5m, 1h)',
    })
    .transform((value) => (value === undefined ? undefined : checkpointSeconds(value))),
  CHECKPOINT_INTERVAL_RECORDS: positiveInteger(1_000_000),
  PREVIEW_SANDBOX_POOL_CONFIG: optionalText,
  CHECKPOINT_ORIGIN: optionalText.refine((value) => value === undefined || CHECKPOINT_ORIGIN_PATTERN.test(value), {
    message: `must match ${CHECKPOINT_ORIGIN_PATTERN.source} (a schema-less URL such as log.example.com/chainbook)`,
  }),
  CHECKPOINT_WITNESSES: optionalText,
  CHECKPOINT_WITNESS_QUORUM: optionalText,
  WITNESS_NAME: optionalText,
  WITNESS_KEY_FILE: optionalText,
  WITNESS_STATE_DIR: optionalText,
  WITNESS_LOGS: optionalText,
});

type Values = z.infer<typeof schema>;

/** Variables each backend needs, named in the error when missing. */
const BACKEND_VARIABLES: Readonly<Record<SigningBackend, readonly (keyof Values)[]>> = {
  local: [],
  kms: ['AUDIT_SIGNING_KMS_KEY_ID', 'AUDIT_SIGNING_ALG', 'SIGNING_KID'],
  pkcs11: ['PKCS11_MODULE', 'PKCS11_TOKEN_LABEL', 'PKCS11_PIN', 'PKCS11_KEY_LABEL', 'SIGNING_KID'],
  proxy: ['SIGNING_PROXY_URL', 'SIGNING_PROXY_API_KEY', 'SIGNING_KID'],
  breakglass: ['BREAKGLASS_KEY_FILE', 'SIGNING_KID'],
};

function pathOf(value: string | undefined): string | undefined {
  return value === undefined ? undefined : resolve(value);
}

/** An http:// URL whose host is not this machine's loopback (the proxy as a sidecar may speak plain HTTP). */
function plainHttpOffHost(url: string | undefined): boolean {
  if (url === undefined || !url.startsWith('http://')) return false;
  try {
    const host = new URL(url).hostname;
    return !(host === 'localhost' || host === '[::1]' || /^127(\.\d{1,3}){3}$/.test(host));
  } catch {
    return false; // not a URL: the variable's own check names it
  }
}

/** The signing proxy's client certificate settings: a pair, and only over https://. */
function proxyTlsProblems(values: Values): string[] {
  const problems: string[] = [];
  if ((values.SIGNING_PROXY_CLIENT_CERT === undefined) !== (values.SIGNING_PROXY_CLIENT_KEY === undefined))
    problems.push('SIGNING_PROXY_CLIENT_CERT and SIGNING_PROXY_CLIENT_KEY: set both or neither');
  const tls =
    values.SIGNING_PROXY_CLIENT_CERT !== undefined ||
    values.SIGNING_PROXY_CLIENT_KEY !== undefined ||
    values.SIGNING_PROXY_CA !== undefined;
  if (tls && !(values.SIGNING_PROXY_URL ?? '').startsWith('https://'))
    problems.push(
      'SIGNING_PROXY_URL: must be an https:// URL when SIGNING_PROXY_CLIENT_CERT or SIGNING_PROXY_CA is set',
    );
  for (const variable of ['SIGNING_PROXY_CLIENT_CERT', 'SIGNING_PROXY_CLIENT_KEY', 'SIGNING_PROXY_CA'] as const) {
    const path = values[variable];
    if (path === undefined) continue;
    try {
      accessSync(path, constants.R_OK);
    } catch (error) {
      problems.push(`${variable}: cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
    }
  }
  return problems;
}

/** Why the signing settings cannot work together; empty when they can. */
function signingProblems(values: Values, production: boolean): string[] {
  const problems: string[] = [...proxyTlsProblems(values)];
  const backend = values.SIGNING_BACKEND as SigningBackend | undefined;
  if (backend === undefined && production)
    problems.push('SIGNING_BACKEND: required when NODE_ENV=production (kms, pkcs11 or proxy)');
  if (backend === 'local' && production)
    problems.push('SIGNING_BACKEND: local is the development signer and is refused when NODE_ENV=production');
  for (const name of BACKEND_VARIABLES[backend ?? 'local']) {
    if (values[name] === undefined) problems.push(`${name}: required when SIGNING_BACKEND=${backend ?? 'local'}`);
  }
  const requireKms = values.REQUIRE_KMS === true;
  const requireProxy = values.REQUIRE_SIGNING_PROXY === true;
  const kmsOk = backend === 'kms' || backend === 'pkcs11';
  if (requireKms && requireProxy && !kmsOk && backend !== 'proxy')
    problems.push('SIGNING_BACKEND: REQUIRE_KMS and REQUIRE_SIGNING_PROXY are set: use kms, pkcs11 or proxy');
  else if (requireKms && !requireProxy && !kmsOk)
    problems.push(`SIGNING_BACKEND: REQUIRE_KMS=true requires kms (or an HSM, pkcs11), not ${backend ?? 'local'}`);
  else if (requireProxy && !requireKms && backend !== 'proxy')
    problems.push(`SIGNING_BACKEND: REQUIRE_SIGNING_PROXY=true requires proxy, not ${backend ?? 'local'}`);
  if (production && backend === 'proxy' && plainHttpOffHost(values.SIGNING_PROXY_URL))
    problems.push(
      'SIGNING_PROXY_URL: plain http:// to another host is refused when NODE_ENV=production (the API key would cross the network in clear): use https://',
    );
  if (
    values.SIGNING_SESSION_KEYS === true &&
    (backend === undefined || backend === 'local' || backend === 'breakglass')
  ) {
    problems.push('SIGNING_SESSION_KEYS: session keys are rooted in kms, pkcs11 or proxy');
  }
  return problems;
}

function signingConfig(values: Values): SigningConfig {
  const backend = (values.SIGNING_BACKEND as SigningBackend | undefined) ?? 'local';
  const kmsSet = values.AUDIT_SIGNING_KMS_KEY_ID !== undefined && values.AUDIT_SIGNING_ALG !== undefined;
  return {
    backend,
    kid: values.SIGNING_KID,
    requireKms: values.REQUIRE_KMS === true,
    requireSigningProxy: values.REQUIRE_SIGNING_PROXY === true,
    timeoutMs: values.SIGNING_TIMEOUT_MS ?? DEFAULT_SIGNING_TIMEOUT_MS,
    circuitOpenMs: values.SIGNING_CIRCUIT_OPEN_MS ?? DEFAULT_BREAKER.openMs,
    sessionKeys: values.SIGNING_SESSION_KEYS === true,
    sessionLifetimeMs: (values.SIGNING_SESSION_HOURS ?? DEFAULT_SESSION_HOURS) * 3_600_000,
    kms: kmsSet
      ? {
          keyId: values.AUDIT_SIGNING_KMS_KEY_ID!,
          algorithm: values.AUDIT_SIGNING_ALG as SignatureAlgorithm,
          region: values.AWS_REGION,
        }
      : undefined,
    pkcs11:
      values.PKCS11_MODULE && values.PKCS11_TOKEN_LABEL && values.PKCS11_PIN
        ? {
            modulePath: values.PKCS11_MODULE,
            tokenLabel: values.PKCS11_TOKEN_LABEL,
            pin: values.PKCS11_PIN,
            keyLabel: values.PKCS11_KEY_LABEL,
          }
        : undefined,
    proxy:
      values.SIGNING_PROXY_URL && values.SIGNING_PROXY_API_KEY
        ? {
            url: values.SIGNING_PROXY_URL,
            apiKey: values.SIGNING_PROXY_API_KEY,
            tls:
              values.SIGNING_PROXY_CLIENT_CERT !== undefined || values.SIGNING_PROXY_CA !== undefined
                ? {
                    certFile: pathOf(values.SIGNING_PROXY_CLIENT_CERT),
                    keyFile: pathOf(values.SIGNING_PROXY_CLIENT_KEY),
                    caFile: pathOf(values.SIGNING_PROXY_CA),
                  }
                : undefined,
          }
        : undefined,
    breakglassKeyFile: values.BREAKGLASS_KEY_FILE === undefined ? undefined : resolve(values.BREAKGLASS_KEY_FILE),
    proxyClients: values.SIGNING_PROXY_CLIENTS === undefined ? [] : (parseClients(values.SIGNING_PROXY_CLIENTS) ?? []),
  };
}

function archiveConfig(values: Values, dataDir: string, nodeEnv: string): ArchiveConfig {
  const accessKeyId = values.S3_ACCESS_KEY_ID;
  const secretAccessKey = values.S3_SECRET_ACCESS_KEY;
  return {
    target: values.ARCHIVE_TARGET ?? (values.S3_AUDIT_BUCKET ? `s3://${values.S3_AUDIT_BUCKET}` : `${dataDir}/archive`),
    service: values.ARCHIVE_SERVICE ?? DEFAULT_ARCHIVE_SERVICE,
    env: values.ARCHIVE_ENV ?? (LABEL_PATTERN.test(nodeEnv) ? nodeEnv : 'unknown'),
    lockMode: (values.ARCHIVE_OBJECT_LOCK_MODE as ArchiveConfig['lockMode'] | undefined) ?? 'COMPLIANCE',
    retentionDays: values.ARCHIVE_RETENTION_DAYS ?? DEFAULT_RETENTION_DAYS,
    piiIncluded: values.ARCHIVE_PII_INCLUDED === true,
    piiPolicyVersion: values.ARCHIVE_PII_POLICY_VERSION,
    s3: {
      endpoint: values.S3_ENDPOINT,
      region: values.S3_REGION ?? values.AWS_REGION ?? 'us-east-1',
      forcePathStyle: values.S3_FORCE_PATH_STYLE === true,
      credentials: accessKeyId && secretAccessKey ? { accessKeyId, secretAccessKey } : undefined,
    },
  };
}

/** The archive's top folder when ARCHIVE_SERVICE is not set. */
export const DEFAULT_ARCHIVE_SERVICE = 'chainbook';

/** `3600`, `3600s`, `90m`, `2h`, `7d` in seconds. */
function secondsOf(text: string): number | undefined {
  const match = /^(\d{1,8})(s|m|h|d)?$/.exec(text);
  if (!match) return undefined;
  return Number(match[1]) * { s: 1, m: 60, h: 3600, d: 86_400 }[(match[2] ?? 's') as 's' | 'm' | 'h' | 'd'];
}

/** DELIVERY_LINK_TTL in seconds, when from 1h to 24h. */
function durationSeconds(text: string): number | undefined {
  const seconds = secondsOf(text);
  return seconds !== undefined && seconds >= DELIVERY_LINK_TTL_BOUNDS.min && seconds <= DELIVERY_LINK_TTL_BOUNDS.max
    ? seconds
    : undefined;
}

/** CHECKPOINT_INTERVAL in seconds, when from 1s to a day. */
function checkpointSeconds(text: string): number | undefined {
  const seconds = secondsOf(text);
  return seconds !== undefined && seconds >= 1 && seconds <= 86_400 ? seconds : undefined;
}

/** DELIVERY_OBJECT_LIFETIME in seconds, when from 1h to 365 days. */
function lifetimeSeconds(text: string): number | undefined {
  const seconds = secondsOf(text);
  return seconds !== undefined && seconds >= 3600 && seconds <= 365 * 86_400 ? seconds : undefined;
}

/** DELIVERY_OBJECT_LIFETIME's default: a week, as the runbook's delivery bucket lifecycle suggests. */
export const DEFAULT_DELIVERY_OBJECT_LIFETIME_SECONDS = 7 * 86_400;

/** Variables each data key service needs, named in the error when missing (the PKCS#11 token is the signer's). */
const KEY_SERVICE_VARIABLES: Readonly<Record<DeliveryKeyService, readonly (keyof Values)[]>> = {
  local: [],
  kms: ['DELIVERY_KMS_KEY_ID'],
  pkcs11: ['PKCS11_MODULE', 'PKCS11_TOKEN_LABEL', 'PKCS11_PIN', 'DELIVERY_PKCS11_KEY_LABEL'],
};

/**
 * The data key service's variables, in any environment; and production
 * keeps no delivery secret in the data directory: links and local data keys
 * need theirs from the environment.
 */
function deliveryProblems(values: Values, production: boolean): string[] {
  const keyService = (values.DELIVERY_KEY_SERVICE as DeliveryKeyService | undefined) ?? 'local';
  const problems = KEY_SERVICE_VARIABLES[keyService]
    .filter((name) => values[name] === undefined)
    .map((name) => `${name}: required when DELIVERY_KEY_SERVICE=${keyService}`);
  if (!production) return problems;
  if (values.DELIVERY_S3_BUCKET === undefined && values.DELIVERY_LINK_SECRET === undefined)
    problems.push(
      'DELIVERY_LINK_SECRET: required when NODE_ENV=production without DELIVERY_S3_BUCKET (download links are signed with it)',
    );
  if (keyService === 'local' && values.DELIVERY_WRAPPING_KEY === undefined)
    problems.push('DELIVERY_WRAPPING_KEY: required when NODE_ENV=production with DELIVERY_KEY_SERVICE=local');
  return problems;
}

function deliveryKeyServices(values: Values): Pick<DeliveryConfig, 'keyService' | 'kms' | 'pkcs11'> {
  const keyService = (values.DELIVERY_KEY_SERVICE as DeliveryKeyService | undefined) ?? 'local';
  const { PKCS11_MODULE, PKCS11_TOKEN_LABEL, PKCS11_PIN, DELIVERY_PKCS11_KEY_LABEL } = values;
  return {
    keyService,
    kms:
      keyService === 'kms' && values.DELIVERY_KMS_KEY_ID !== undefined
        ? { keyId: values.DELIVERY_KMS_KEY_ID, region: values.AWS_REGION }
        : undefined,
    pkcs11:
      keyService === 'pkcs11' && PKCS11_MODULE && PKCS11_TOKEN_LABEL && PKCS11_PIN && DELIVERY_PKCS11_KEY_LABEL
        ? {
            modulePath: PKCS11_MODULE,
            tokenLabel: PKCS11_TOKEN_LABEL,
            pin: PKCS11_PIN,
            keyLabel: DELIVERY_PKCS11_KEY_LABEL,
          }
        : undefined,
  };
}

/** Variables PAYOUT_PROVIDER=stripe needs, named in the error when missing. */
const STRIPE_VARIABLES = ['STRIPE_SECRET_KEY', 'STRIPE_WEBHOOK_SECRET', 'STRIPE_CONNECTED_ACCOUNTS'] as const;

function payoutProblems(values: Values): string[] {
  if (values.PAYOUT_PROVIDER !== 'stripe') return [];
  return STRIPE_VARIABLES.filter((name) => values[name] === undefined).map(
    (name) => `${name}: required when PAYOUT_PROVIDER=stripe`,
  );
}

function stripeConfig(values: Values): StripeConfig | undefined {
  const { STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET, STRIPE_CONNECTED_ACCOUNTS } = values;
  if (values.PAYOUT_PROVIDER !== 'stripe' || !STRIPE_SECRET_KEY || !STRIPE_WEBHOOK_SECRET || !STRIPE_CONNECTED_ACCOUNTS)
    return undefined;
  return {
    secretKey: STRIPE_SECRET_KEY,
    webhookSecret: STRIPE_WEBHOOK_SECRET,
    connectedAccounts: parseConnectedAccounts(STRIPE_CONNECTED_ACCOUNTS)!,
    apiBase: (values.STRIPE_API_BASE ?? DEFAULT_STRIPE_API_BASE).replace(/\/+$/, ''),
  };
}

function archiveProblems(values: Values): string[] {
  return (values.S3_ACCESS_KEY_ID === undefined) === (values.S3_SECRET_ACCESS_KEY === undefined)
    ? []
    : ['S3_ACCESS_KEY_ID: give both S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY, or neither (the AWS credential chain)'];
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = schema.safeParse(env);
  const content = contentSchema.safeParse(env);
  const issues = [...(parsed.error?.issues ?? []), ...(content.error?.issues ?? [])];
  if (!parsed.success || !content.success) {
    throw new ConfigError(issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`));
  }
  const values = parsed.data;
  const nodeEnv = values.NODE_ENV ?? 'development';
  const problems = [
    ...signingProblems(values, nodeEnv === 'production'),
    ...archiveProblems(values),
    ...deliveryProblems(values, nodeEnv === 'production'),
    ...payoutProblems(values),
    ...contentProblems(content.data),
  ];
  const endpoints = parseWitnessEndpoints(values.CHECKPOINT_WITNESSES);
  const quorum = parseQuorum(values.CHECKPOINT_WITNESS_QUORUM, endpoints.witnesses.length);
  const witnessLogs = parseWitnessLogs(values.WITNESS_LOGS);
  problems.push(
    ...endpoints.problems,
    ...quorum.problems,
    ...witnessLogs.problems,
    ...witnessNameProblems(values.WITNESS_NAME),
  );
  const dataDir = resolve(values.CHAINBOOK_DATA_DIR ?? '.chainbook');
  const preview = parsePreviewConfig(values.PREVIEW_SANDBOX_POOL_CONFIG, dataDir);
  if (typeof preview === 'string') problems.push(preview);
  if (problems.length > 0 || typeof preview === 'string') throw new ConfigError(problems);
  return {
    nodeEnv,
    production: nodeEnv === 'production',
    databaseUrl: values.DATABASE_URL,
    preparedStatements: values.DATABASE_PREPARED_STATEMENTS ?? true,
    dataDir,
    signersPath: resolve(values.CHAINBOOK_SIGNERS ?? `${dataDir}/signers.json`),
    signingDisabledReason: values.SIGNING_DISABLED_REASON,
    defaultChain: values.CHAINBOOK_CHAIN ?? 'main',
    idempotencyRetentionHours: values.IDEMPOTENCY_RETENTION_HOURS ?? DEFAULT_IDEMPOTENCY_RETENTION_HOURS,
    signing: signingConfig(values),
    archive: archiveConfig(values, dataDir, nodeEnv),
    artifacts: {
      maxBytes: values.ARTIFACT_MAX_BYTES ?? DEFAULT_ARTIFACT_MAX_BYTES,
      s3Bucket: values.S3_BUCKET,
      folder: `${dataDir}/artifacts`,
    },
    delivery: {
      linkTtlSeconds: values.DELIVERY_LINK_TTL ?? DELIVERY_LINK_TTL_BOUNDS.default,
      objectLifetimeSeconds: Math.max(
        values.DELIVERY_OBJECT_LIFETIME ?? DEFAULT_DELIVERY_OBJECT_LIFETIME_SECONDS,
        values.DELIVERY_LINK_TTL ?? DELIVERY_LINK_TTL_BOUNDS.default,
      ),
      s3Bucket: values.DELIVERY_S3_BUCKET,
      folder: `${dataDir}/deliveries`,
      linkSecret: values.DELIVERY_LINK_SECRET,
      linkSecretFile: `${dataDir}/keys/delivery-link.key`,
      linkBaseUrl: values.DELIVERY_LINK_BASE_URL?.replace(/\/+$/, ''),
      wrappingKey: values.DELIVERY_WRAPPING_KEY,
      wrappingKeyFile: `${dataDir}/keys/delivery-wrapping.key`,
      ...deliveryKeyServices(values),
    },
    payouts: {
      minimumMinor: values.PAYOUT_MINIMUM_MINOR ?? DEFAULT_PAYOUT_MINIMUM_MINOR,
      provider:
        (values.PAYOUT_PROVIDER as PayoutsConfig['provider'] | undefined) ??
        (nodeEnv === 'production' ? 'none' : 'sandbox'),
      stripe: stripeConfig(values),
    },
    checkpoints: {
      intervalMs: (values.CHECKPOINT_INTERVAL ?? DEFAULT_CHECKPOINT_INTERVAL_SECONDS) * 1000,
      intervalRecords: values.CHECKPOINT_INTERVAL_RECORDS ?? DEFAULT_CHECKPOINT_INTERVAL_RECORDS,
      origin: values.CHECKPOINT_ORIGIN ?? DEFAULT_CHECKPOINT_ORIGIN,
      witnesses: endpoints.witnesses,
      quorum: quorum.quorum,
    },
    witness: {
      name: values.WITNESS_NAME,
      keyFile: resolve(values.WITNESS_KEY_FILE ?? `${dataDir}/keys/witness-ed25519.pem`),
      stateDir: resolve(values.WITNESS_STATE_DIR ?? `${dataDir}/witness`),
      logs: witnessLogs.logs,
    },
    preview,
    content: contentConfig(content.data, dataDir),
  };
}
