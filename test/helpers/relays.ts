/**
 * What the relays' unit tests run against: the golden vectors' happy chain
 * `main` (20 real signed records) as an in-memory EventStore, positions kept
 * in memory with the SQL store's rules, and a fake Kafka producer that
 * records what it was sent and acknowledges, fails or holds each send as the
 * test says.
 */
import { appendFileSync, readFileSync } from 'node:fs';
import type { ProducerRecord, RecordMetadata } from 'kafkajs';
import type { SignerRegistry } from '../../chain/registry.ts';
import type { StoredRecord } from '../../chain/record.ts';
import type { EventStore } from '../../chain/store.ts';
import type { AppendWakeups } from '../../chain/subscription.ts';
import { CodedError } from '../../domain/errors.ts';
import { loadRegistryFile } from '../../infra/adapters/signers/registryFile.ts';
import { storedRecord } from '../../infra/adapters/sql/sqlEventStore.ts';
import type { KafkaProducer } from '../../infra/adapters/stream/kafkaRelay.ts';
import type { RelayPosition, RelayPositions } from '../../infra/adapters/stream/relay.ts';

const HAPPY = new URL('../vectors/cases/happy/', import.meta.url);

/** The happy vector's records of chain `main`, seq 1 to 20. */
export function happyMain(): StoredRecord[] {
  return readFileSync(new URL('records.jsonl', HAPPY), 'utf8')
    .split('\n')
    .filter((line) => line.includes('"chain":"main"'))
    .map(storedRecord);
}

export function happyRegistry(): SignerRegistry {
  return loadRegistryFile(new URL('signers.json', HAPPY).pathname);
}

/** An EventStore over `records` (which a test may extend) for what followChain reads: head and readChain. */
export function memoryStore(records: StoredRecord[]): EventStore {
  return {
    head: async (chain: string) => {
      if (chain !== 'main') throw new CodedError('UNKNOWN_CHAIN', `no chain ${chain}`);
      const last = records.at(-1);
      return { chain, seq: last?.record.seq ?? 0, hash: last?.record.hash ?? '0'.repeat(64), ts: null };
    },
    readChain: async (_chain: string, options: { fromSeq?: number; toSeq?: number; limit?: number }) =>
      records
        .filter(
          (stored) =>
            stored.record.seq >= (options.fromSeq ?? 1) && stored.record.seq <= (options.toSeq ?? Number.MAX_VALUE),
        )
        .slice(0, options.limit ?? 1000),
  } as unknown as EventStore;
}

/** Wakeups that never come: subscribers poll (every 20 ms at most here). */
export const pollingWakeups: AppendWakeups = {
  generation: () => 0,
  wait: (_chain, _seen, timeoutMs, signal) =>
    new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, Math.min(timeoutMs, 20));
      signal?.addEventListener('abort', done, { once: true });
    }),
};

/** RelayPositions in memory, with the SQL store's rules (infra/adapters/sql/relayPositions.ts); `failAdvances` makes the next moves throw. */
export function memoryPositions(): RelayPositions & {
  rows: Map<string, RelayPosition & { owner: string | undefined; leaseUntilMs: number }>;
  failAdvances: number;
} {
  const rows = new Map<string, RelayPosition & { owner: string | undefined; leaseUntilMs: number }>();
  const key = (relay: string, chain: string) => `${relay}/${chain}`;
  const store = {
    rows,
    failAdvances: 0,
    async read(relay: string, chain: string) {
      const row = rows.get(key(relay, chain));
      return row && { seq: row.seq, hash: row.hash };
    },
    async claim(relay: string, chain: string, owner: string, leaseMs: number, start: RelayPosition) {
      const row = rows.get(key(relay, chain));
      if (row && row.owner !== undefined && row.owner !== owner && row.leaseUntilMs >= Date.now()) return undefined;
      const next = { ...(row ?? start), owner, leaseUntilMs: Date.now() + leaseMs };
      rows.set(key(relay, chain), next);
      return { seq: next.seq, hash: next.hash };
    },
    async advance(relay: string, chain: string, owner: string, leaseMs: number, to: RelayPosition) {
      if (store.failAdvances > 0) {
        store.failAdvances -= 1;
        throw new Error('the database went away');
      }
      const row = rows.get(key(relay, chain));
      if (!row || row.owner !== owner || row.seq >= to.seq) return false;
      rows.set(key(relay, chain), { ...to, owner, leaseUntilMs: Date.now() + leaseMs });
      return true;
    },
    async release(relay: string, chain: string, owner: string) {
      const row = rows.get(key(relay, chain));
      if (row?.owner === owner) rows.set(key(relay, chain), { ...row, owner: undefined, leaseUntilMs: Date.now() });
    },
    async reset(relay: string, chain: string, to: RelayPosition, lease?: { owner: string; leaseMs: number }) {
      rows.set(key(relay, chain), { ...to, owner: lease?.owner, leaseUntilMs: Date.now() + (lease?.leaseMs ?? 0) });
    },
  };
  return store;
}

export interface ProducedMessage {
  key: string;
  value: string;
  headers: Record<string, string>;
  acks: number | undefined;
}

/**
 * A kafkajs producer in memory: `acknowledged` holds the messages of every
 * send it acknowledged, in order; `failNext` sends fail; `hold` makes sends
 * wait until `release()`; with `file`, each acknowledged message is also
 * appended there as one JSON line before the send resolves (the SIGKILL test
 * reads it from another process).
 */
export function fakeProducer(options: { file?: string; delayMs?: number } = {}): KafkaProducer & {
  acknowledged: ProducedMessage[];
  attempts: number;
  failNext: number;
  hold: boolean;
  release(): void;
  pending(): number;
} {
  const waiting: (() => void)[] = [];
  const producer = {
    acknowledged: [] as ProducedMessage[],
    attempts: 0,
    failNext: 0,
    hold: false,
    /** Lets the held sends go on (sends that come later are held while `hold` is true). */
    release() {
      for (const go of waiting.splice(0)) go();
    },
    pending: () => waiting.length,
    connect: async () => undefined,
    disconnect: async () => undefined,
    async send(record: ProducerRecord): Promise<RecordMetadata[]> {
      producer.attempts += 1;
      if (producer.hold) await new Promise<void>((go) => waiting.push(go));
      if (options.delayMs) await new Promise((resolve) => setTimeout(resolve, options.delayMs));
      if (producer.failNext > 0) {
        producer.failNext -= 1;
        throw new Error('KafkaJSConnectionError: Connection error: connect ECONNREFUSED 127.0.0.1:9092');
      }
      const messages = record.messages.map((message) => ({
        key: String(message.key),
        value: String(message.value),
        headers: Object.fromEntries(
          Object.entries(message.headers ?? {}).map(([name, value]) => [name, String(value)]),
        ),
        acks: record.acks,
      }));
      if (options.file)
        appendFileSync(options.file, messages.map((message) => `${JSON.stringify(message)}\n`).join(''));
      producer.acknowledged.push(...messages);
      return [{ topicName: record.topic, partition: 0, errorCode: 0 }];
    },
  };
  return producer as typeof producer & KafkaProducer;
}
