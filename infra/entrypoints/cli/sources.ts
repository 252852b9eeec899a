/**
 * Where read-only commands (audit-verify, dump) read from: a JSON Lines file,
 * a PostgreSQL URL, or the embedded database in a data folder. The database
 * is opened as it is, never migrated: an auditor's read-only role suffices.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import type { RecordReader } from '../../../verifier/reader.ts';
import type { Config } from '../../wiring/config.ts';
import { hasEvents } from '../../adapters/sql/eventLog.ts';
import { openPglite } from '../../adapters/sql/pglite.ts';
import { openPostgres } from '../../adapters/sql/postgres.ts';
import type { SqlDatabase } from '../../adapters/sql/sql.ts';
import { databaseReader } from '../../adapters/sql/databaseReader.ts';
import { fileReader } from '../../adapters/files/fileReader.ts';
import { UsageError } from './io.ts';

export interface SourceOptions {
  databaseUrl?: string;
  dataDir?: string;
  input?: string;
}

export function addSourceOptions(command: Command): Command {
  return command
    .option('-d, --database-url <url>', 'PostgreSQL to read (default: DATABASE_URL, else the embedded database)')
    .option('--data-dir <dir>', 'data folder of the embedded database (default: CHAINBOOK_DATA_DIR or ./.chainbook)')
    .option('-i, --input <file>', 'a JSON Lines file of records (chainbook dump output); - for standard input');
}

export interface OpenedSource {
  reader: RecordReader;
  db: SqlDatabase | undefined;
  close(): Promise<void>;
}

/** Opens the embedded database of a data folder only if it exists: reading must not create one. */
export async function openExistingPglite(dataDir: string): Promise<SqlDatabase> {
  const directory = join(resolve(dataDir), 'db');
  if (!existsSync(join(directory, 'pgdata')))
    throw new UsageError(`there is no embedded database in ${resolve(dataDir)}`);
  return openPglite(directory);
}

export async function openDatabaseSource(options: SourceOptions, config: Config): Promise<SqlDatabase> {
  const url = options.databaseUrl ?? (options.dataDir ? undefined : config.databaseUrl);
  if (url !== undefined) {
    if (!/^postgres(ql)?:\/\//.test(url))
      throw new UsageError('--database-url must be a postgres:// or postgresql:// URL');
    const db = openPostgres(url, { poolSize: 4, applicationName: 'chainbook-reader' });
    try {
      await hasEvents(db);
    } catch (error) {
      await db.close();
      throw new UsageError(`cannot read the event log at ${db.location}: ${(error as Error).message}`);
    }
    return db;
  }
  return openExistingPglite(options.dataDir ?? config.dataDir);
}

export async function openSource(options: SourceOptions, config: Config): Promise<OpenedSource> {
  if (options.input !== undefined) {
    if (options.databaseUrl !== undefined || options.dataDir !== undefined)
      throw new UsageError('--input cannot be combined with a database option');
    return { reader: fileReader(options.input), db: undefined, close: async () => undefined };
  }
  const db = await openDatabaseSource(options, config);
  return { reader: databaseReader(db), db, close: () => db.close() };
}
