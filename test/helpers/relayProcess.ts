/**
 * A separate OS process running the Kafka relay on a real PostgreSQL
 * database (positions, leases, the chain) with the in-memory fake producer
 * of test/helpers/relays.ts, which appends every message it acknowledges to
 * a file as one JSON line before the send resolves: what "the broker" holds
 * survives the process. For the SIGKILL test. Usage:
 *   node --import tsx test/helpers/relayProcess.ts <database-url> <messages-file> <delay-ms> [until-seq]
 * Without until-seq it relays until killed.
 */
import { appendWakeups } from '../../infra/adapters/sql/appendWakeups.ts';
import { openPostgres } from '../../infra/adapters/sql/postgres.ts';
import { sqlRelayPositions } from '../../infra/adapters/sql/relayPositions.ts';
import { sqlChainReader } from '../../infra/adapters/sql/sqlEventStore.ts';
import { kafkaSink } from '../../infra/adapters/stream/kafkaRelay.ts';
import { runRelay } from '../../infra/adapters/stream/relay.ts';
import { fakeProducer } from './relays.ts';

const [url, file, delayText, untilText] = process.argv.slice(2);
const db = openPostgres(url!, { poolSize: 2 });
const wakeups = appendWakeups(db);
const { lastSeq } = await runRelay({
  store: sqlChainReader(db),
  wakeups,
  positions: sqlRelayPositions(db),
  sink: kafkaSink(fakeProducer({ file: file!, delayMs: Number(delayText) }), 'audit-events'),
  chain: 'main',
  signal: new AbortController().signal,
  pageRecords: 10,
  pollMs: 50,
  untilSeq: untilText === undefined ? undefined : Number(untilText),
});
process.stdout.write(`${lastSeq}\n`);
await wakeups.close();
await db.close();
