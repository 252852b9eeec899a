/**
 * The relays' positions and leases (migration 0015) on both engines: one
 * owner at a time until its lease lapses, moves only forward and only by
 * the owner, a reset (a replay) that takes the row from whoever held it; and
 * a relay whose target never acknowledges holds no append.
 */
import test from 'ava';
import { metricsRegistry } from '../../../../infra/adapters/metrics.ts';
import { sqlRelayPositions } from '../../../../infra/adapters/sql/relayPositions.ts';
import { sqlChainReader } from '../../../../infra/adapters/sql/sqlEventStore.ts';
import { CHAIN_START, runRelay } from '../../../../infra/adapters/stream/relay.ts';
import { ENGINES } from '../../../helpers/databases.ts';
import { appendQuotes } from '../../../helpers/quotes.ts';
import { pollingWakeups } from '../../../helpers/relays.ts';
import { testRuntime } from '../../../helpers/runtime.ts';

const at = (seq: number) => ({ seq, hash: String(seq % 10).repeat(64) });

for (const engine of ENGINES) {
  test(`${engine}: one owner at a time until its lease lapses; moves only forward, only by the owner; a reset takes the row back`, async (t) => {
    const { db } = await testRuntime(t, engine);
    const positions = sqlRelayPositions(db);
    t.is(await positions.read('kafka:audit-events', 'main'), undefined);
    t.deepEqual(await positions.claim('kafka:audit-events', 'main', 'a', 60_000, CHAIN_START), CHAIN_START);
    t.is(await positions.claim('kafka:audit-events', 'main', 'b', 60_000, CHAIN_START), undefined, 'a holds it');
    t.true(await positions.advance('kafka:audit-events', 'main', 'a', 60_000, at(5)));
    t.false(await positions.advance('kafka:audit-events', 'main', 'b', 60_000, at(9)), 'not the owner');
    t.false(await positions.advance('kafka:audit-events', 'main', 'a', 60_000, at(3)), 'never backwards');
    t.deepEqual(await positions.read('kafka:audit-events', 'main'), at(5));
    t.deepEqual(
      await positions.claim('eventstore:chainbook', 'main', 'b', 60_000, CHAIN_START),
      CHAIN_START,
      'per relay',
    );

    // a's lease lapses (a renewal with a lease already past): b takes over at a's position.
    t.deepEqual(await positions.claim('kafka:audit-events', 'main', 'a', -1000, CHAIN_START), at(5));
    t.deepEqual(await positions.claim('kafka:audit-events', 'main', 'b', 60_000, CHAIN_START), at(5));
    t.false(await positions.advance('kafka:audit-events', 'main', 'a', 60_000, at(6)), 'a lost it');

    // A replay: the position goes back and b's next move fails, so b claims again and reads it.
    await positions.reset('kafka:audit-events', 'main', at(2));
    t.false(await positions.advance('kafka:audit-events', 'main', 'b', 60_000, at(7)));
    t.deepEqual(await positions.claim('kafka:audit-events', 'main', 'b', 60_000, CHAIN_START), at(2));
    await positions.release('kafka:audit-events', 'main', 'b');
    t.deepEqual(await positions.claim('kafka:audit-events', 'main', 'a', 60_000, CHAIN_START), at(2), 'released: free');
    // A replay that runs now: the row is its owner's from the reset on, nobody else claims it in between.
    await positions.reset('kafka:audit-events', 'main', at(1), { owner: 'replay', leaseMs: 60_000 });
    t.is(await positions.claim('kafka:audit-events', 'main', 'a', 60_000, CHAIN_START), undefined, 'a lost it');
    t.false(await positions.advance('kafka:audit-events', 'main', 'a', 60_000, at(3)));
    t.deepEqual(await positions.claim('kafka:audit-events', 'main', 'replay', 60_000, CHAIN_START), at(1));
    await t.throwsAsync(
      db.query("INSERT INTO relay_positions (relay, chain, seq, hash) VALUES ('Kafka topic', 'main', 0, $1)", [
        '0'.repeat(64),
      ]),
    );
  });
}

test('a relay whose target never acknowledges holds no append; it falls behind and the lag says by how much', async (t) => {
  const runtime = await testRuntime(t, 'postgres');
  await appendQuotes(runtime.store, 0, 10);
  const controller = new AbortController();
  let sends = 0;
  const relay = runRelay({
    store: sqlChainReader(runtime.db),
    wakeups: pollingWakeups,
    positions: sqlRelayPositions(runtime.db),
    sink: {
      name: 'kafka:down',
      send: async () => {
        sends += 1;
        throw new Error('KafkaJSConnectionError: Connection error: connect ECONNREFUSED 127.0.0.1:9092');
      },
      close: async () => undefined,
    },
    chain: 'main',
    signal: controller.signal,
    retryFirstMs: 10,
    retryMaxMs: 20,
  });
  while (sends === 0) await new Promise((resolve) => setTimeout(resolve, 5));
  const started = performance.now();
  await appendQuotes(runtime.store, 10, 300, { perAppend: 50 });
  t.true(performance.now() - started < 10_000);
  t.is((await runtime.store.head('main')).seq, 310);
  const lag = async () =>
    (await metricsRegistry.getSingleMetric('audit_stream_lag_records')!.get()).values.find(
      (value) => value.labels['relay'] === 'kafka:down',
    )?.value;
  while ((await lag()) !== 310) await new Promise((resolve) => setTimeout(resolve, 10));
  t.true(sends > 1, 'tried again and again');
  t.deepEqual(await sqlRelayPositions(runtime.db).read('kafka:down', 'main'), CHAIN_START);
  controller.abort();
  t.deepEqual(await relay, { lastSeq: 0 });
});
