/**
 * The relays of the audit stream put together (infra/adapters/stream/relay.ts):
 * the configured target (Kafka or KurrentDB, infra/wiring/streamConfig.ts),
 * the positions in the chain's database, the chain followed. `chainbook
 * relay kafka|eventstore` runs one in the foreground; `serve` runs the
 * Kafka relay of each chain beside the API when KAFKA_BROKERS is set, where it only reads
 * the chain: a broker down makes it fall behind, never holds an append.
 */
import type { AppendWakeups, ChainReader } from '../../chain/subscription.ts';
import { assert } from '../../domain/errors.ts';
import { sqlRelayPositions } from '../adapters/sql/relayPositions.ts';
import type { SqlDatabase } from '../adapters/sql/sql.ts';
import {
  DEFAULT_RELAY_LEASE_MS,
  relayOwner,
  resetRelay,
  runRelay,
  type RelayEvent,
  type RelaySink,
} from '../adapters/stream/relay.ts';
import type { StreamConfig } from './streamConfig.ts';

export const RELAY_TARGETS = ['kafka', 'eventstore'] as const;
/**
 * How long stopping waits for a send in flight (a client retrying a broker
 * that is down or does not answer) before releasing the lease and closing
 * the client anyway; closing waits RELAY_CLOSE_TIMEOUT_MS more at most.
 */
export const RELAY_STOP_TIMEOUT_MS = 5000;
export const RELAY_CLOSE_TIMEOUT_MS = 2000;

async function atMost(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([work.catch(() => undefined), new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}
export type RelayTarget = (typeof RELAY_TARGETS)[number];

export type RelayLog = (level: 'info' | 'warn' | 'error', fields: Record<string, unknown>, message: string) => void;

export interface OpenedTarget {
  sink: RelaySink;
  /** Whether the target answers now (Kafka: the topic's metadata); rejects with why not. */
  check(): Promise<void>;
  close(): Promise<void>;
}

/**
 * The sink of a configured target; the caller has checked that it is
 * configured. Its client library is loaded here, only for the target that
 * runs: `serve` without KAFKA_BROKERS loads neither.
 */
export async function openTarget(target: RelayTarget, stream: StreamConfig, log: RelayLog): Promise<OpenedTarget> {
  if (target === 'kafka') {
    assert(stream.kafka !== undefined, 'the Kafka relay is opened only with KAFKA_BROKERS');
    const { kafkaClient, kafkaProducer, kafkaReadiness, kafkaSink } = await import('../adapters/stream/kafkaRelay.ts');
    const kafka = kafkaClient(stream.kafka, (level, message) => log(level, {}, message));
    const sink = kafkaSink(kafkaProducer(kafka), stream.kafka.topic);
    const readiness = kafkaReadiness(kafka, stream.kafka.topic);
    return {
      sink,
      check: () => readiness.check(),
      async close() {
        await readiness.close().catch(() => undefined);
        await sink.close();
      },
    };
  }
  assert(stream.eventstore !== undefined, 'the KurrentDB relay is opened only with EVENTSTORE_URL');
  const { kurrentClient, kurrentSink } = await import('../adapters/stream/kurrentRelay.ts');
  const sink = kurrentSink(kurrentClient(stream.eventstore), stream.eventstore.streamPrefix);
  return { sink, check: async () => undefined, close: () => sink.close() };
}

/** One line of the log per event that matters; a delivered page only as a debug-level count would be noise. */
export function logRelayEvent(log: RelayLog, relay: string, chain: string, event: RelayEvent): void {
  switch (event.kind) {
    case 'claimed':
      return log('info', { relay, chain, seq: event.position.seq }, 'relay: delivering from the stored position');
    case 'lease-lost':
      return log('warn', { relay, chain, seq: event.position.seq }, 'relay: another process holds the lease now');
    case 'retry':
      return log(
        'warn',
        {
          relay,
          chain,
          attempt: event.attempt,
          fromSeq: event.firstSeq,
          err: event.error instanceof Error ? event.error.message : String(event.error),
        },
        'relay: the target did not acknowledge; trying again',
      );
    case 'standby':
    case 'delivered':
      return;
  }
}

export interface RunningRelay {
  readonly name: string;
  /** Resolves with the last seq acknowledged once stopped (or untilSeq reached); rejects with the fatal error that stopped it. */
  readonly done: Promise<{ lastSeq: number }>;
  /** The fatal error that stopped it, if one did. */
  failure(): unknown;
  stop(): Promise<void>;
}

export interface StartRelayOptions {
  target: OpenedTarget;
  store: ChainReader;
  wakeups: AppendWakeups;
  db: SqlDatabase;
  chain: string;
  log: RelayLog;
  /** Move the position first so that the relay sends again from this seq (a replay). */
  fromSeq?: number | undefined;
  untilSeq?: number | undefined;
}

export async function startRelay(options: StartRelayOptions): Promise<RunningRelay> {
  const { target, chain, log } = options;
  const positions = sqlRelayPositions(options.db);
  const name = target.sink.name;
  const owner = relayOwner();
  if (options.fromSeq !== undefined) {
    // The lease is ours from the reset on: a relay running in serve cannot take the row back before we claim it.
    const to = await resetRelay(options.store, positions, name, chain, options.fromSeq, {
      owner,
      leaseMs: DEFAULT_RELAY_LEASE_MS,
    });
    log('warn', { relay: name, chain, seq: to.seq }, 'relay: position reset; records after it are sent again');
  }
  const controller = new AbortController();
  let failure: unknown;
  const done = runRelay({
    store: options.store,
    wakeups: options.wakeups,
    positions,
    sink: target.sink,
    chain,
    owner,
    signal: controller.signal,
    untilSeq: options.untilSeq,
    onEvent: (event) => logRelayEvent(log, name, chain, event),
  }).catch((error: unknown) => {
    failure = error;
    log('error', { relay: name, chain, err: error instanceof Error ? error.message : String(error) }, 'relay: stopped');
    throw error;
  });
  return {
    name,
    done,
    failure: () => failure,
    async stop() {
      controller.abort();
      await atMost(done, RELAY_STOP_TIMEOUT_MS);
      // runRelay releases the lease as it ends; a send still hanging in the client would hold it until it lapses.
      await positions.release(name, chain, owner).catch(() => undefined);
      await atMost(target.close(), RELAY_CLOSE_TIMEOUT_MS);
    },
  };
}
