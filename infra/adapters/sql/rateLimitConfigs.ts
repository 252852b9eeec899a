/**
 * The tiered rate limits' configuration (migration 0012): `rate_limit_configs`
 * (points per window for a tier: a route class, or one operation such as
 * `submitManifest`) and `tier_threshold_configs` (trust-level multipliers per
 * role or actor, in thousandths). Every API process reads them again every few
 * seconds (infra/entrypoints/http/rateLimits.ts), so a change takes effect
 * without a restart.
 */
import type { SqlExecutor } from './sql.ts';

/** Rows read of each table (docs/STYLE.md rule 7): more are a configuration error, not something to page through. */
export const MAX_RATE_LIMIT_ROWS = 1000;

export interface RateLimitTier {
  points: number;
  windowSeconds: number;
}

export interface RateLimitTiers {
  tiers: ReadonlyMap<string, RateLimitTier>;
  /** `role:<Role>` or `actor:<id>` → multiplier (1 = as configured). */
  multipliers: ReadonlyMap<string, number>;
}

export async function readRateLimitTiers(db: SqlExecutor): Promise<RateLimitTiers> {
  const tiers = await db.query<{ tier: string; points: number; window_seconds: number }>(
    'SELECT tier, points, window_seconds FROM rate_limit_configs ORDER BY tier LIMIT $1',
    [MAX_RATE_LIMIT_ROWS],
  );
  const levels = await db.query<{ trust_level: string; multiplier_permille: number }>(
    'SELECT trust_level, multiplier_permille FROM tier_threshold_configs ORDER BY trust_level LIMIT $1',
    [MAX_RATE_LIMIT_ROWS],
  );
  return {
    tiers: new Map(
      tiers.rows.map((row) => [row.tier, { points: Number(row.points), windowSeconds: Number(row.window_seconds) }]),
    ),
    multipliers: new Map(levels.rows.map((row) => [row.trust_level, Number(row.multiplier_permille) / 1000])),
  };
}

/** Sets (or replaces) a tier's limit. */
export async function setRateLimitTier(
  db: SqlExecutor,
  tier: string,
  points: number,
  windowSeconds: number,
): Promise<void> {
  await db.query(
    `INSERT INTO rate_limit_configs (tier, points, window_seconds, updated_at) VALUES ($1, $2, $3, now())
     ON CONFLICT (tier) DO UPDATE SET points = EXCLUDED.points, window_seconds = EXCLUDED.window_seconds, updated_at = now()`,
    [tier, points, windowSeconds],
  );
}

/** Sets (or replaces) a trust level's multiplier, in thousandths. */
export async function setTrustMultiplier(
  db: SqlExecutor,
  trustLevel: string,
  multiplierPermille: number,
): Promise<void> {
  await db.query(
    `INSERT INTO tier_threshold_configs (trust_level, multiplier_permille, updated_at) VALUES ($1, $2, now())
     ON CONFLICT (trust_level) DO UPDATE SET multiplier_permille = EXCLUDED.multiplier_permille, updated_at = now()`,
    [trustLevel, multiplierPermille],
  );
}
