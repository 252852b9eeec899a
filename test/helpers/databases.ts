/**
 * Real databases for tests. PostgreSQL: a uniquely named database per call on
 * the server of TEST_DATABASE_URL, dropped after; a migrated one is a copy of
 * a template database migrated once for this set of migrations (CREATE
 * DATABASE … TEMPLATE takes a fraction of the migrations' time). PGlite: a
 * copy of one migrated template folder per set of migrations (a fresh PGlite
 * takes seconds; a copy opens in a fraction of one).
 */
import { createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
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

/** A name for this set of migrations: a changed or added migration gets new templates. */
function migrationsKey(): string {
  const checksums = loadMigrations().map((migration) => migration.checksum);
  return createHash('sha256').update(checksums.join()).digest('hex').slice(0, 16);
}

/** Any number, the same in every test process: the lock under which the PostgreSQL template is built. */
const TEMPLATE_LOCK_ID = 0x636274706c;
let postgresTemplateName: Promise<string> | undefined;

/**
 * The migrated template database of these migrations on the test server, built by the first test
 * process that asks (the others wait on an advisory lock) and kept for later runs. Nothing ever
 * connects to it once built, as CREATE DATABASE … TEMPLATE requires.
 */
function postgresTemplate(): Promise<string> {
  postgresTemplateName ??= (async () => {
    const name = `chainbook_template_${migrationsKey()}`;
    const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await admin.connect();
    try {
      await admin.query('SELECT pg_advisory_lock($1)', [TEMPLATE_LOCK_ID]);
      const found = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
      if (found.rowCount === 0) {
        // Built under another name and renamed when complete: a run killed half-way leaves no template.
        const building = `${name}_${process.pid}`;
        await admin.query(`DROP DATABASE IF EXISTS ${building} WITH (FORCE)`);
        await admin.query(`CREATE DATABASE ${building}`);
        const db = openPostgres(withDatabase(TEST_DATABASE_URL, building), { poolSize: 1 });
        try {
          await migrate(db);
        } finally {
          await db.close();
        }
        await admin.query(`ALTER DATABASE ${building} RENAME TO ${name}`);
      }
    } finally {
      await admin.query('SELECT pg_advisory_unlock($1)', [TEMPLATE_LOCK_ID]).catch(() => undefined);
      await admin.end();
    }
    return name;
  })();
  return postgresTemplateName;
}

const TEST_DATABASE_NAME = /^chainbook_test_(\d+)_[0-9a-f]+$/;

function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Drops run one after another behind the tests instead of in their teardown: DROP DATABASE waits for
 * a checkpoint, about a second that no test needs to wait for. What a test process leaves undropped
 * when it exits is dropped by the first test process of a later run (its creator is gone).
 */
let dropping: Promise<void> = Promise.resolve();
function dropLater(name: string): Promise<void> {
  dropping = dropping.then(() => adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).catch(() => undefined);
  return Promise.resolve();
}

let leftoversDropped: Promise<void> | undefined;
function dropLeftovers(): Promise<void> {
  leftoversDropped ??= (async () => {
    const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await client.connect();
    try {
      const { rows } = await client.query<{ datname: string }>(
        "SELECT datname FROM pg_database WHERE datname LIKE 'chainbook\\_test\\_%'",
      );
      for (const { datname } of rows) {
        const pid = TEST_DATABASE_NAME.exec(datname)?.[1];
        if (pid !== undefined && !processIsAlive(Number(pid))) void dropLater(datname);
      }
    } finally {
      await client.end();
    }
  })().catch(() => undefined);
  return leftoversDropped;
}

/** An empty database on the test server, without migrations, or a copy of the migrated template. */
export async function createPostgresDatabase(
  options: { migrated?: boolean } = {},
): Promise<{ url: string; name: string; drop: () => Promise<void> }> {
  await dropLeftovers();
  const name = `chainbook_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  const template = options.migrated ? ` TEMPLATE ${await postgresTemplate()}` : '';
  await adminQuery(`CREATE DATABASE ${name}${template}`);
  // A commit waits for the server's write, not its flush to disk: what a crashed server could lose
  // is not what these tests check, and a flush per commit is most of a small transaction's time.
  await adminQuery(`ALTER DATABASE ${name} SET synchronous_commit = off`);
  return {
    url: withDatabase(TEST_DATABASE_URL, name),
    name,
    drop: () => dropLater(name),
  };
}

async function postgresTestDatabase(migrated: boolean): Promise<TestDatabase> {
  const { url, drop } = await createPostgresDatabase({ migrated });
  const db = openPostgres(url, { poolSize: 12 });
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
  const template = join(CACHE, `pglite-${migrationsKey()}`);
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
  // cp(1) copies the template's thousand small files in a fraction of fs.cpSync's time.
  if (migrated) execFileSync('cp', ['-a', `${await pgliteTemplate()}/.`, directory]);
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
