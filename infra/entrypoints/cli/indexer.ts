/**
 * `chainbook index`: the verifying indexer (infra/adapters/stream/indexer.ts)
 * following another instance's GET /chain/stream (`--from-url`), or the
 * Kafka audit topic the relay produces to (`--from-kafka`: KAFKA_BROKERS,
 * KAFKA_TOPIC, the consumer group `--kafka-group`; records already indexed
 * are dropped by chain and seq), into a database of its own
 * (`--index-database-url`), and optionally the per-event objects
 * `audit/YYYY/MM/DD/<id>.json` into a folder or `s3://bucket/prefix`
 * (`--objects`, with the archive's Object Lock settings). The token is read
 * from the environment variable `--token-env` names (default
 * CHAINBOOK_STREAM_TOKEN), never from the command line. It runs until
 * SIGINT or SIGTERM, or until `--until-seq` is indexed; a record that fails
 * verification stops it with exit 1 and the finding.
 */
import { CodedError } from '../../../domain/errors.ts';
import { verificationFailuresTotal } from '../../adapters/metrics.ts';
import { withMetricsPort } from './metricsPort.ts';
import type { Command } from 'commander';
import { runIndexer } from '../../adapters/stream/indexer.ts';
import { openPostgres } from '../../adapters/sql/postgres.ts';
import { closeStore, openArchiveStore } from '../../wiring/archiveTargets.ts';
import { loadConfig } from '../../wiring/config.ts';
import { registryFor } from './auditVerify.ts';
import { EXIT, parseCount, UsageError } from './io.ts';
import type { SignerRegistry } from '../../../chain/registry.ts';
import { checkedKafkaRecords, kafkaDeliveries } from '../../adapters/stream/kafkaChainStream.ts';
import { kafkaClient, kafkaConsumer, transientKafkaError } from '../../adapters/stream/kafkaRelay.ts';
import type { IndexerFeed, IndexerOptions } from '../../adapters/stream/indexer.ts';
import { loadStreamConfig } from '../../wiring/streamConfig.ts';

interface IndexOptions {
  fromUrl?: string;
  fromKafka?: boolean;
  kafkaGroup?: string;
  tokenEnv: string;
  indexDatabaseUrl: string;
  objects?: string;
  chain: string;
  untilSeq?: string;
  signers?: string;
}

/** The topic as the indexer's feed: a consumer of its own group, each record deduplicated and checked. */
function kafkaFeed(options: IndexOptions, registry: () => SignerRegistry): IndexerFeed {
  const settings = loadStreamConfig().kafka;
  if (settings === undefined) throw new UsageError('--from-kafka reads KAFKA_BROKERS and KAFKA_TOPIC: set them');
  const kafka = kafkaClient(settings, (level, message) => process.stderr.write(`${level}: ${message}\n`));
  const group = options.kafkaGroup ?? `chainbook-index-${options.chain}`;
  return {
    chain: options.chain,
    follow: (from) =>
      checkedKafkaRecords(kafkaDeliveries(kafkaConsumer(kafka, group), settings.topic, from.signal), {
        chain: options.chain,
        fromSeq: from.fromSeq,
        anchorHash: from.anchorHash,
        indexedHash: (seq) => from.indexedHash(seq),
        registry: registry(),
      }),
    // Ours are findings (a changed or missing record) and our bugs; the broker's and the network's are waited out.
    transient: transientKafkaError,
  };
}

function sourceOf(options: IndexOptions, registry: () => SignerRegistry): IndexerOptions['source'] {
  if ((options.fromUrl === undefined) === (options.fromKafka !== true))
    throw new UsageError('give one source: --from-url URL or --from-kafka');
  if (options.fromKafka) return kafkaFeed(options, registry);
  const token = process.env[options.tokenEnv];
  if (token === undefined || token === '')
    throw new UsageError(`set ${options.tokenEnv} to a token that may read the stream`);
  const url = new URL(options.fromUrl!);
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new UsageError('--from-url must be http(s)://host[:port]');
  return { url: url.origin, token, chain: options.chain };
}

async function run(options: IndexOptions): Promise<number> {
  const config = loadConfig();
  const source = sourceOf(options, () => registry);
  const untilSeq = options.untilSeq === undefined ? undefined : parseCount(options.untilSeq, '--until-seq', 1);
  const registry = registryFor(options.signers);
  const db = openPostgres(options.indexDatabaseUrl, { poolSize: 2, applicationName: 'chainbook-index' });
  const store = options.objects === undefined ? undefined : openArchiveStore(options.objects, config.archive);
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    const { lastSeq } = await runIndexer({
      source,
      registry,
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
  } catch (error) {
    if (error instanceof CodedError && error.code === 'STREAM_RECORD_INVALID') {
      const reason = String((error.details as { reason?: unknown } | undefined)?.reason ?? '');
      // The finding's text names values; the label is its kind, so that the series stay few.
      const kind = reason.startsWith('signature') ? 'signature' : reason.includes('hash') ? 'hash' : 'malformed';
      verificationFailuresTotal.inc({ source: 'index', reason: kind });
    }
    throw error;
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
      "follow another instance's GET /chain/stream or the Kafka audit topic, verify every record, and index it into a database of its own (and its audit/YYYY/MM/DD/<id>.json object)",
    )
    .option('--from-url <url>', 'the API to follow, e.g. https://kernel.example')
    .option('--from-kafka', 'consume the audit topic instead (KAFKA_BROKERS, KAFKA_TOPIC)')
    .option('--kafka-group <id>', "the indexer's consumer group (default chainbook-index-<chain>)")
    .option('--token-env <name>', 'the environment variable holding its token', 'CHAINBOOK_STREAM_TOKEN')
    .requiredOption('--index-database-url <url>', "the indexer's own PostgreSQL database")
    .option('--objects <target>', 'a folder or s3://bucket/prefix for the per-event objects')
    .option('--chain <name>', 'the chain to follow', 'main')
    .option('--until-seq <seq>', 'stop once this seq is indexed (default: follow until stopped)')
    .option('--signers <path>', 'the signer registry to verify against (default: CHAINBOOK_SIGNERS)')
    .action(async (options: IndexOptions) => exit(await withMetricsPort('index', () => run(options))));
}
