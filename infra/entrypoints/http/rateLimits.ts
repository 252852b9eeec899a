/**
 * Rate limits per actor and route class (commands, queries, webhooks), per
 * minute, with rate-limiter-flexible: in memory by default, in Redis when
 * REDIS_URL is set so that every API process shares the counts. When Redis
 * fails, an in-memory limiter of the same size takes over (no request is
 * refused or let through unbounded because Redis is down).
 */
import { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { HttpError } from './errors.ts';
import type { HttpConfig } from '../../wiring/httpConfig.ts';

export const ROUTE_CLASSES = ['command', 'query', 'webhook'] as const;
export type RouteClass = (typeof ROUTE_CLASSES)[number];
const WINDOW_SECONDS = 60;
/** How long a Redis call may take before it fails and the in-memory limiter answers instead. */
const REDIS_COMMAND_TIMEOUT_MS = 250;

export interface RateLimits {
  /** Counts one request; throws 429 RATE_LIMITED with Retry-After when over the limit. */
  consume(routeClass: RouteClass, key: string): Promise<void>;
  close(): Promise<void>;
}

function pointsOf(config: HttpConfig['rateLimits'], routeClass: RouteClass): number {
  if (routeClass === 'command') return config.commandsPerMinute;
  if (routeClass === 'query') return config.queriesPerMinute;
  return config.webhooksPerMinute;
}

function limiterFor(
  prefix: string,
  routeClass: RouteClass,
  points: number,
  redis: Redis | undefined,
): RateLimiterAbstract {
  const memory = new RateLimiterMemory({ keyPrefix: `${prefix}-${routeClass}`, points, duration: WINDOW_SECONDS });
  if (!redis) return memory;
  return new RateLimiterRedis({
    storeClient: redis,
    keyPrefix: `${prefix}-rl-${routeClass}`,
    points,
    duration: WINDOW_SECONDS,
    rejectIfRedisNotReady: true,
    insuranceLimiter: memory,
  });
}

export function rateLimits(config: Pick<HttpConfig, 'rateLimits' | 'redisUrl' | 'rateLimitKeyPrefix'>): RateLimits {
  // enableOfflineQueue off: while Redis is unreachable, calls fail at once and the insurance limiter counts.
  const redis = config.redisUrl
    ? new Redis(config.redisUrl, {
        enableOfflineQueue: false,
        maxRetriesPerRequest: 1,
        commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
      })
    : undefined;
  redis?.on('error', () => undefined); // reconnects by itself; the insurance limiter covers the gap
  const limiters = new Map(
    ROUTE_CLASSES.map((routeClass) => [
      routeClass,
      limiterFor(config.rateLimitKeyPrefix, routeClass, pointsOf(config.rateLimits, routeClass), redis),
    ]),
  );
  return {
    async consume(routeClass, key) {
      try {
        await limiters.get(routeClass)!.consume(key);
      } catch (rejection) {
        if (!(rejection instanceof RateLimiterRes)) throw rejection;
        const retryAfterSeconds = Math.max(1, Math.ceil(rejection.msBeforeNext / 1000));
        throw new HttpError(
          'RATE_LIMITED',
          `more than ${pointsOf(config.rateLimits, routeClass)} ${routeClass} requests per minute`,
          { routeClass, retryAfterSeconds },
          { 'Retry-After': String(retryAfterSeconds) },
        );
      }
    },
    async close() {
      if (redis) await redis.quit().catch(() => redis.disconnect());
    },
  };
}
