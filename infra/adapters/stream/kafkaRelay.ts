/**
 * The audit stream to Kafka (kafkajs): a RelaySink (relay.ts) that produces
 * each record to the topic (KAFKA_TOPIC, `audit-events` by default), keyed
 * by its chain so that a chain stays in one partition and in order, the
 * value its exact JCS text, with the headers `chain`, `seq` and `hash`.
 *
 * The producer is idempotent (the broker drops a retried batch it already
 * wrote) with one request in flight, and each send waits for every in-sync
 * replica (acks -1): when `send` resolves, the broker holds the records for
 * good, and only then does the relay move its position. A page is sent in
 * chunks of at most MAX_KAFKA_SEND_BYTES, in order, so that no request
 * exceeds the broker's default message.max.bytes (1 MB); a single record
 * larger than that (chain/limits.ts allows 64 KiB of data, so a record is
 * far smaller) goes alone.
 */
import {
  Kafka,
  logLevel as kafkaLogLevel,
  Partitioners,
  type Admin,
  type Consumer,
  type KafkaConfig,
  type Message,
  type Producer,
  type RecordMetadata,
} from 'kafkajs';
import type { StoredRecord } from '../../../chain/record.ts';
import { CodedError } from '../../../domain/errors.ts';
import type { RelaySink } from './relay.ts';
import type { KafkaSettings } from './relaySettings.ts';

/** Bytes of record text per produce request; the broker's default limit is 1,000,012 bytes per batch. */
export const MAX_KAFKA_SEND_BYTES = 512 * 1024;
/** How long the readiness probe waits for the cluster's metadata. */
export const KAFKA_CHECK_TIMEOUT_MS = 3000;
/**
 * The client's own bounds, all below the relay's stop budget
 * (RELAY_STOP_TIMEOUT_MS, infra/wiring/relays.ts): a broker that accepts
 * and never answers fails a send within seconds instead of kafkajs's 30 s
 * per request, and stopping never waits on it.
 */
export const KAFKA_CONNECTION_TIMEOUT_MS = 2000;
export const KAFKA_REQUEST_TIMEOUT_MS = 3000;
export const KAFKA_MAX_RETRY_TIME_MS = 3000;
/** How long closing waits for the producer's disconnect before leaving it. */
export const KAFKA_CLOSE_TIMEOUT_MS = 1000;

