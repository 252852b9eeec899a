/**
 * Configuration of the audit stream's relays (docs/DESIGN.md, "The audit
 * stream"): Kafka (KAFKA_*) and the KurrentDB mirror (EVENTSTORE_*), from
 * the environment, one message per bad variable, naming it. Secrets (the
 * SASL password, a connection string's password) are never repeated in a
 * message. The README's configuration table lists every variable.
 */
import { z } from 'zod';
import {
  DEFAULT_EVENTSTORE_STREAM_PREFIX,
  DEFAULT_KAFKA_TOPIC,
  KAFKA_SASL_MECHANISMS,
  type KafkaSettings,
  type KurrentSettings,
} from '../adapters/stream/relaySettings.ts';
import { ConfigError, flag, optionalText } from './config.ts';

export interface StreamConfig {
  /** Set when KAFKA_BROKERS is: `chainbook relay kafka`, and the relay inside `serve`. */
  kafka: KafkaSettings | undefined;
  /** Set when EVENTSTORE_URL is: `chainbook relay eventstore`. */
  eventstore: KurrentSettings | undefined;
}

/** Most brokers KAFKA_BROKERS may list (docs/STYLE.md rule 7); a client needs only a few to find the rest. */
export const MAX_KAFKA_BROKERS = 100;
const BROKER_PATTERN = /^[A-Za-z0-9.-]{1,253}:\d{1,5}$|^\[[0-9A-Fa-f:.]+\]:\d{1,5}$/;
/** Kafka's own rule for topic names. */
export const KAFKA_TOPIC_PATTERN = /^[A-Za-z0-9._-]{1,249}$/;
const STREAM_PREFIX_PATTERN = /^[A-Za-z0-9._-]{1,100}$/;

function brokersOf(value: string): string[] | undefined {
  const brokers = value.split(',').map((broker) => broker.trim());
  if (brokers.length > MAX_KAFKA_BROKERS) return undefined;
  return brokers.every((broker) => BROKER_PATTERN.test(broker) && Number(broker.split(':').at(-1)) <= 65_535)
    ? brokers
    : undefined;
}

const schema = z.object({
  KAFKA_BROKERS: optionalText.refine((value) => value === undefined || brokersOf(value) !== undefined, {
    message: `must be host:port pairs separated by commas (at most ${MAX_KAFKA_BROKERS})`,
  }),
  KAFKA_TOPIC: optionalText.refine((value) => value === undefined || KAFKA_TOPIC_PATTERN.test(value), {
    message: 'must be a Kafka topic name (letters, digits, . _ -, at most 249)',
  }),
  KAFKA_CLIENT_ID: optionalText.refine((value) => value === undefined || /^[A-Za-z0-9._-]{1,100}$/.test(value), {
    message: 'must be letters, digits, . _ - (at most 100)',
  }),
  KAFKA_SSL: flag,
  KAFKA_SASL_MECHANISM: optionalText.refine(
    (value) => value === undefined || (KAFKA_SASL_MECHANISMS as readonly string[]).includes(value),
    { message: `must be one of ${KAFKA_SASL_MECHANISMS.join(', ')}` },
  ),
  KAFKA_SASL_USERNAME: optionalText,
  KAFKA_SASL_PASSWORD: optionalText,
  EVENTSTORE_URL: optionalText.refine(
    (value) => value === undefined || /^(kurrentdb|esdb)(\+discover)?:\/\/\S+$/.test(value),
    {
      message: 'must be a kurrentdb:// or esdb:// connection string',
    },
  ),
  EVENTSTORE_STREAM_PREFIX: optionalText.refine((value) => value === undefined || STREAM_PREFIX_PATTERN.test(value), {
    message: 'must be letters, digits, . _ - (at most 100)',
  }),
});

type Values = z.infer<typeof schema>;

function saslProblems(values: Values): string[] {
  const given = [values.KAFKA_SASL_MECHANISM, values.KAFKA_SASL_USERNAME, values.KAFKA_SASL_PASSWORD];
  if (given.every((value) => value === undefined) || given.every((value) => value !== undefined)) return [];
  return [
    'KAFKA_SASL_MECHANISM: give KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD together, or none',
  ];
}

function kafkaOf(values: Values): KafkaSettings | undefined {
  if (values.KAFKA_BROKERS === undefined) return undefined;
  const { KAFKA_SASL_MECHANISM: mechanism, KAFKA_SASL_USERNAME: username, KAFKA_SASL_PASSWORD: password } = values;
  return {
    brokers: brokersOf(values.KAFKA_BROKERS)!,
    topic: values.KAFKA_TOPIC ?? DEFAULT_KAFKA_TOPIC,
    clientId: values.KAFKA_CLIENT_ID ?? 'chainbook',
    ssl: values.KAFKA_SSL ?? false,
    sasl:
      mechanism && username && password
        ? { mechanism: mechanism as (typeof KAFKA_SASL_MECHANISMS)[number], username, password }
        : undefined,
  };
}

export function loadStreamConfig(env: NodeJS.ProcessEnv = process.env): StreamConfig {
  const parsed = schema.safeParse(env);
  if (!parsed.success)
    throw new ConfigError(parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`));
  const problems = saslProblems(parsed.data);
  if (problems.length > 0) throw new ConfigError(problems);
  const values = parsed.data;
  return {
    kafka: kafkaOf(values),
    eventstore:
      values.EVENTSTORE_URL === undefined
        ? undefined
        : {
            connectionString: values.EVENTSTORE_URL,
            streamPrefix: values.EVENTSTORE_STREAM_PREFIX ?? DEFAULT_EVENTSTORE_STREAM_PREFIX,
          },
  };
}
