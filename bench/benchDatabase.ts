/**
 * Benchmarks run on a database of their own on the PostgreSQL server of
 * BENCH_DATABASE_URL (default: the local test server), created for the run
 * and dropped after unless --keep is given.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { openApp, type App } from '../infra/wiring/app.ts';
import { loadConfig } from '../infra/wiring/config.ts';
import { migrate } from '../infra/adapters/sql/migrate.ts';
import { openPostgres } from '../infra/adapters/sql/postgres.ts';

export const BENCH_SERVER_URL = process.env['BENCH_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';

async function admin(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: BENCH_SERVER_URL });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

export interface BenchApp extends App {
  url: string;
  dispose(): Promise<void>;
}

/** A migrated database (a new one, or `name` when it exists and `reuse` is set) and the app on it. */
export async function benchApp(
  name: string,
  options: { keep: boolean; reuse: boolean; poolSize: number },
): Promise<BenchApp> {
  const url = new URL(BENCH_SERVER_URL);
  url.pathname = `/${name}`;
  if (!options.reuse) {
    await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin(`CREATE DATABASE ${name}`);
  }
  const db = openPostgres(url.toString(), { poolSize: options.poolSize, applicationName: 'chainbook-bench' });
  await migrate(db);
  // The local signer's key and registry live in a data folder kept with the database when --keep is given.
  const dataDir = options.keep ? join(tmpdir(), `${name}-data`) : mkdtempSync(join(tmpdir(), 'chainbook-bench-'));
  const app = await openApp(loadConfig({ CHAINBOOK_DATA_DIR: dataDir }), { db });
  return {
    ...app,
    url: url.toString(),
    async dispose() {
      await app.close();
      await db.close();
      if (!options.keep) {
        await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        rmSync(dataDir, { recursive: true, force: true });
      }
    },
  };
}

export function percentile(sorted: readonly number[], fraction: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))]!;
}

/** `--name value` arguments as a map; flags without a value are "true". */
export function parseArguments(argv: readonly string[]): Map<string, string> {
  const options = new Map<string, string>();
  for (let index = 0; index < argv.length; index++) {
    const argument = argv[index]!;
    if (!argument.startsWith('--')) continue;
    const next = argv[index + 1];
    if (next !== undefined && !next.startsWith('--')) {
      options.set(argument.slice(2), next);
      index += 1;
    } else options.set(argument.slice(2), 'true');
  }
  return options;
}

export function numberOption(options: Map<string, string>, name: string, fallback: number): number {
  const value = options.get(name);
  if (value === undefined) return fallback;
  const parsed = Number(value.replaceAll('_', ''));
  if (!Number.isSafeInteger(parsed) || parsed < 0) throw new Error(`--${name} must be a non-negative integer`);
  return parsed;
}
