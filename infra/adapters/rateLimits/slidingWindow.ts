/**
 * A sliding-window log: a request is allowed when fewer than `limit` were
 * allowed for the same key in the last `windowMs`. On Redis (one sorted set
 * per key, trimmed, counted and added to in one Lua script, so every API
 * process shares it atomically) or in memory (one process). When refused, the
 * answer says when the oldest counted request leaves the window: the
 * Retry-After.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';

export interface WindowAnswer {
  allowed: boolean;
  /** Requests counted in the window, this one included when allowed. */
  count: number;
  /** When refused: milliseconds until a request would be allowed. */
  retryAfterMs: number;
}

export interface SlidingWindow {
  hit(key: string, limit: number, windowMs: number, nowMs: number): Promise<WindowAnswer>;
}

/** Keys the memory window keeps before it drops the idlest (docs/STYLE.md rule 7). */
export const MAX_MEMORY_KEYS = 100_000;

const SCRIPT = `
local key = KEYS[1]
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
local count = redis.call('ZCARD', key)
if count < limit then
  redis.call('ZADD', key, now, ARGV[4])
  redis.call('PEXPIRE', key, window)
  return {1, count + 1, 0}
end
local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
return {0, count, tonumber(oldest[2]) + window - now}
`;

export function redisSlidingWindow(redis: Redis, prefix: string): SlidingWindow {
  return {
    async hit(key, limit, windowMs, nowMs) {
      const member = `${nowMs}-${randomBytes(6).toString('hex')}`;
      const [allowed, count, retryAfterMs] = (await redis.eval(
        SCRIPT,
        1,
        `${prefix}-sw-${key}`,
        String(nowMs),
        String(windowMs),
        String(limit),
        member,
      )) as [number, number, number];
      return { allowed: allowed === 1, count, retryAfterMs: Math.max(0, retryAfterMs) };
    },
  };
}

export function memorySlidingWindow(): SlidingWindow {
  const logs = new Map<string, number[]>();
  return {
    async hit(key, limit, windowMs, nowMs) {
      const log = (logs.get(key) ?? []).filter((atMs) => atMs > nowMs - windowMs);
      logs.delete(key);
      const allowed = log.length < limit;
      if (allowed) log.push(nowMs);
      logs.set(key, log);
      if (logs.size > MAX_MEMORY_KEYS) logs.delete(logs.keys().next().value!);
      return { allowed, count: log.length, retryAfterMs: allowed ? 0 : log[0]! + windowMs - nowMs };
    },
  };
}
