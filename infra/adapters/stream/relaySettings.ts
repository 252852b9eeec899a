/**
 * The relays' settings and defaults, apart from their clients: the
 * configuration (infra/wiring/streamConfig.ts) reads them without loading
 * kafkajs or the KurrentDB client (a second of start-up and a native
 * addon), which only the relay that runs loads (infra/wiring/relays.ts).
 */
export const DEFAULT_KAFKA_TOPIC = 'audit-events';
export const KAFKA_SASL_MECHANISMS = ['plain', 'scram-sha-256', 'scram-sha-512'] as const;
export const DEFAULT_EVENTSTORE_STREAM_PREFIX = 'chainbook-';

/** KAFKA_* of the configuration. */
export interface KafkaSettings {
  brokers: string[];
  topic: string;
  clientId: string;
  ssl: boolean;
  sasl: { mechanism: (typeof KAFKA_SASL_MECHANISMS)[number]; username: string; password: string } | undefined;
}

/** EVENTSTORE_* of the configuration. */
export interface KurrentSettings {
  connectionString: string;
  streamPrefix: string;
}