/** `work`, or after `ms` nothing more: a client that does not answer is left behind, not awaited. */
async function atMost(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([work.catch(() => undefined), new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

/** What the sink needs of a kafkajs producer (a fake one in the unit tests). */
export type KafkaProducer = Pick<Producer, 'connect' | 'send' | 'disconnect'>;

/** The messages of consecutive records of one chain. */
export function kafkaMessages(records: readonly StoredRecord[]): Message[] {
  return records.map(({ record, text }) => ({
    key: record.chain,
    value: text,
    headers: { chain: record.chain, seq: String(record.seq), hash: record.hash },
  }));
}

/** Consecutive chunks of at most MAX_KAFKA_SEND_BYTES of text each (a larger record alone). */
export function sendChunks(records: readonly StoredRecord[], maxBytes = MAX_KAFKA_SEND_BYTES): StoredRecord[][] {
  const chunks: StoredRecord[][] = [];
  let current: StoredRecord[] = [];
  let bytes = 0;
  for (const stored of records) {
    const size = Buffer.byteLength(stored.text);
    if (current.length > 0 && bytes + size > maxBytes) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(stored);
    bytes += size;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

function checkAcknowledged(topic: string, results: readonly RecordMetadata[], firstSeq: number): void {
  const failed = results.find((result) => result.errorCode !== 0);
  if (failed)
    throw new Error(
      `topic ${topic} partition ${failed.partition} answered error ${failed.errorCode} from seq ${firstSeq}`,
    );
}

/** Broker answers that no retry cures: the topic does not exist (the relay never creates it), access refused. */
const PERMANENT_KAFKA_ERRORS = new Set([
  'UNKNOWN_TOPIC_OR_PARTITION',
  'TOPIC_AUTHORIZATION_FAILED',
  'CLUSTER_AUTHORIZATION_FAILED',
  'TRANSACTIONAL_ID_AUTHORIZATION_FAILED',
  'SASL_AUTHENTICATION_FAILED',
  'INVALID_TOPIC_EXCEPTION',
]);

/**
 * Whether a kafkajs error is one no retry cures: kafkajs gave up on it as
 * not retriable (KafkaJSNonRetriableError, not KafkaJSNumberOfRetriesExceeded,
 * which is a transient failure that lasted), or its cause is a broker answer
 * of PERMANENT_KAFKA_ERRORS, or authentication failed. A timeout is never
 * permanent: a broker that does not answer may answer later.
 */
export function permanentKafkaError(error: unknown): boolean {
  const chain: { name?: unknown; type?: unknown }[] = [];
  for (let link: unknown = error; link instanceof Error && chain.length < 8; link = link.cause)
    chain.push(link as { name?: unknown; type?: unknown });
  if (chain.some((link) => typeof link.name === 'string' && /Timeout|Connection/.test(link.name))) return false;
  return chain.some(
    (link) =>
      link.name === 'KafkaJSNonRetriableError' ||
      link.name === 'KafkaJSSASLAuthenticationError' ||
      (typeof link.type === 'string' && PERMANENT_KAFKA_ERRORS.has(link.type)),
  );
}

/**
 * Whether a consumer's failure may pass by reading again (the indexer's
 * --from-kafka feed): a kafkajs error that is not permanent. Anything else,
 * a TypeError of our own code included, is not waited out.
 */
export function transientKafkaError(error: unknown): boolean {
  return error instanceof Error && error.name.startsWith('KafkaJS') && !permanentKafkaError(error);
}

/** A RelaySink producing to `topic`; connects on the first send and again after a failure. */
export function kafkaSink(producer: KafkaProducer, topic: string): RelaySink {
  let connected: Promise<void> | undefined;
  return {
    name: `kafka:${topic}`,
    async send(records, leaseLost) {
      connected ??= producer.connect();
      try {
        await connected;
        for (const chunk of sendChunks(records)) {
          if (leaseLost?.aborted) return; // the relay does not count this page as sent
          const results = await producer.send({ topic, acks: -1, messages: kafkaMessages(chunk) });
          checkAcknowledged(topic, results, chunk[0]!.record.seq);
        }
      } catch (error) {
        connected = undefined;
        if (permanentKafkaError(error))
          throw new CodedError(
            'RELAY_TARGET_REFUSED',
            `Kafka refuses the records of topic ${topic} from seq ${records[0]!.record.seq}: ${error instanceof Error ? error.message : String(error)}`,
            { topic, seq: records[0]!.record.seq },
          );
        throw error;
      }
    },
    async close() {
      connected = undefined;
      await atMost(producer.disconnect(), KAFKA_CLOSE_TIMEOUT_MS);
    },
  };
}

export function kafkaClient(settings: KafkaSettings, log?: (level: 'error' | 'warn', message: string) => void): Kafka {
  const config: KafkaConfig = {
    clientId: settings.clientId,
    brokers: settings.brokers,
    ssl: settings.ssl,
    // The mechanism is one of the three that take a username and password (a union kafkajs types per member).
    ...(settings.sasl ? { sasl: settings.sasl as KafkaConfig['sasl'] & { mechanism: 'plain' } } : {}),
    connectionTimeout: KAFKA_CONNECTION_TIMEOUT_MS,
    requestTimeout: KAFKA_REQUEST_TIMEOUT_MS,
    retry: { retries: 5, maxRetryTime: KAFKA_MAX_RETRY_TIME_MS },
    logLevel: kafkaLogLevel.WARN,
    logCreator: () => (entry) => {
      if (!log) return;
      const level = entry.level === kafkaLogLevel.ERROR ? 'error' : 'warn';
      log(level, `kafka${entry.namespace ? ` ${entry.namespace}` : ''}: ${entry.log.message}`);
    },
  };
  return new Kafka(config);
}

/**
 * The relay's producer: idempotent, one request in flight (order kept
 * through retries), a bounded number of retries inside kafkajs so that a
 * send fails back to the relay, which pauses, renews its lease and sends
 * again (the relay's own retries are unbounded). kafkajs warns once that
 * bounded retries may break exactly-once: we ask for at least once, and a
 * batch sent again after a failed send is dropped by the consumers.
 */
export function kafkaProducer(kafka: Kafka): Producer {
  return kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    retry: { retries: 5, maxRetryTime: KAFKA_MAX_RETRY_TIME_MS },
    allowAutoTopicCreation: false,
    // Named, so that kafkajs does not warn about its default: murmur2 of the key, as Java clients partition.
    createPartitioner: Partitioners.DefaultPartitioner,
  });
}

/** The readiness check: the cluster answers with the topic's metadata within KAFKA_CHECK_TIMEOUT_MS. */
export function kafkaReadiness(kafka: Kafka, topic: string): { check(): Promise<void>; close(): Promise<void> } {
  let admin: Admin | undefined;
  let running: Promise<void> | undefined;
  return {
    // One probe at a time: a probe asked for while one runs gets that one's verdict.
    check() {
      running ??= probe().finally(() => (running = undefined));
      return running;
    },
    async close() {
      const current = admin;
      admin = undefined;
      if (current) await atMost(current.disconnect(), KAFKA_CLOSE_TIMEOUT_MS);
    },
  };

  async function probe(): Promise<void> {
    admin ??= kafka.admin();
    const current = admin;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        (async () => {
          await current.connect();
          const { topics } = await current.fetchTopicMetadata({ topics: [topic] });
          if (!topics.some((found) => found.name === topic && found.partitions.length > 0))
            throw new CodedError('KAFKA_TOPIC_MISSING', `topic ${topic} has no partitions`);
        })(),
        new Promise((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`no answer within ${KAFKA_CHECK_TIMEOUT_MS} ms`)),
            KAFKA_CHECK_TIMEOUT_MS,
          );
        }),
      ]);
    } catch (error) {
      admin = undefined;
      // Not awaited: a broker that does not answer would hold the probe (and the next one) past its timeout.
      void current.disconnect().catch(() => undefined);
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** A consumer of the indexer (kafkaChainStream.ts): its group's offsets say where a restart resumes reading. */
export function kafkaConsumer(kafka: Kafka, groupId: string): Consumer {
  return kafka.consumer({ groupId, allowAutoTopicCreation: false });
}
