/**
 * What the routes run on: the app's command deps (timed and failing closed
 * in infra/wiring/app.ts, as for every entry point), the rate limits, the
 * authenticator, readiness and the logger.
 */
import { setMaxListeners } from 'node:events';
import type { JWTVerifyGetKey } from 'jose';
import type { App } from '../../wiring/app.ts';
import { authenticator, type KeySetHealth } from './auth/authenticate.ts';
import { tokenFileSource } from './auth/tokens.ts';
import { mtlsAuthenticator } from './auth/clientCertificate.ts';
import type { ServeConfig, TokenEntry } from '../../wiring/httpConfig.ts';
import { createLogger, type Logger } from './logger.ts';
import { openApiDocument } from './openapi.ts';
import { openApiYaml } from './openApiFile.ts';
import { rateLimits, warnOnFallback } from './rateLimits.ts';
import { readinessCheck, type Check } from './readiness.ts';
import { readRateLimitTiers } from '../../adapters/sql/rateLimitConfigs.ts';
import type { HttpServices, RouteSpec } from './route.ts';
import { MAX_STREAM_SUBSCRIBERS } from './routes/chainStream.ts';

export interface ServicesOptions {
  logger?: Logger;
  now?: () => string;
  /** Tests: verify OIDC tokens against these keys instead of fetching the JWKS URL. */
  jwksKeys?: JWTVerifyGetKey;
  /** With KAFKA_BROKERS: whether the broker answers and the relay runs, for /ready (reported, never not-ready). */
  kafka?: () => Promise<Check>;
  /** The text of OPENAPI_PATH's file, checked at start (openApiFile.ts); else GET /openapi.yaml answers the generated document. */
  openApiYaml?: string;
}

export function createServices(
  app: App,
  serve: ServeConfig,
  routes: readonly RouteSpec[],
  options: ServicesOptions = {},
): HttpServices {
  const { config, http } = serve;
  let document: unknown;
  let yaml = options.openApiYaml;
  const logger = options.logger ?? createLogger(http.logLevel);
  const fileTokens = tokenFileSource(http.tokensPath, (error) =>
    logger.error({ err: error instanceof Error ? error.message : String(error), path: http.tokensPath }, 'token file'),
  );
  let combined: { file: readonly unknown[]; tokens: readonly TokenEntry[] } | undefined;
  // The same array while the file is unchanged, so that the authenticator keeps its table.
  const tokens = (): readonly TokenEntry[] => {
    const file = fileTokens();
    if (combined?.file !== file) combined = { file, tokens: [...file, ...http.tokens] };
    return combined.tokens;
  };
  const keySetHealth: KeySetHealth = { lastFailure: undefined, lastSuccessAtMs: undefined };
  const streams = new AbortController();
  // Each waiting subscription listens on it (GET /chain/stream, at most MAX_STREAM_SUBSCRIBERS): not a leak.
  setMaxListeners(MAX_STREAM_SUBSCRIBERS + 10, streams.signal);
  const limits = rateLimits(
    http,
    warnOnFallback((fields, message) => logger.warn(fields, message)),
    { read: () => readRateLimitTiers(app.runtime.db), refreshMs: http.rateLimits.configRefreshMs },
    (error) =>
      logger.warn(
        { err: error instanceof Error ? error.message : String(error) },
        'rate limits: the tiers could not be read; the last ones read stay in force (none read yet: 503 RATE_LIMITS_UNAVAILABLE)',
      ),
  );
  return {
    app,
    deps: app.deps,
    db: app.runtime.db,
    config,
    http,
    registry: app.runtime.registry,
    rateLimits: limits,
    authenticate: mtlsAuthenticator(
      http.mtls,
      http.tls?.roleMap ?? { byUri: new Map(), byCommonName: new Map() },
      authenticator({
        tokens,
        oidc: http.oidc,
        keySetHealth,
        onKeySetFailure: (message) =>
          logger.error({ jwksUrl: http.oidc?.jwksUrl, err: message }, 'OIDC key set cannot be fetched; JWTs get 503'),
        ...(options.jwksKeys ? { keys: options.jwksKeys } : {}),
      }),
    ),
    readiness: readinessCheck(
      app,
      app.runtime.registry,
      config.signingDisabledReason,
      http.oidc ? { health: keySetHealth, jwksUrl: http.oidc.jwksUrl } : undefined,
      options.kafka,
      limits.ping,
      () => limits.tiersRead(),
    ),
    logger,
    openApi: () => (document ??= openApiDocument(routes)),
    openApiYaml: () => (yaml ??= openApiYaml((document ??= openApiDocument(routes)))),
    now: options.now ?? (() => new Date().toISOString()),
    streams: { signal: streams.signal, stop: () => streams.abort() },
  };
}
