/**
 * Real databases for tests. PostgreSQL: a uniquely named database per call on
 * the server of TEST_DATABASE_URL, dropped after. PGlite: a copy of one
 * migrated template folder per test run (a fresh PGlite takes seconds; a copy
 * opens in a fraction of one).
 */
import { createHash, randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { loadMigrations, migrate } from '../../infra/adapters/sql/migrate.ts';
import { openPglite } from '../../infra/adapters/sql/pglite.ts';
import { openPostgres } from '../../infra/adapters/sql/postgres.ts';
import type { SqlDatabase } from '../../infra/adapters/sql/sql.ts';

export const TEST_DATABASE_URL = process.env['TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export type EngineName = 'postgres' | 'pglite';
export const ENGINES: readonly EngineName[] = ['postgres', 'pglite'];

export interface TestDatabase {
  engine: EngineName;
  db: SqlDatabase;
  /** postgres: the connection string; pglite: the folder given to openPglite. */
  location: string;
  /** Runs SQL as a superuser, bypassing the append-only triggers (tampering tests). */
  superuser(sql: string, params?: unknown[]): Promise<unknown[]>;
  /** Closes the connection, keeping the data (reopen with `location`). */
  closeOnly(): Promise<void>;
  /** Closes and deletes everything. */
  drop(): Promise<void>;
}

function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

async function adminQuery(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** An empty database on the test server, without migrations. */
export async function createPostgresDatabase(): Promise<{ url: string; name: string; drop: () => Promise<void> }> {
  const name = `chainbook_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  await adminQuery(`CREATE DATABASE ${name}`);
  return {
    url: withDatabase(TEST_DATABASE_URL, name),
    name,
    drop: () => adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  };
}

async function postgresTestDatabase(migrated: boolean): Promise<TestDatabase> {
  const { url, drop } = await createPostgresDatabase();
  const db = openPostgres(url, { poolSize: 12 });
  if (migrated) await migrate(db);
  return {
    engine: 'postgres',
    db,
    location: url,
    async superuser(sql, params) {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query('SET session_replication_role = replica');
        return (await client.query(sql, params)).rows;
      } finally {
        await client.end();
      }
    },
    closeOnly: () => db.close(),
    async drop() {
      await db.close().catch(() => undefined);
      await drop();
    },
  };
}

const CACHE = join(process.cwd(), 'node_modules', '.cache', 'chainbook-test');

/** The migrated PGlite template of this run's migrations, built once (processes racing for it wait on a lock folder). */
async function pgliteTemplate(): Promise<string> {
  const key = createHash('sha256')
    .update(
      loadMigrations()
        .map((m) => m.checksum)
        .join(),
    )
    .digest('hex')
    .slice(0, 16);
  const template = join(CACHE, `pglite-${key}`);
  if (existsSync(template)) return template;
  mkdirSync(CACHE, { recursive: true });
  const building = `${template}.${process.pid}.${randomBytes(4).toString('hex')}`;
  const db = await openPglite(building);
  await migrate(db);
  await db.close();
  try {
    renameSync(building, template);
  } catch {
    rmSync(building, { recursive: true, force: true }); // another process won the race
  }
  return template;
}

async function pgliteTestDatabase(migrated: boolean): Promise<TestDatabase> {
  const directory = mkdtempSync(join(tmpdir(), 'chainbook-pglite-'));
  if (migrated) cpSync(await pgliteTemplate(), directory, { recursive: true });
  const db = await openPglite(directory);
  return {
    engine: 'pglite',
    db,
    location: directory,
    async superuser(sql, params) {
      // One process, one connection: the test's own. Triggers are disabled for this statement only.
      return db.transaction(async (tx) => {
        await tx.exec('SET LOCAL session_replication_role = replica');
        return (await tx.query(sql, params)).rows;
      });
    },
    closeOnly: () => db.close(),
    async drop() {
      await db.close().catch(() => undefined);
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

export function openTestDatabase(engine: EngineName, options: { migrated?: boolean } = {}): Promise<TestDatabase> {
  const migrated = options.migrated ?? true;
  return engine === 'postgres' ? postgresTestDatabase(migrated) : pgliteTestDatabase(migrated);
}
