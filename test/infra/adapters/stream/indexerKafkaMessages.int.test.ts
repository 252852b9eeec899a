/**
 * The indexer fed by the Kafka topic, at least once: the topic's messages
 * (the relay's, copies and a replay among them, and another chain's) are
 * given as kafkajs would give them, and the indexer writes to a real
 * PostgreSQL database of its own: each record once, verified; a restart
 * that reads the topic from the beginning again changes nothing; a lost
 * record stops it at its seq. Integration with PostgreSQL only: no broker
 * is involved (the messages are built in the test; kafkajs's consumer
 * against a broker is in kafkaRelayContract.int.test.ts).
 */
import test from 'ava';
import { openPostgres } from '../../../../infra/adapters/sql/postgres.ts';
import { checkedKafkaRecords, type KafkaDelivery } from '../../../../infra/adapters/stream/kafkaChainStream.ts';
import { kafkaSink } from '../../../../infra/adapters/stream/kafkaRelay.ts';
import { runIndexer, type IndexerFeed } from '../../../../infra/adapters/stream/indexer.ts';
import { runRelay } from '../../../../infra/adapters/stream/relay.ts';
import { createPostgresDatabase } from '../../../helpers/databases.ts';
import {
  fakeProducer,
  happyMain,
  happyRegistry,
  memoryPositions,
  memoryStore,
  pollingWakeups,
  type ProducedMessage,
} from '../../../helpers/relays.ts';
import { CodedError } from '../../../../domain/errors.ts';

const registry = happyRegistry();

async function topic(): Promise<ProducedMessage[]> {
  const producer = fakeProducer();
  const positions = memoryPositions();
  positions.failAdvances = 1; // the first page is sent twice: at least once
  await runRelay({
    store: memoryStore(happyMain()),
    wakeups: pollingWakeups,
    positions,
    sink: kafkaSink(producer, 'audit-events'),
    chain: 'main',
    signal: new AbortController().signal,
    pageRecords: 6,
    retryFirstMs: 5,
    untilSeq: 20,
  });
  return producer.acknowledged;
}

function feed(messages: readonly ProducedMessage[]): IndexerFeed {
  async function* deliveries(): AsyncGenerator<KafkaDelivery> {
    for (const message of messages)
      yield {
        value: Buffer.from(message.value),
        headers: Object.fromEntries(Object.entries(message.headers).map(([k, v]) => [k, Buffer.from(v)])),
      };
  }
  return {
    chain: 'main',
    follow: (from) => checkedKafkaRecords(deliveries(), { chain: 'main', ...from, registry }),
    transient: (error) => !(error instanceof CodedError),
  };
}

test('the indexer fed by the topic indexes each record once, verified, and a second pass from the start changes nothing', async (t) => {
  const index = await createPostgresDatabase();
  const db = openPostgres(index.url, { poolSize: 2 });
  t.teardown(async () => {
    await db.close();
    await index.drop();
  });
  const messages = await topic();
  t.deepEqual(
    messages.slice(0, 12).map((message) => Number(message.headers['seq'])),
    [1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6],
  );
  const other = { ...messages[0]!, headers: { ...messages[0]!.headers, chain: 'finance' } };
  const replayed = [...messages, other, ...messages.slice(14)];
  const seqs = async () =>
    (await db.query<{ seq: number }>('SELECT seq FROM audit_index ORDER BY seq')).rows.map((row) => Number(row.seq));
  t.deepEqual(await runIndexer({ source: feed(replayed), registry, db, untilSeq: 20 }), { lastSeq: 20 });
  t.deepEqual(
    await seqs(),
    Array.from({ length: 20 }, (_, i) => i + 1),
  );
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 300);
  t.deepEqual(
    await runIndexer({ source: feed(replayed), registry, db, signal: controller.signal, reconnectMs: 50 }),
    { lastSeq: 20 },
    'read again from the start: every message a duplicate',
  );
  t.is((await seqs()).length, 20);
});

test('a record lost in the topic stops the indexer at the seq that was next, nothing past it indexed', async (t) => {
  const index = await createPostgresDatabase();
  const db = openPostgres(index.url, { poolSize: 2 });
  t.teardown(async () => {
    await db.close();
    await index.drop();
  });
  const messages = (await topic()).slice(6);
  const lost = [...messages.slice(0, 9), ...messages.slice(10)];
  await t.throwsAsync(runIndexer({ source: feed(lost), registry, db, untilSeq: 20 }), {
    code: 'STREAM_DISCONTINUITY',
    message: /at seq 11: seq 11 where 10 was next/,
  });
  t.deepEqual((await db.query<{ seq: number }>('SELECT max(seq) AS seq FROM audit_index')).rows[0]!.seq, 9);
});

test('a restart first checks the rows it goes on from: a row missing or changed behind the position stops it at that seq', async (t) => {
  const index = await createPostgresDatabase();
  const db = openPostgres(index.url, { poolSize: 2 });
  t.teardown(async () => {
    await db.close();
    await index.drop();
  });
  const messages = await topic();
  t.deepEqual(await runIndexer({ source: feed(messages), registry, db, untilSeq: 20 }), { lastSeq: 20 });
  await t.notThrowsAsync(runIndexer({ source: feed(messages), registry, db, untilSeq: 20 }), 'a whole index');

  await db.query("UPDATE audit_index SET prev_hash = repeat('a', 64) WHERE seq = 12");
  await t.throwsAsync(runIndexer({ source: feed(messages), registry, db, untilSeq: 20 }), {
    code: 'INDEX_ROWS_BROKEN',
    message: /chain main at seq 12: its prev_hash is not the hash of the row before/,
  });
  await db.query('DELETE FROM audit_index WHERE seq = 7');
  await t.throwsAsync(runIndexer({ source: feed(messages), registry, db, untilSeq: 20 }), {
    code: 'INDEX_ROWS_BROKEN',
    message: /chain main at seq 7: missing/,
  });
  await db.query('DELETE FROM audit_index WHERE seq = 1');
  await t.throwsAsync(runIndexer({ source: feed(messages), registry, db, untilSeq: 20 }), {
    message: /at seq 1: seq 1 is missing/,
  });
  // Indexed again from seq 1, as the runbook says: the rows from the first broken one deleted, then a restart.
  await db.query('DELETE FROM audit_index');
  t.deepEqual(await runIndexer({ source: feed(messages), registry, db, untilSeq: 20 }), { lastSeq: 20 });
});
