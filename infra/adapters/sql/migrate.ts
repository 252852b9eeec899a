/**
 * Numbered migrations (`NNNN_name.sql`), applied in order, each in its own
 * transaction, under an advisory lock so that processes starting together
 * apply each exactly once. A migration that changed after it was applied, or
 * a database newer than this software, stops start-up with a clear message.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { assert, CodedError } from '../../../domain/errors.ts';
import type { SqlDatabase } from './sql.ts';

export const MIGRATIONS_DIRECTORY = fileURLToPath(new URL('./migrations/', import.meta.url));
const MIGRATION_FILE = /^(\d{4})_([a-z0-9_]+)\.sql$/;
/** Any constant: the advisory lock id of migrations. */
const MIGRATION_LOCK_ID = 7_340_115;

export interface Migration {
  version: number;
  name: string;
  sql: string;
  checksum: string;
}

export function loadMigrations(directory = MIGRATIONS_DIRECTORY): Migration[] {
  const migrations = readdirSync(directory)
    .filter((file) => MIGRATION_FILE.test(file))
    .sort()
    .map((file) => {
      const [, version, name] = MIGRATION_FILE.exec(file)!;
      const sql = readFileSync(`${directory}/${file}`, 'utf8');
      return { version: Number(version), name: name!, sql, checksum: createHash('sha256').update(sql).digest('hex') };
    });
  // Strictly increasing, not necessarily contiguous: numbers are handed to
  // branches developed side by side, and one may land before a lower one.
  migrations.forEach((migration, index) => {
    const previous = index === 0 ? 0 : migrations[index - 1]!.version;
    assert(
      migration.version > previous && migration.version >= 1,
      `migration numbers must increase from 1 without repeating (found ${migration.version} after ${previous})`,
    );
  });
  return migrations;
}

interface AppliedRow {
  version: number;
  name: string;
  checksum: string;
}

const MIGRATIONS_TABLE = `CREATE TABLE IF NOT EXISTS schema_migrations (
  version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`;

function checkApplied(applied: readonly AppliedRow[], known: readonly Migration[]): void {
  for (const row of applied) {
    const migration = known.find((candidate) => candidate.version === row.version);
    if (!migration) {
      throw new CodedError(
        'DATABASE_NEWER_THAN_SOFTWARE',
        `the database has migration ${row.version} (${row.name}), which this version of chainbook does not know; upgrade chainbook`,
        {
          version: row.version,
        },
      );
    }
    if (migration.checksum !== row.checksum) {
      throw new CodedError(
        'MIGRATION_CHANGED',
        `migration ${row.version} (${row.name}) changed after it was applied; landed migrations are never edited`,
        {
          version: row.version,
        },
      );
    }
  }
}

/** Applies every pending migration; returns the versions it applied. */
export async function migrate(db: SqlDatabase, known: readonly Migration[] = loadMigrations()): Promise<number[]> {
  // Under the lock: two processes creating the table at once would collide.
  await db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_ID]);
    await tx.exec(MIGRATIONS_TABLE);
  });
  const applied: number[] = [];
  for (const migration of known) {
    const done = await db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_ID]);
      const { rows } = await tx.query<AppliedRow>(
        'SELECT version, name, checksum FROM schema_migrations ORDER BY version',
      );
      checkApplied(rows, known);
      if (rows.some((row) => row.version === migration.version)) return false;
      await tx.exec(migration.sql);
      await tx.query('INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)', [
        migration.version,
        migration.name,
        migration.checksum,
      ]);
      return true;
    });
    if (done) applied.push(migration.version);
  }
  return applied;
}

/** Pending migrations, without applying them (for /ready and `chainbook db status`). */
export async function pendingMigrations(
  db: SqlDatabase,
  known: readonly Migration[] = loadMigrations(),
): Promise<Migration[]> {
  const { rows: table } = await db.query<{ name: string | null }>(
    `SELECT to_regclass('schema_migrations')::text AS name`,
  );
  if (table[0]?.name == null) return [...known];
  const { rows } = await db.query<AppliedRow>('SELECT version, name, checksum FROM schema_migrations ORDER BY version');
  checkApplied(rows, known);
  return known.filter((migration) => !rows.some((row) => row.version === migration.version));
}
