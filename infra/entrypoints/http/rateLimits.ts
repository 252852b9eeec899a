/**
 * Rate limits per minute, with rate-limiter-flexible: per client address
 * before authentication (an unauthenticated flood is refused before any token
 * is checked), then per actor and route class (commands, queries, webhooks;
 * a public route counts its caller's address). In memory by default, in Redis
 * when REDIS_URL is set so that every API process shares the counts.
 *
 * When Redis fails or answers later than RATE_LIMIT_REDIS_TIMEOUT_MS, the
 * request is counted by this process alone, against the same limit: fail
 * open, so that a Redis outage does not take the API down, but never
 * silently: each such decision counts in rate_limit_redis_fallbacks_total and
 * a warning is logged (at most one per FALLBACK_WARNING_INTERVAL_MS).
 *
 * Tiered limits (README, "Rate limits") come on top, from the database:
 * `rate_limit_configs` gives a tier's points per window, where a tier is a
 * route class (`command`, `query`, `webhook`) or what the actor does (a
 * route's operation id, such as `submitManifest`); `tier_threshold_configs`
 * gives trust multipliers per role (`role:Publisher`) or actor
 * (`actor:publisher-7`), the actor's own winning. They are counted in a
 * sliding window on Redis shared by every process (in memory without Redis,
 * and as the fallback), and read again every RATE_LIMIT_CONFIG_REFRESH_MS, so
 * a change takes effect without a restart. A table without rows adds no limit.
 *
 * Until the tiers have been read once, they fail closed: a request that would
 * be counted against them is refused with 503 RATE_LIMITS_UNAVAILABLE (and
 * Retry-After), rather than let through unlimited, and the read is tried again
 * at most every FIRST_READ_RETRY_MS. A process that cannot read the tables is
 * misconfigured (a missing grant or migration), and a limit that only exists
 * on paper is not one. Once read, a failed refresh keeps the last tiers read.
 */
import { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { rateLimitedTotal, rateLimitRedisFallbacksTotal } from '../../adapters/metrics.ts';
import {
  memorySlidingWindow,
  redisSlidingWindow,
  type SlidingWindow,
} from '../../adapters/rateLimits/slidingWindow.ts';
import type { RateLimitTier, RateLimitTiers } from '../../adapters/sql/rateLimitConfigs.ts';
import { HttpError } from './errors.ts';
import type { HttpConfig } from '../../wiring/httpConfig.ts';

export const ROUTE_CLASSES = ['command', 'query', 'webhook'] as const;
export type RouteClass = (typeof ROUTE_CLASSES)[number];
/** The limit counted before authentication, per client address. */
export type LimitClass = RouteClass | 'address';
const LIMIT_CLASSES: readonly LimitClass[] = [...ROUTE_CLASSES, 'address'];
const WINDOW_SECONDS = 60;
const FALLBACK_WARNING_INTERVAL_MS = 10_000;

/** Longest the server waits at start for its first Redis connection before it listens. */
const REDIS_START_WAIT_MS = 5000;

export interface RateLimits {
  /** Counts one request; throws 429 RATE_LIMITED with Retry-After when over the limit. */
  consume(limitClass: LimitClass, key: string): Promise<void>;
  /**
   * Counts one request against the configured tiers of its route class and of
   * its operation, scaled by the actor's trust multiplier; throws 429
   * RATE_LIMITED with Retry-After when one is exhausted.
   */
  consumeTier(routeClass: RouteClass, operationId: string, actor: TierActor | undefined, key: string): Promise<void>;
  /**
   * Resolves once Redis is connected, has failed, or REDIS_START_WAIT_MS passed:
   * without it the first requests of a new process would be counted alone
   * while the connection is still being made.
   */
  started(): Promise<void>;
  /** Pings Redis (/ready); undefined without REDIS_URL. */
  readonly ping: (() => Promise<void>) | undefined;
  /**
   * Whether the tiers have been read at least once (/ready): until then the tiered routes answer 503
   * RATE_LIMITS_UNAVAILABLE, and a process that can serve none of them is not ready. Asks for a read when one is due.
   */
  tiersRead(): Promise<boolean>;
  close(): Promise<void>;
}

export interface TierActor {
  id: string;
  role: string;
}

/** Where the tiers come from (infra/adapters/sql/rateLimitConfigs.ts), and how often they are read again. */
export interface TierSource {
  read(): Promise<RateLimitTiers>;
  refreshMs: number;
}

const NO_TIERS: RateLimitTiers = { tiers: new Map(), multipliers: new Map() };

/** Before the tiers were ever read, how often a failed read is tried again (a request waits for it). */
export const FIRST_READ_RETRY_MS = 1000;
const UNAVAILABLE_RETRY_AFTER_SECONDS = 5;

function tiersUnavailable(): HttpError {
  return new HttpError(
    'RATE_LIMITS_UNAVAILABLE',
    'the rate-limit tiers (rate_limit_configs, tier_threshold_configs) have not been read yet; try again shortly',
    { retryAfterSeconds: UNAVAILABLE_RETRY_AFTER_SECONDS },
    { 'Retry-After': String(UNAVAILABLE_RETRY_AFTER_SECONDS) },
  );
}

/**
 * The tiers as last read, read again once `refreshMs` passed; a failed read keeps the last ones. Until one
 * read has succeeded there are none to keep: undefined, which the caller refuses (fail closed).
 */
function cachedTiers(
  source: TierSource | undefined,
  onError: (error: unknown) => void,
): () => Promise<RateLimitTiers | undefined> {
  let current: RateLimitTiers | undefined = source === undefined ? NO_TIERS : undefined;
  let readAtMs = -Infinity;
  let reading: Promise<RateLimitTiers | undefined> | undefined;
  return async () => {
    if (source === undefined) return current;
    const waitMs = current === undefined ? Math.min(source.refreshMs, FIRST_READ_RETRY_MS) : source.refreshMs;
    if (Date.now() - readAtMs < waitMs) return current;
    reading ??= source
      .read()
      .then((tiers) => (current = tiers))
      .catch((error: unknown) => (onError(error), current))
      .finally(() => {
        readAtMs = Date.now();
        reading = undefined;
      });
    return reading;
  };
}

/** The actor's multiplier: its own, else its role's, else 1. */
export function multiplierOf(tiers: RateLimitTiers, actor: TierActor | undefined): number {
  if (actor === undefined) return 1;
  return tiers.multipliers.get(`actor:${actor.id}`) ?? tiers.multipliers.get(`role:${actor.role}`) ?? 1;
}

function tierLimited(tier: string, limit: number, config: RateLimitTier, retryAfterMs: number): HttpError {
  const retryAfterSeconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
  rateLimitedTotal.inc({ tier });
  return new HttpError(
    'RATE_LIMITED',
    `more than ${limit} ${tier} requests per ${config.windowSeconds} s`,
    { tier, routeClass: tier, limit, windowSeconds: config.windowSeconds, retryAfterSeconds },
    { 'Retry-After': String(retryAfterSeconds) },
  );
}

/** Told when Redis could not decide and this process counted alone. */
export type RedisFallbackListener = (limitClass: LimitClass, error: unknown) => void;

function pointsOf(config: HttpConfig['rateLimits'], limitClass: LimitClass): number {
  if (limitClass === 'command') return config.commandsPerMinute;
  if (limitClass === 'query') return config.queriesPerMinute;
  if (limitClass === 'address') return config.addressPerMinute;
  return config.webhooksPerMinute;
}

interface Limiter {
  shared: RateLimiterAbstract | undefined;
  local: RateLimiterAbstract;
}

function limiterFor(prefix: string, limitClass: LimitClass, points: number, redis: Redis | undefined): Limiter {
  const local = new RateLimiterMemory({ keyPrefix: `${prefix}-${limitClass}`, points, duration: WINDOW_SECONDS });
  if (!redis) return { shared: undefined, local };
  return {
    shared: new RateLimiterRedis({
      storeClient: redis,
      keyPrefix: `${prefix}-rl-${limitClass}`,
      points,
      duration: WINDOW_SECONDS,
      rejectIfRedisNotReady: true,
    }),
    local,
  };
}

function rateLimited(config: HttpConfig['rateLimits'], limitClass: LimitClass, rejection: RateLimiterRes): HttpError {
  const retryAfterSeconds = Math.max(1, Math.ceil(rejection.msBeforeNext / 1000));
  rateLimitedTotal.inc({ tier: limitClass });
  const what = limitClass === 'address' ? 'requests from one address' : `${limitClass} requests`;
  return new HttpError(
    'RATE_LIMITED',
    `more than ${pointsOf(config, limitClass)} ${what} per minute`,
    { routeClass: limitClass, retryAfterSeconds },
    { 'Retry-After': String(retryAfterSeconds) },
  );
}

export function rateLimits(
  config: Pick<HttpConfig, 'rateLimits' | 'redisUrl' | 'rateLimitKeyPrefix'>,
  onRedisFallback: RedisFallbackListener = () => undefined,
  tierSource?: TierSource,
  onTierReadError: (error: unknown) => void = () => undefined,
): RateLimits {
  // enableOfflineQueue off: while Redis is unreachable, calls fail at once and the process counts alone.
  const redis = config.redisUrl
    ? new Redis(config.redisUrl, {
        enableOfflineQueue: false,
        maxRetriesPerRequest: 1,
        commandTimeout: config.rateLimits.redisTimeoutMs,
      })
    : undefined;
  redis?.on('error', () => undefined); // reconnects by itself; each failed decision is reported below
  const connected = new Promise<void>((resolve) => {
    if (!redis) return resolve();
    const timer = setTimeout(resolve, REDIS_START_WAIT_MS);
    timer.unref();
    const done = () => (clearTimeout(timer), resolve());
    redis.once('ready', done);
    redis.once('error', done);
  });
  const limiters = new Map(
    LIMIT_CLASSES.map((limitClass) => [
      limitClass,
      limiterFor(config.rateLimitKeyPrefix, limitClass, pointsOf(config.rateLimits, limitClass), redis),
    ]),
  );
  const sharedWindow: SlidingWindow | undefined = redis && redisSlidingWindow(redis, config.rateLimitKeyPrefix);
  const localWindow = memorySlidingWindow();
  const tiersNow = cachedTiers(tierSource, onTierReadError);
  async function hitTier(tier: string, key: string, limit: number, windowMs: number) {
    const windowKey = `tier-${tier}-${key}`;
    const nowMs = Date.now();
    if (sharedWindow) {
      try {
        return await sharedWindow.hit(windowKey, limit, windowMs, nowMs);
      } catch (error) {
        rateLimitRedisFallbacksTotal.inc({ route_class: tier });
        onRedisFallback('command', error);
      }
    }
    return localWindow.hit(windowKey, limit, windowMs, nowMs);
  }
  async function decide(limitClass: LimitClass, key: string): Promise<void> {
    const limiter = limiters.get(limitClass)!;
    if (limiter.shared) {
      try {
        await limiter.shared.consume(key);
        return;
      } catch (error) {
        if (error instanceof RateLimiterRes) throw error;
        rateLimitRedisFallbacksTotal.inc({ route_class: limitClass });
        onRedisFallback(limitClass, error);
      }
    }
    await limiter.local.consume(key);
  }
  return {
    async consume(limitClass, key) {
      try {
        await decide(limitClass, key);
      } catch (rejection) {
        if (!(rejection instanceof RateLimiterRes)) throw rejection;
        throw rateLimited(config.rateLimits, limitClass, rejection);
      }
    },
    async consumeTier(routeClass, operationId, actor, key) {
      const tiers = await tiersNow();
      if (tiers === undefined) throw tiersUnavailable();
      if (tiers.tiers.size === 0) return;
      const multiplier = multiplierOf(tiers, actor);
      for (const tier of [routeClass, operationId]) {
        const configured = tiers.tiers.get(tier);
        if (configured === undefined) continue;
        const limit = Math.max(1, Math.floor(configured.points * multiplier));
        const answer = await hitTier(tier, key, limit, configured.windowSeconds * 1000);
        if (!answer.allowed) throw tierLimited(tier, limit, configured, answer.retryAfterMs);
      }
    },
    // The first read of the tiers is started with the connection, so that the first requests find them.
    started: () => Promise.all([connected, withinStartWait(tiersNow())]).then(() => undefined),
    tiersRead: async () => (await tiersNow()) !== undefined,
    ping: redis
      ? async () => {
          await redis.ping();
        }
      : undefined,
    async close() {
      if (redis) await redis.quit().catch(() => redis.disconnect());
    },
  };
}

/** Resolves when `work` settles or REDIS_START_WAIT_MS passed, whichever is first: the start never hangs on it. */
function withinStartWait(work: Promise<unknown>): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, REDIS_START_WAIT_MS);
    timer.unref();
    void work.then(
      () => (clearTimeout(timer), resolve()),
      () => (clearTimeout(timer), resolve()),
    );
  });
}

/** A listener that logs a warning at most once per FALLBACK_WARNING_INTERVAL_MS. */
export function warnOnFallback(
  warn: (fields: Record<string, unknown>, message: string) => void,
): RedisFallbackListener {
  let lastWarningMs = -Infinity;
  let since = 0;
  return (limitClass, error) => {
    since += 1;
    const now = Date.now();
    if (now - lastWarningMs < FALLBACK_WARNING_INTERVAL_MS) return;
    lastWarningMs = now;
    warn(
      { routeClass: limitClass, fallbacks: since, err: error instanceof Error ? error.message : String(error) },
      'rate limit: Redis failed or was slow; this process counts alone (rate_limit_redis_fallbacks_total)',
    );
    since = 0;
  };
}
