/**
 * The Kafka relay against a real broker (Kafka or Redpanda), run when
 * KAFKA_BROKERS names one; skipped otherwise, saying so (README, "Running
 * the contract suites": a local Redpanda container). The chain and the
 * relay's position are in a real PostgreSQL database; each test uses a
 * topic of its own with three partitions, deleted after.
 */
import { randomBytes } from 'node:crypto';
import test, { type ExecutionContext } from 'ava';
import { checkedKafkaRecords, kafkaDeliveries } from '../../../../infra/adapters/stream/kafkaChainStream.ts';
import {
  kafkaClient,
  kafkaConsumer,
  kafkaProducer,
  kafkaReadiness,
  kafkaSink,
} from '../../../../infra/adapters/stream/kafkaRelay.ts';
import { runRelay } from '../../../../infra/adapters/stream/relay.ts';
import { sqlRelayPositions } from '../../../../infra/adapters/sql/relayPositions.ts';
import { sqlChainReader } from '../../../../infra/adapters/sql/sqlEventStore.ts';
import { loadStreamConfig } from '../../../../infra/wiring/streamConfig.ts';
import { appendQuotes } from '../../../helpers/quotes.ts';
import { pollingWakeups } from '../../../helpers/relays.ts';
import { testRuntime } from '../../../helpers/runtime.ts';

const settings = loadStreamConfig().kafka;
const contract = settings === undefined ? test.skip : test.serial;
const SKIPPED = settings === undefined ? ' [skipped: set KAFKA_BROKERS=127.0.0.1:9092 to run against a broker]' : '';

async function freshTopic(t: ExecutionContext) {
  const kafka = kafkaClient(settings!);
  const topic = `chainbook-contract-${randomBytes(4).toString('hex')}`;
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 3, replicationFactor: 1 }], waitForLeaders: true });
  t.teardown(async () => {
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
  });
  return { kafka, topic };
}

contract(
  `the broker holds every record of the chain once, in order, in one partition, with its key and headers${SKIPPED}`,
  async (t) => {
    const runtime = await testRuntime(t, 'postgres');
    await appendQuotes(runtime.store, 0, 300);
    const { kafka, topic } = await freshTopic(t);
    const sink = kafkaSink(kafkaProducer(kafka), topic);
    t.teardown(() => sink.close());
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
    t.deepEqual(await relay(300), { lastSeq: 300 });
    await appendQuotes(runtime.store, 300, 50);
    t.deepEqual(await relay(350), { lastSeq: 350 }, 'a second run resumes from the stored position');

    const consumer = kafkaConsumer(kafka, `contract-${topic}`);
    const partitions = new Set<number>();
    consumer.on(consumer.events.START_BATCH_PROCESS, (event) => partitions.add(event.payload.partition));
    const controller = new AbortController();
    const seqs: number[] = [];
    const texts = await runtime.store.readChain('main', { fromSeq: 1, limit: 350 });
    for await (const stored of checkedKafkaRecords(kafkaDeliveries(consumer, topic, controller.signal), {
      chain: 'main',
      fromSeq: 1,
      registry: runtime.registry,
    })) {
      t.is(stored.text, texts[stored.record.seq - 1]!.text);
      seqs.push(stored.record.seq);
      if (stored.record.seq === 350) controller.abort();
    }
    t.deepEqual(
      seqs,
      Array.from({ length: 350 }, (_, i) => i + 1),
    );
    t.is(partitions.size, 1, 'keyed by chain: one partition');
  },
);

contract(`readiness: the broker answers with the topic; a missing topic is named${SKIPPED}`, async (t) => {
  const { kafka, topic } = await freshTopic(t);
  const present = kafkaReadiness(kafka, topic);
  await t.notThrowsAsync(present.check());
  await present.close();
  const missing = kafkaReadiness(kafka, `${topic}-missing`);
  await t.throwsAsync(missing.check());
  await missing.close();
});
