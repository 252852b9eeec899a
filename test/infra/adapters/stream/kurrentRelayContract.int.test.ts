/**
 * The KurrentDB mirror against a real server, run when EVENTSTORE_URL names
 * one; skipped otherwise, saying so (README, "Running the contract suites":
 * a local KurrentDB container). The chain and the relay's position are in a
 * real PostgreSQL database; each test mirrors to streams of a prefix of its
 * own.
 */
import { randomBytes } from 'node:crypto';
import { jsonEvent, WrongExpectedVersionError } from '@kurrent/kurrentdb-client';
import test from 'ava';
import { kurrentClient, kurrentEvent, kurrentSink } from '../../../../infra/adapters/stream/kurrentRelay.ts';
import { runRelay } from '../../../../infra/adapters/stream/relay.ts';
import { sqlRelayPositions } from '../../../../infra/adapters/sql/relayPositions.ts';
import { sqlChainReader } from '../../../../infra/adapters/sql/sqlEventStore.ts';
import { loadStreamConfig } from '../../../../infra/wiring/streamConfig.ts';
import { appendQuotes } from '../../../helpers/quotes.ts';
import { pollingWakeups } from '../../../helpers/relays.ts';
import { testRuntime } from '../../../helpers/runtime.ts';

const settings = loadStreamConfig().eventstore;
const contract = settings === undefined ? test.skip : test.serial;
const SKIPPED =
  settings === undefined
    ? ' [skipped: set EVENTSTORE_URL=kurrentdb://127.0.0.1:2113?tls=false to run against a server]'
    : '';

contract(
  `the server holds seq N at revision N - 1, exact text, and refuses a gap and a fork itself${SKIPPED}`,
  async (t) => {
    const runtime = await testRuntime(t, 'postgres');
    await appendQuotes(runtime.store, 0, 120);
    const prefix = `contract-${randomBytes(4).toString('hex')}-`;
    const client = kurrentClient({ ...settings!, streamPrefix: prefix });
    t.teardown(() => client.dispose());
    const sink = kurrentSink(client, prefix);
    const positions = sqlRelayPositions(runtime.db);
    const relay = (untilSeq: number) =>
      runRelay({
        store: sqlChainReader(runtime.db),
        wakeups: pollingWakeups,
        positions,
        sink,
        chain: 'main',
        signal: new AbortController().signal,
        untilSeq,
      });
    t.deepEqual(await relay(100), { lastSeq: 100 });
    const records = await runtime.store.readChain('main', { fromSeq: 1, limit: 120 });
    const stream = `${prefix}main`;
    let revision = 0n;
    for await (const { event } of client.readStream(stream, { maxCount: 200 })) {
      const stored = records[Number(revision)]!;
      t.is(event!.revision, revision);
      t.is(event!.id, stored.record.id);
      t.is(JSON.stringify(event!.data), stored.text);
      revision += 1n;
    }
    t.is(revision, 100n);

    // The server itself refuses a gap (seq 110 stating revision 108, the stream at 99) and a fork (another event
    // where seq 100 is): WrongExpectedVersion.
    const append = (from: number, to: number, streamState: bigint) =>
      client.appendToStream(stream, records.slice(from - 1, to).map(kurrentEvent), { streamState });
    await t.throwsAsync(append(110, 110, 108n), { instanceOf: WrongExpectedVersionError });
    const fork = jsonEvent({ type: 'quote.recorded', data: { n: -1 } });
    await t.throwsAsync(client.appendToStream(stream, [fork], { streamState: 98n }), {
      instanceOf: WrongExpectedVersionError,
    });

    // Killed after the append, before the position moved: 101..105 are there, the relay resends from 101.
    await append(101, 105, 99n);
    t.deepEqual(await relay(120), { lastSeq: 120 }, 'what the stream holds is taken as acknowledged');
    let count = 0;
    for await (const resolved of client.readStream(stream, { maxCount: 500 })) {
      t.is(resolved.event!.id, records[count]!.record.id);
      count += 1;
    }
    t.is(count, 120, 'each record once');
  },
);
