/**
 * Tiered rate limits (README, "Rate limits"): two `chainbook serve` processes
 * on one PostgreSQL and one Redis share a tier's sliding window; the tiers and
 * trust multipliers are rows of rate_limit_configs and tier_threshold_configs,
 * and a change takes effect without a restart.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import test, { type ExecutionContext } from 'ava';
import { setRateLimitTier, setTrustMultiplier } from '../../../../infra/adapters/sql/rateLimitConfigs.ts';
import { CLI } from '../../../helpers/cli.ts';
import { openTestDatabase } from '../../../helpers/databases.ts';
import { tempDir } from '../../../helpers/runtime.ts';

async function serve(t: ExecutionContext, env: Record<string, string>): Promise<string> {
  const { DATABASE_URL: _ignored, ...inherited } = process.env;
  const child = spawn(process.execPath, [...CLI, 'serve'], {
    env: { ...inherited, PORT: '0', LOG_LEVEL: 'warn', ...env },
    stdio: 'pipe',
  });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  t.teardown(async () => {
    child.kill('SIGTERM');
    await exited;
  });
  return new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "serving" line: ${stdout} ${stderr}`)), 60_000);
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
      const match = /serving (http:\/\/\S+)/.exec(stdout);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
    child.on('close', () => reject(new Error(`serve exited: ${stderr}`)));
  });
}

test('two serve processes on one Redis share a database-configured tier; a trust multiplier change applies without a restart', async (t) => {
  const database = await openTestDatabase('postgres');
  t.teardown(() => database.drop());
  const dataDir = tempDir('tiers');
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const token = `cb_${randomBytes(32).toString('base64url')}`;
  const env = {
    DATABASE_URL: database.location,
    CHAINBOOK_DATA_DIR: dataDir,
    REDIS_URL: 'redis://127.0.0.1:6379',
    RATE_LIMIT_KEY_PREFIX: `tiers-${randomBytes(6).toString('hex')}`,
    RATE_LIMIT_REDIS_TIMEOUT_MS: '10000',
    RATE_LIMIT_CONFIG_REFRESH_MS: '200',
    API_TOKENS: `buyer-1:Buyer:${createHash('sha256').update(token).digest('hex')}`,
  };
  // What a buyer does when it looks at its orders: 3 per minute, counted wherever it lands.
  await setRateLimitTier(database.db, 'listOrders', 3, 60);
  const first = await serve(t, env);
  const second = await serve(t, env);
  const get = (url: string) => fetch(`${url}/orders`, { headers: { authorization: `Bearer ${token}` } });
  const statuses: number[] = [];
  for (const url of [first, second, first]) statuses.push((await get(url)).status);
  t.deepEqual(statuses, [200, 200, 200]);
  const refused = await get(second);
  t.is(refused.status, 429);
  const retryAfter = Number(refused.headers.get('retry-after'));
  t.true(retryAfter >= 1 && retryAfter <= 60, String(retryAfter));
  const body = (await refused.json()) as { error: { code: string; message: string; details: Record<string, unknown> } };
  t.is(body.error.code, 'RATE_LIMITED');
  t.like(body.error.details, { tier: 'listOrders', limit: 3, windowSeconds: 60 });
  // Buyers are trusted twice as much from now on: both processes read it within RATE_LIMIT_CONFIG_REFRESH_MS.
  await setTrustMultiplier(database.db, 'role:Buyer', 2000);
  await new Promise((resolve) => setTimeout(resolve, 600));
  const after: number[] = [];
  for (const url of [first, second, first, second]) after.push((await get(url)).status);
  t.deepEqual(after, [200, 200, 200, 429], 'six in the window now, shared by both');
  const metrics = await (await fetch(`${second}/metrics`)).text();
  t.regex(metrics, /rate_limited_total\{tier="listOrders"\} [1-9]/);
});

test('with Redis up and the tier tables unreadable, tiered routes fail closed with 503 until the tiers are read once', async (t) => {
  const database = await openTestDatabase('postgres');
  t.teardown(() => database.drop());
  const dataDir = tempDir('tiers-closed');
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const token = `cb_${randomBytes(32).toString('base64url')}`;
  // A missing grant or migration, as the process sees it: the table cannot be read.
  await database.db.query('ALTER TABLE rate_limit_configs RENAME TO rate_limit_configs_away');
  const url = await serve(t, {
    DATABASE_URL: database.location,
    CHAINBOOK_DATA_DIR: dataDir,
    REDIS_URL: 'redis://127.0.0.1:6379',
    RATE_LIMIT_KEY_PREFIX: `tiers-${randomBytes(6).toString('hex')}`,
    RATE_LIMIT_CONFIG_REFRESH_MS: '200',
    API_TOKENS: `buyer-1:Buyer:${createHash('sha256').update(token).digest('hex')}`,
  });
  const get = () => fetch(`${url}/catalog`, { headers: { authorization: `Bearer ${token}` } });
  const refused = await get();
  t.is(refused.status, 503);
  t.is(refused.headers.get('retry-after'), '5');
  const body = (await refused.json()) as { error: { code: string; message: string; details: Record<string, unknown> } };
  t.is(body.error.code, 'RATE_LIMITS_UNAVAILABLE');
  t.like(body.error.details, { retryAfterSeconds: 5 });
  t.is((await fetch(`${url}/health`)).status, 200, 'routes without tiers are not affected');
  // A process that can serve none of its tiered routes is taken out of rotation.
  const notReady = await fetch(`${url}/ready`);
  t.is(notReady.status, 503);
  const report = (await notReady.json()) as { status: string; checks: { rateLimits?: { ok: boolean } } };
  t.is(report.status, 'not-ready');
  t.false(report.checks.rateLimits?.ok);
  // The table is back, with a tier: the next read (within a second) puts it in force.
  await database.db.query('ALTER TABLE rate_limit_configs_away RENAME TO rate_limit_configs');
  await setRateLimitTier(database.db, 'listCatalog', 2, 60);
  await new Promise((resolve) => setTimeout(resolve, 1200));
  const statuses: number[] = [];
  for (let index = 0; index < 3; index += 1) statuses.push((await get()).status);
  t.deepEqual(statuses, [200, 200, 429]);
  const ready = (await (await fetch(`${url}/ready`)).json()) as { checks: { rateLimits?: { ok: boolean } } };
  t.true(ready.checks.rateLimits?.ok);
});
