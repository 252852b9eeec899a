/**
 * `chainbook index`: the verifying indexer (infra/adapters/stream/indexer.ts)
 * following another instance's GET /chain/stream into a database of its own
 * (`--index-database-url`), and optionally the per-event objects
 * `audit/YYYY/MM/DD/<id>.json` into a folder or `s3://bucket/prefix`
 * (`--objects`, with the archive's Object Lock settings). The token is read
 * from the environment variable `--token-env` names (default
 * CHAINBOOK_STREAM_TOKEN), never from the command line. It runs until
 * SIGINT or SIGTERM, or until `--until-seq` is indexed; a record that fails
 * verification stops it with exit 1 and the finding.
 */
import type { Command } from 'commander';
import { runIndexer } from '../../adapters/stream/indexer.ts';
import { openPostgres } from '../../adapters/sql/postgres.ts';
import { closeStore, openArchiveStore } from '../../wiring/archiveTargets.ts';
import { loadConfig } from '../../wiring/config.ts';
import { registryFor } from './auditVerify.ts';
import { EXIT, parseCount, UsageError } from './io.ts';

interface IndexOptions {
  fromUrl: string;
  tokenEnv: string;
  indexDatabaseUrl: string;
  objects?: string;
  chain: string;
  untilSeq?: string;
  signers?: string;
}

async function run(options: IndexOptions): Promise<number> {
  const config = loadConfig();
  const token = process.env[options.tokenEnv];
  if (token === undefined || token === '')
    throw new UsageError(`set ${options.tokenEnv} to a token that may read the stream`);
  const url = new URL(options.fromUrl);
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new UsageError('--from-url must be http(s)://host[:port]');
  const untilSeq = options.untilSeq === undefined ? undefined : parseCount(options.untilSeq, '--until-seq', 1);
  const db = openPostgres(options.indexDatabaseUrl, { poolSize: 2, applicationName: 'chainbook-index' });
  const store = options.objects === undefined ? undefined : openArchiveStore(options.objects, config.archive);
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    const { lastSeq } = await runIndexer({
      source: { url: url.origin, token, chain: options.chain },
      registry: registryFor(options.signers),
      db,
      objects:
        store === undefined
          ? undefined
          : { store, mode: config.archive.lockMode, retentionDays: config.archive.retentionDays },
      signal: controller.signal,
      untilSeq,
    });
    process.stderr.write(`indexed ${options.chain} up to seq ${lastSeq}\n`);
    return EXIT.ok;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    if (store) closeStore(store);
    await db.close();
  }
}

export function registerIndex(program: Command, exit: (code: number) => void): void {
  program
    .command('index')
    .description(
      "follow another instance's GET /chain/stream, verify every record, and index it into a database of its own (and its audit/YYYY/MM/DD/<id>.json object)",
    )
    .requiredOption('--from-url <url>', 'the API to follow, e.g. https://kernel.example')
    .option('--token-env <name>', 'the environment variable holding its token', 'CHAINBOOK_STREAM_TOKEN')
    .requiredOption('--index-database-url <url>', "the indexer's own PostgreSQL database")
    .option('--objects <target>', 'a folder or s3://bucket/prefix for the per-event objects')
    .option('--chain <name>', 'the chain to follow', 'main')
    .option('--until-seq <seq>', 'stop once this seq is indexed (default: follow until stopped)')
    .option('--signers <path>', 'the signer registry to verify against (default: CHAINBOOK_SIGNERS)')
    .action(async (options: IndexOptions) => exit(await run(options)));
}
