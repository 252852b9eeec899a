/**
 * `chainbook relay kafka` and `chainbook relay eventstore`: the audit
 * stream's relay to the configured target (infra/wiring/relays.ts), in the
 * foreground, until SIGINT or SIGTERM (or `--until-seq`). `--from-seq N`
 * first moves the stored position back (or on) so that N and what follows
 * are sent again: a replay. A fatal finding (the target diverged from the
 * chain, the stored position not in the chain, a break in the chain) stops
 * it with exit 1; a target that is down is waited for, never a reason to
 * stop.
 */
import { closeObservability } from './observability.ts';
import { withMetricsPort } from './metricsPort.ts';
import type { Command } from 'commander';
import { appendWakeups } from '../../adapters/sql/appendWakeups.ts';
import { sqlChainReader } from '../../adapters/sql/sqlEventStore.ts';
import { sqlRelayPositions } from '../../adapters/sql/relayPositions.ts';
import { loadConfig } from '../../wiring/config.ts';
import { openTarget, startRelay, type RelayLog, type RelayTarget } from '../../wiring/relays.ts';
import { openDatabase } from '../../wiring/runtime.ts';
import { loadStreamConfig } from '../../wiring/streamConfig.ts';
import { EXIT, parseCount, UsageError } from './io.ts';

interface RelayOptions {
  chain?: string;
  fromSeq?: string;
  untilSeq?: string;
}

const REQUIRED: Record<RelayTarget, string> = { kafka: 'KAFKA_BROKERS', eventstore: 'EVENTSTORE_URL' };

/** JSON lines on stderr, as the service logs. */
const stderrLog: RelayLog = (level, fields, message) =>
  process.stderr.write(`${JSON.stringify({ level, time: new Date().toISOString(), ...fields, msg: message })}\n`);

async function run(target: RelayTarget, options: RelayOptions): Promise<number> {
  const config = loadConfig();
  const stream = loadStreamConfig();
  if (stream[target] === undefined) throw new UsageError(`set ${REQUIRED[target]} to relay to ${target}`);
  const fromSeq = options.fromSeq === undefined ? undefined : parseCount(options.fromSeq, '--from-seq', 1);
  const untilSeq = options.untilSeq === undefined ? undefined : parseCount(options.untilSeq, '--until-seq', 1);
  const chain = options.chain ?? config.defaultChain;
  const db = await openDatabase(config);
  const wakeups = appendWakeups(db);
  const opened = await openTarget(target, stream, stderrLog);
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    const relay = await startRelay({
      target: opened,
      store: sqlChainReader(db),
      wakeups,
      db,
      chain,
      log: stderrLog,
      fromSeq,
      untilSeq,
    });
    // Stopping does not wait long for a send in flight: what it sends is sent again by the next run.
    const stopped = new Promise<undefined>((resolve) =>
      controller.signal.addEventListener('abort', () => void relay.stop().then(() => resolve(undefined)), {
        once: true,
      }),
    );
    const result = await Promise.race([relay.done, stopped]);
    const position = result?.lastSeq ?? (await sqlRelayPositions(db).read(relay.name, chain))?.seq ?? 0;
    process.stderr.write(`relayed ${chain} to ${relay.name} up to seq ${position}\n`);
    return EXIT.ok;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    await opened.close().catch(() => undefined);
    await wakeups.close();
    await db.close();
  }
}

export function registerRelay(program: Command, exit: (code: number) => void): void {
  const relay = program
    .command('relay')
    .description('relay the chain to Kafka or KurrentDB, every record once acknowledged, resuming where it stopped');
  for (const [target, description] of [
    ['kafka', 'produce each record to KAFKA_TOPIC (default audit-events), keyed by chain, headers chain, seq and hash'],
    ['eventstore', 'append each record to the KurrentDB stream <EVENTSTORE_STREAM_PREFIX><chain> at revision seq - 1'],
  ] as const)
    relay
      .command(target)
      .description(description)
      .option('--chain <name>', 'the chain to relay (default: CHAINBOOK_CHAIN, else main)')
      .option(
        '--from-seq <seq>',
        'first move the stored position so that this seq and the ones after it are sent again',
      )
      .option('--until-seq <seq>', 'stop once this seq is acknowledged (default: relay until stopped)')
      .action(async (options: RelayOptions) => {
        const code = await withMetricsPort('relay', () => run(target, options));
        exit(code);
        await closeObservability();
        // Ended here: a send still hanging in the client (a broker that never answers) must not keep the process up.
        process.exit(code);
      });
}
