/**
 * Configuration of `chainbook serve`, from the environment, validated with
 * one message per bad variable, naming it (the same rules as infra/wiring/config.ts,
 * kept beside the HTTP code that uses them). The README's configuration
 * table lists every variable.
 */
import { resolve } from 'node:path';
import { z } from 'zod';
import { ROLES } from '../../domain/actor.ts';
import { ConfigError, flag, loadConfig, optionalText, positiveInteger, type Config } from './config.ts';
import { isLoopbackHost, loadTls, parseRoleMap, type MtlsMode, type TlsConfig } from './tlsConfig.ts';

export const DEFAULT_PORT = 8080;
export const DEFAULT_MAX_BODY_BYTES = 64 * 1024;
/** Largest body limit an operator may configure: a command is never larger. */
export const MAX_BODY_BYTES_LIMIT = 1024 * 1024;
export const DEFAULT_COMMANDS_PER_MINUTE = 600;
export const DEFAULT_QUERIES_PER_MINUTE = 6000;
export const DEFAULT_WEBHOOKS_PER_MINUTE = 1200;
/** Requests per client address and minute, counted before authentication: above every per-actor budget of one caller. */
export const DEFAULT_ADDRESS_PER_MINUTE = 12_000;
/** How long a Redis rate-limit call may take before the process counts alone (README, "Rate limits"). */
export const DEFAULT_REDIS_TIMEOUT_MS = 250;
/** Most requests per minute per actor and route class an operator may allow. */
export const MAX_REQUESTS_PER_MINUTE = 10_000_000;
export const DEFAULT_WEBHOOK_TOLERANCE_SECONDS = 300;
export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 25_000;
/** How long a shared cache (a CDN) may keep GET /catalog: short, so a delisting shows within half a minute. */
export const DEFAULT_CATALOG_CACHE_SECONDS = 30;
/** How often the TLS files are looked at for a renewal (TLS_RELOAD_SECONDS). */
export const DEFAULT_TLS_RELOAD_SECONDS = 60;
/** Longest CATALOG_CACHE_SECONDS: a price change must not hide behind a cache for longer than an hour. */
export const MAX_CATALOG_CACHE_SECONDS = 3600;
/** Shortest webhook secret accepted: an HMAC key guessable by brute force protects nothing. */
export const MIN_WEBHOOK_SECRET_LENGTH = 16;

/** A static token: an actor, its role and the SHA-256 of the bearer token (never the token). */
export interface TokenEntry {
  actorId: string;
  role: (typeof ROLES)[number];
  sha256: string;
  /** RFC 3339; from then on the token is refused (tokens.json only). */
  expiresAt?: string | undefined;
}

export const ACTOR_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/;
const TOKEN_ENTRY_PATTERN = /^([^:]+):([^:]+):([0-9a-f]{64})$/;

export interface OidcConfig {
  jwksUrl: string;
  issuer: string;
  audience: string;
  /** The claim holding the role (one of ROLES); the actor id is `sub`. */
  roleClaim: string;
}

export interface HttpConfig {
  port: number;
  host: string;
  /** tokens.json: static tokens, stored as hashes (chainbook tokens add). */
  tokensPath: string;
  /** API_TOKENS: more static tokens as actor:Role:sha256hex. */
  tokens: TokenEntry[];
  oidc: OidcConfig | undefined;
  redisUrl: string | undefined;
  /** Prefix of the rate-limit keys (several deployments may share one Redis). */
  rateLimitKeyPrefix: string;
  webhookSecret: string | undefined;
  webhookToleranceSeconds: number;
  devSkipMtls: boolean;
  /** TLS_CERT_FILE and TLS_KEY_FILE (with TLS_CLIENT_CA_FILE, MTLS_ROLE_MAP): HTTPS; undefined: plain HTTP. */
  tls: TlsConfig | undefined;
  /** Whether non-public routes need a verified client certificate (infra/wiring/tlsConfig.ts). */
  mtls: MtlsMode;
  /** TLS_RELOAD_SECONDS: how often the certificate, key and client CA files are checked for a change. */
  tlsReloadSeconds: number;
  /** CATALOG_CACHE_SECONDS: the max-age of GET /catalog's `Cache-Control: public`. */
  catalogCacheSeconds: number;
  maxBodyBytes: number;
  rateLimits: {
    commandsPerMinute: number;
    queriesPerMinute: number;
    webhooksPerMinute: number;
    addressPerMinute: number;
    redisTimeoutMs: number;
    /** RATE_LIMIT_CONFIG_REFRESH_MS (default 5000): how often the tiers of rate_limit_configs and tier_threshold_configs are read again. */
    configRefreshMs: number;
  };
  shutdownTimeoutMs: number;
  logLevel: string;
}

