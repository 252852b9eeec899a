/**
 * What the routes run on: the app's command deps with the store timed
 * (audit_append_latency_seconds) and the signer failing closed (any signing
 * failure is 503 SIGNING_UNAVAILABLE, never a 500), the rate limits, the
 * authenticator, readiness and the logger.
 */
import type { JWTVerifyGetKey } from 'jose';
import { ChainError, isChainError } from '../../../chain/errors.ts';
import type { Signer } from '../../../chain/signer.ts';
import type { EventStore } from '../../../chain/store.ts';
import type { CommandDeps } from '../../../commands/command.ts';
import { CodedError } from '../../../domain/errors.ts';
import type { App } from '../../wiring/app.ts';
import { auditAppendLatencySeconds } from '../../adapters/metrics.ts';
import { authenticator } from './auth/authenticate.ts';
import { readTokenFile } from './auth/tokens.ts';
import type { ServeConfig } from '../../wiring/httpConfig.ts';
import { createLogger, type Logger } from './logger.ts';
import { openApiDocument } from './openapi.ts';
import { rateLimits } from './rateLimits.ts';
import { readinessCheck } from './readiness.ts';
import type { HttpServices, RouteSpec } from './route.ts';

/** The event store with every append timed, by outcome. */
export function timedStore(store: EventStore): EventStore {
  return {
    async append(chain, events, options) {
      const started = performance.now();
      try {
        const result = await store.append(chain, events, options);
        auditAppendLatencySeconds.observe({ outcome: 'ok' }, (performance.now() - started) / 1000);
        return result;
      } catch (error) {
        auditAppendLatencySeconds.observe({ outcome: error instanceof CodedError ? error.code : 'error' }, (performance.now() - started) / 1000);
        throw error;
      }
    },
    readStream: (stream, options) => store.readStream(stream, options),
    readChain: (chain, options) => store.readChain(chain, options),
    head: (chain) => store.head(chain),
    listChains: () => store.listChains(),
    createChain: (chain) => store.createChain(chain),
    close: () => store.close(),
  };
}

/** Documents signed outside the writer (manifest approvals, proofs): a failing signer is SIGNING_UNAVAILABLE. */
export function failClosedSigner(signer: CommandDeps['signer']): CommandDeps['signer'] {
  return {
    kid: signer.kid,
    algorithm: signer.algorithm,
    async signMessage(message: Uint8Array) {
      try {
        return await signer.signMessage(message);
      } catch (error) {
        if (isChainError(error, 'SIGNING_UNAVAILABLE')) throw error;
        const reason = error instanceof Error ? error.message : String(error);
        throw new ChainError('SIGNING_UNAVAILABLE', `signer ${signer.kid} could not sign: ${reason}`, { kid: signer.kid, reason });
      }
    },
  } satisfies Pick<Signer, 'kid' | 'algorithm' | 'signMessage'>;
}

export interface ServicesOptions {
  logger?: Logger;
  now?: () => string;
  /** Tests: verify OIDC tokens against these keys instead of fetching the JWKS URL. */
  jwksKeys?: JWTVerifyGetKey;
}

export function createServices(app: App, serve: ServeConfig, routes: readonly RouteSpec[], options: ServicesOptions = {}): HttpServices {
  const { config, http } = serve;
  const tokens = [...readTokenFile(http.tokensPath), ...http.tokens];
  const deps: CommandDeps = { ...app.deps, store: timedStore(app.deps.store), signer: failClosedSigner(app.deps.signer) };
  let document: unknown;
  return {
    app,
    deps,
    db: app.runtime.db,
    config,
    http,
    registry: app.runtime.registry,
    rateLimits: rateLimits(http),
    authenticate: authenticator({ tokens, oidc: http.oidc, ...(options.jwksKeys ? { keys: options.jwksKeys } : {}) }),
    readiness: readinessCheck(app, app.runtime.registry, config.signingDisabledReason),
    logger: options.logger ?? createLogger(http.logLevel),
    openApi: () => (document ??= openApiDocument(routes)),
    now: options.now ?? (() => new Date().toISOString()),
  };
}
