/** The relays' configuration: off by default, each variable checked with a message naming it, secrets never repeated. */
import test from 'ava';
import { loadStreamConfig } from '../../../infra/wiring/streamConfig.ts';

test('without KAFKA_BROKERS or EVENTSTORE_URL there is no relay', (t) => {
  t.deepEqual(loadStreamConfig({}), { kafka: undefined, eventstore: undefined });
});

test('KAFKA_* and EVENTSTORE_* are read, with the defaults audit-events, chainbook and chainbook-', (t) => {
  t.deepEqual(loadStreamConfig({ KAFKA_BROKERS: 'kafka-0.internal:9092, 10.0.0.7:9093,[::1]:9094' }).kafka, {
    brokers: ['kafka-0.internal:9092', '10.0.0.7:9093', '[::1]:9094'],
    topic: 'audit-events',
    clientId: 'chainbook',
    ssl: false,
    sasl: undefined,
  });
  const config = loadStreamConfig({
    KAFKA_BROKERS: 'b:9092',
    KAFKA_TOPIC: 'kernel.audit-events',
    KAFKA_CLIENT_ID: 'chainbook-prod',
    KAFKA_SSL: 'true',
    KAFKA_SASL_MECHANISM: 'scram-sha-512',
    KAFKA_SASL_USERNAME: 'relay',
    KAFKA_SASL_PASSWORD: 'pa55word-not-logged',
    EVENTSTORE_URL: 'kurrentdb://admin:changeit@kurrent.internal:2113?tls=true',
    EVENTSTORE_STREAM_PREFIX: 'audit-',
  });
  t.like(config.kafka, {
    topic: 'kernel.audit-events',
    clientId: 'chainbook-prod',
    ssl: true,
    sasl: { mechanism: 'scram-sha-512', username: 'relay', password: 'pa55word-not-logged' },
  });
  t.deepEqual(config.eventstore, {
    connectionString: 'kurrentdb://admin:changeit@kurrent.internal:2113?tls=true',
    streamPrefix: 'audit-',
  });
});

test('each bad variable is named once, and no secret is repeated', (t) => {
  const error = t.throws(() =>
    loadStreamConfig({
      KAFKA_BROKERS: 'no-port,other:99999',
      KAFKA_TOPIC: 'audit events',
      KAFKA_SSL: 'yes',
      KAFKA_SASL_MECHANISM: 'gssapi',
      KAFKA_SASL_PASSWORD: 'secret-value-123',
      EVENTSTORE_URL: 'http://kurrent:2113',
    }),
  );
  t.is((error as { code?: string }).code, 'INVALID_CONFIGURATION');
  for (const name of ['KAFKA_BROKERS', 'KAFKA_TOPIC', 'KAFKA_SSL', 'KAFKA_SASL_MECHANISM', 'EVENTSTORE_URL'])
    t.regex(error!.message, new RegExp(`${name}: `));
  t.notRegex(error!.message, /secret-value-123/);
  const partial = t.throws(() =>
    loadStreamConfig({ KAFKA_BROKERS: 'b:9092', KAFKA_SASL_PASSWORD: 'secret-value-123' }),
  );
  t.regex(partial!.message, /give KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD together, or none/);
  t.notRegex(partial!.message, /secret-value-123/);
});
