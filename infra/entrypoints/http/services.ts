/**
 * What the routes run on: the app's command deps (timed and failing closed
 * in infra/wiring/app.ts, as for every entry point), the rate limits, the
 * authenticator, readiness and the logger.
 */
import type { JWTVerifyGetKey } from 'jose';
import type { App } from '../../wiring/app.ts';
import { authenticator } from './auth/authenticate.ts';
import { readTokenFile } from './auth/tokens.ts';
import type { ServeConfig } from '../../wiring/httpConfig.ts';
import { createLogger, type Logger } from './logger.ts';
import { openApiDocument } from './openapi.ts';
import { rateLimits, warnOnFallback } from './rateLimits.ts';
import { readinessCheck } from './readiness.ts';
import type { HttpServices, RouteSpec } from './route.ts';

export interface ServicesOptions {
  logger?: Logger;
  now?: () => string;
  /** Tests: verify OIDC tokens against these keys instead of fetching the JWKS URL. */
  jwksKeys?: JWTVerifyGetKey;
}

export function createServices(
  app: App,
  serve: ServeConfig,
  routes: readonly RouteSpec[],
  options: ServicesOptions = {},
): HttpServices {
  const { config, http } = serve;
  const tokens = [...readTokenFile(http.tokensPath), ...http.tokens];
  let document: unknown;
  const logger = options.logger ?? createLogger(http.logLevel);
  return {
    app,
    deps: app.deps,
    db: app.runtime.db,
    config,
    http,
    registry: app.runtime.registry,
    rateLimits: rateLimits(
      http,
      warnOnFallback((fields, message) => logger.warn(fields, message)),
    ),
    authenticate: authenticator({ tokens, oidc: http.oidc, ...(options.jwksKeys ? { keys: options.jwksKeys } : {}) }),
    readiness: readinessCheck(app, app.runtime.registry, config.signingDisabledReason),
    logger,
    openApi: () => (document ??= openApiDocument(routes)),
    now: options.now ?? (() => new Date().toISOString()),
  };
}
