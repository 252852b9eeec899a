/**
 * Wiring: the database the configuration names, migrated; the signer and the
 * registry in use; the event store over them. The CLI, the HTTP server and
 * the tests all start here.
 */
import { join } from 'node:path';
import type { SignerRegistry } from '../../chain/registry.ts';
import type { Signer } from '../../chain/signer.ts';
import type { InlineHandler } from '../../chain/writer.ts';
import { CodedError } from '../../domain/errors.ts';
import { projectRecords, staleProjections } from '../../projections/projections.ts';
import type { Config } from './config.ts';
import { migrate } from '../adapters/sql/migrate.ts';
import { openPglite } from '../adapters/sql/pglite.ts';
import { openPostgres } from '../adapters/sql/postgres.ts';
import type { SqlDatabase, SqlExecutor } from '../adapters/sql/sql.ts';
import { loadRegistryFile } from '../adapters/signers/registryFile.ts';
import { openSigning as openConfiguredSigning } from './signing.ts';
import { SqlEventStore } from '../adapters/sql/sqlEventStore.ts';

/** Opens the configured database and applies pending migrations. */
export async function openDatabase(
  config: Pick<Config, 'databaseUrl' | 'dataDir'> & Partial<Pick<Config, 'preparedStatements'>>,
): Promise<SqlDatabase> {
  const db = config.databaseUrl
    ? openPostgres(config.databaseUrl, { preparedStatements: config.preparedStatements ?? true })
    : await openPglite(join(config.dataDir, 'db'));
  try {
    await migrate(db);
  } catch (error) {
    await db.close();
    throw error;
  }
  return db;
}

export interface Runtime {
  config: Config;
  db: SqlDatabase;
  store: SqlEventStore;
  signer: Signer;
  registry: SignerRegistry;
  close(): Promise<void>;
}

export interface RuntimeOptions {
  /** An already open database (tests); otherwise the configured one. */
  db?: SqlDatabase;
  /** A signer other than the configured one (tests, break-glass), used as given, without the start-up guards. */
  signer?: Signer;
  /**
   * Fold every appended batch into the projections inline (default true), so
   * that every path that appends, commands or operator tools, keeps them
   * current. Only tests of the bare chain, appending arbitrary events, turn
   * this off.
   */
  projections?: boolean;
  nowMs?: () => number;
  /** False only in bench/append.ts, which measures what the Merkle tree costs (chain/writerDeps.ts). */
  merkleTree?: boolean;
}

/** Folds every appended batch into the projections, in the append transaction. */
export const projectionsInline: InlineHandler<SqlExecutor> = (tx, records) => projectRecords(tx, records);

/** Projections built by another version of chainbook must be rebuilt before anything is appended. */
async function checkProjections(db: SqlDatabase): Promise<void> {
  const stale = await staleProjections(db);
  if (stale.length > 0) {
    throw new CodedError(
      'PROJECTIONS_STALE',
      `projections ${stale.join(', ')} were built by another version of chainbook; run \`chainbook replay\` to rebuild them`,
      { stale },
    );
  }
}

/**
 * The signer in use (SIGNING_BACKEND) and the registry it is published in.
 * The configured signer has passed the start-up guards (infra/wiring/signing.ts):
 * registered, in its window, same public key, a probe signs and verifies.
 */
async function openSigning(
  config: Config,
  options: RuntimeOptions,
): Promise<{ signer: Signer; registry: SignerRegistry }> {
  if (options.signer) return { signer: options.signer, registry: loadRegistryFile(config.signersPath) };
  return openConfiguredSigning(config);
}

export async function openRuntime(config: Config, options: RuntimeOptions = {}): Promise<Runtime> {
  const { signer, registry } = await openSigning(config, options);
  const projections = options.projections ?? true;
  let db: SqlDatabase | undefined;
  try {
    db = options.db ?? (await openDatabase(config));
    if (projections) await checkProjections(db);
  } catch (error) {
    if (!options.signer) await signer.close();
    if (db && !options.db) await db.close();
    throw error;
  }
  const store = new SqlEventStore(db, {
    signer,
    inline: projections ? projectionsInline : undefined,
    signingDisabledReason: () => config.signingDisabledReason,
    nowMs: options.nowMs,
    merkleTree: options.merkleTree,
  });
  return {
    config,
    db,
    store,
    signer,
    registry,
    async close() {
      await store.close();
      await signer.close();
      if (!options.db) await db.close();
    },
  };
}