export interface ServeConfig {
  config: Config;
  http: HttpConfig;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** `actor:Role:sha256,…`; undefined when malformed. */
export function parseTokenEntries(text: string): TokenEntry[] | undefined {
  const entries: TokenEntry[] = [];
  for (const part of text.split(',').map((item) => item.trim())) {
    const match = TOKEN_ENTRY_PATTERN.exec(part);
    if (!match || !ACTOR_ID_PATTERN.test(match[1]!) || !(ROLES as readonly string[]).includes(match[2]!))
      return undefined;
    entries.push({ actorId: match[1]!, role: match[2] as TokenEntry['role'], sha256: match[3]! });
  }
  return entries;
}

function port() {
  return optionalText
    .refine((value) => value === undefined || (/^\d+$/.test(value) && Number(value) <= 65_535), {
      message: 'must be an integer from 0 to 65535',
    })
    .transform((value) => (value === undefined ? undefined : Number(value)));
}

function url(schemes: readonly string[]) {
  return optionalText.refine(
    (value) => value === undefined || schemes.some((scheme) => value.startsWith(`${scheme}://`) && URL.canParse(value)),
    {
      message: `must be a ${schemes.map((scheme) => `${scheme}://`).join(' or ')} URL`,
    },
  );
}

const schema = z.object({
  PORT: port(),
  HOST: optionalText,
  CHAINBOOK_TOKENS_FILE: optionalText,
  API_TOKENS: optionalText.refine((value) => value === undefined || parseTokenEntries(value) !== undefined, {
    message: `must be actor:Role:sha256hex entries separated by commas, Role one of ${ROLES.join(', ')}`,
  }),
  OIDC_JWKS_URL: url(['https', 'http']),
  OIDC_ISSUER: optionalText,
  OIDC_AUDIENCE: optionalText,
  OIDC_ROLE_CLAIM: optionalText,
  REDIS_URL: url(['redis', 'rediss']),
  RATE_LIMIT_KEY_PREFIX: optionalText.refine((value) => value === undefined || /^[A-Za-z0-9._:-]{1,64}$/.test(value), {
    message: 'must be 1 to 64 letters, digits or . _ : -',
  }),
  PAYMENT_PROVIDER_WEBHOOK_SECRET: optionalText.refine(
    (value) => value === undefined || value.length >= MIN_WEBHOOK_SECRET_LENGTH,
    {
      message: `must be at least ${MIN_WEBHOOK_SECRET_LENGTH} characters`,
    },
  ),
  PAYMENT_WEBHOOK_TOLERANCE_SECONDS: positiveInteger(3600),
  DEV_SKIP_MTLS: flag,
  TLS_CERT_FILE: optionalText,
  TLS_KEY_FILE: optionalText,
  TLS_CLIENT_CA_FILE: optionalText,
  TLS_RELOAD_SECONDS: positiveInteger(3600),
  MTLS_ROLE_MAP: optionalText.superRefine((value, context) => {
    const parsed = value === undefined ? undefined : parseRoleMap(value);
    if (typeof parsed === 'string')
      context.addIssue({
        code: 'custom',
        message: `${parsed} (CN=Role or URI=Role, comma separated, or a JSON object)`,
      });
  }),
  CATALOG_CACHE_SECONDS: optionalText
    .refine((value) => value === undefined || (/^\d+$/.test(value) && Number(value) <= MAX_CATALOG_CACHE_SECONDS), {
      message: `must be an integer from 0 to ${MAX_CATALOG_CACHE_SECONDS}`,
    })
    .transform((value) => (value === undefined ? undefined : Number(value))),
  HTTP_MAX_BODY_BYTES: positiveInteger(MAX_BODY_BYTES_LIMIT),
  RATE_LIMIT_COMMANDS_PER_MINUTE: positiveInteger(MAX_REQUESTS_PER_MINUTE),
  RATE_LIMIT_QUERIES_PER_MINUTE: positiveInteger(MAX_REQUESTS_PER_MINUTE),
  RATE_LIMIT_WEBHOOKS_PER_MINUTE: positiveInteger(MAX_REQUESTS_PER_MINUTE),
  RATE_LIMIT_ADDRESS_PER_MINUTE: positiveInteger(MAX_REQUESTS_PER_MINUTE),
  RATE_LIMIT_REDIS_TIMEOUT_MS: positiveInteger(60_000),
  RATE_LIMIT_CONFIG_REFRESH_MS: positiveInteger(600_000),
  SHUTDOWN_TIMEOUT_MS: positiveInteger(300_000),
  LOG_LEVEL: optionalText.refine((value) => value === undefined || (LOG_LEVELS as readonly string[]).includes(value), {
    message: `must be one of ${LOG_LEVELS.join(', ')}`,
  }),
});

type Values = z.infer<typeof schema>;

function oidcProblems(values: Values): string[] {
  if (values.OIDC_JWKS_URL === undefined) {
    return values.OIDC_ISSUER === undefined && values.OIDC_AUDIENCE === undefined
      ? []
      : ['OIDC_JWKS_URL: required when OIDC_ISSUER or OIDC_AUDIENCE is set'];
  }
  const problems: string[] = [];
  // Without both, a token minted for another service or by another issuer would be accepted.
  if (values.OIDC_ISSUER === undefined) problems.push('OIDC_ISSUER: required when OIDC_JWKS_URL is set');
  if (values.OIDC_AUDIENCE === undefined) problems.push('OIDC_AUDIENCE: required when OIDC_JWKS_URL is set');
  return problems;
}

function httpConfigOf(values: Values, config: Config, tls: TlsConfig | undefined): HttpConfig {
  return {
    port: values.PORT ?? DEFAULT_PORT,
    host: values.HOST ?? '127.0.0.1',
    tokensPath: resolve(values.CHAINBOOK_TOKENS_FILE ?? `${config.dataDir}/tokens.json`),
    tokens: values.API_TOKENS === undefined ? [] : (parseTokenEntries(values.API_TOKENS) ?? []),
    oidc:
      values.OIDC_JWKS_URL && values.OIDC_ISSUER && values.OIDC_AUDIENCE
        ? {
            jwksUrl: values.OIDC_JWKS_URL,
            issuer: values.OIDC_ISSUER,
            audience: values.OIDC_AUDIENCE,
            roleClaim: values.OIDC_ROLE_CLAIM ?? 'role',
          }
        : undefined,
    redisUrl: values.REDIS_URL,
    rateLimitKeyPrefix: values.RATE_LIMIT_KEY_PREFIX ?? 'chainbook',
    webhookSecret: values.PAYMENT_PROVIDER_WEBHOOK_SECRET,
    webhookToleranceSeconds: values.PAYMENT_WEBHOOK_TOLERANCE_SECONDS ?? DEFAULT_WEBHOOK_TOLERANCE_SECONDS,
    devSkipMtls: values.DEV_SKIP_MTLS === true,
    tls,
    mtls: tls?.clientCa === undefined ? 'off' : values.DEV_SKIP_MTLS === true ? 'optional' : 'required',
    catalogCacheSeconds: values.CATALOG_CACHE_SECONDS ?? DEFAULT_CATALOG_CACHE_SECONDS,
    tlsReloadSeconds: values.TLS_RELOAD_SECONDS ?? DEFAULT_TLS_RELOAD_SECONDS,
    maxBodyBytes: values.HTTP_MAX_BODY_BYTES ?? DEFAULT_MAX_BODY_BYTES,
    rateLimits: {
      commandsPerMinute: values.RATE_LIMIT_COMMANDS_PER_MINUTE ?? DEFAULT_COMMANDS_PER_MINUTE,
      queriesPerMinute: values.RATE_LIMIT_QUERIES_PER_MINUTE ?? DEFAULT_QUERIES_PER_MINUTE,
      webhooksPerMinute: values.RATE_LIMIT_WEBHOOKS_PER_MINUTE ?? DEFAULT_WEBHOOKS_PER_MINUTE,
      addressPerMinute: values.RATE_LIMIT_ADDRESS_PER_MINUTE ?? DEFAULT_ADDRESS_PER_MINUTE,
      redisTimeoutMs: values.RATE_LIMIT_REDIS_TIMEOUT_MS ?? DEFAULT_REDIS_TIMEOUT_MS,
      configRefreshMs: values.RATE_LIMIT_CONFIG_REFRESH_MS ?? 5000,
    },
    shutdownTimeoutMs: values.SHUTDOWN_TIMEOUT_MS ?? DEFAULT_SHUTDOWN_TIMEOUT_MS,
    logLevel: values.LOG_LEVEL ?? 'info',
  };
}

/**
 * TLS settings that go together, and where mTLS is required: in production,
 * and on an address other machines reach (HOST not loopback) unless
 * DEV_SKIP_MTLS=true says so on purpose (refused in production). On
 * 127.0.0.1, the development default, plain HTTP stays allowed.
 */
function tlsProblems(values: Values, production: boolean): string[] {
  const problems: string[] = [];
  if ((values.TLS_CERT_FILE === undefined) !== (values.TLS_KEY_FILE === undefined))
    problems.push('TLS_CERT_FILE and TLS_KEY_FILE: set both or neither');
  if (values.TLS_CLIENT_CA_FILE !== undefined && values.TLS_CERT_FILE === undefined)
    problems.push(
      'TLS_CLIENT_CA_FILE: needs TLS_CERT_FILE and TLS_KEY_FILE (client certificates are asked for over TLS)',
    );
  if (values.MTLS_ROLE_MAP !== undefined && values.TLS_CLIENT_CA_FILE === undefined)
    problems.push('MTLS_ROLE_MAP: needs TLS_CLIENT_CA_FILE (only a verified client certificate is given a role)');
  const mtlsConfigured = values.TLS_CERT_FILE !== undefined && values.TLS_CLIENT_CA_FILE !== undefined;
  if (production && !mtlsConfigured)
    problems.push(
      'TLS_CERT_FILE, TLS_KEY_FILE and TLS_CLIENT_CA_FILE: required when NODE_ENV=production (no plain HTTP, no unverified service callers)',
    );
  const host = values.HOST ?? '127.0.0.1';
  if (!production && !mtlsConfigured && values.DEV_SKIP_MTLS !== true && !isLoopbackHost(host))
    problems.push(
      `HOST: ${host} is reachable from other machines: set TLS_CERT_FILE, TLS_KEY_FILE and TLS_CLIENT_CA_FILE, or DEV_SKIP_MTLS=true to serve without mTLS on purpose`,
    );
  return problems;
}

/**
 * Production start-up guards of the server (the signing ones live in
 * infra/wiring/config.ts and infra/wiring/signing.ts and run too): PostgreSQL, not
 * the embedded database; mTLS not skipped.
 */
function productionProblems(values: Values, production: boolean): string[] {
  if (!production) return [];
  const problems: string[] = [];
  if (values.DEV_SKIP_MTLS === true) problems.push('DEV_SKIP_MTLS: must be false when NODE_ENV=production');
  return problems;
}

/** The whole configuration of `chainbook serve`; throws one ConfigError naming every bad variable. */
export function loadServeConfig(env: NodeJS.ProcessEnv = process.env): ServeConfig {
  const problems: string[] = [];
  let config: Config | undefined;
  try {
    config = loadConfig(env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    problems.push(...(error.details['problems'] as string[]));
  }
  const parsed = schema.safeParse(env);
  if (!parsed.success)
    problems.push(...parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`));
  const production = (env['NODE_ENV'] ?? '').trim() === 'production';
  let tls: TlsConfig | undefined;
  if (parsed.success) {
    const values = parsed.data;
    problems.push(
      ...oidcProblems(values),
      ...productionProblems(values, production),
      ...tlsProblems(values, production),
    );
    const roleMap = values.MTLS_ROLE_MAP === undefined ? undefined : parseRoleMap(values.MTLS_ROLE_MAP);
    tls = loadTls(
      {
        certFile: values.TLS_CERT_FILE,
        keyFile: values.TLS_KEY_FILE,
        clientCaFile: values.TLS_CLIENT_CA_FILE,
        roleMap: typeof roleMap === 'string' ? undefined : roleMap,
      },
      problems,
    );
  }
  if (production && (env['DATABASE_URL'] ?? '').trim() === '')
    problems.push('DATABASE_URL: required when NODE_ENV=production (the embedded database is for development)');
  if (problems.length > 0 || !config || !parsed.success) throw new ConfigError(problems);
  return { config, http: httpConfigOf(parsed.data, config, tls) };
}
