/**
 * kafkajs against a broker that accepts connections and never answers (a
 * real TCP server on loopback, real kafkajs client): the readiness probe
 * fails within its timeout, concurrent probes share one attempt, and
 * closing the sink and the probe returns within their bounds while a send
 * still hangs, so that stopping `serve` is never held by the broker.
 */
import { createServer, type Socket } from 'node:net';
import test from 'ava';
import type { StoredRecord } from '../../../../chain/record.ts';
import {
  KAFKA_CHECK_TIMEOUT_MS,
  KAFKA_CLOSE_TIMEOUT_MS,
  kafkaClient,
  kafkaProducer,
  kafkaReadiness,
  kafkaSink,
} from '../../../../infra/adapters/stream/kafkaRelay.ts';
import { happyMain } from '../../../helpers/relays.ts';

test('a broker that never answers: the probe fails within its timeout, one at a time; closing does not wait on it', async (t) => {
  const sockets: Socket[] = [];
  const server = createServer((socket) => {
    sockets.push(socket);
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  const kafka = kafkaClient({
    brokers: [`127.0.0.1:${address.port}`],
    topic: 'audit-events',
    clientId: 'chainbook-test',
    ssl: false,
    sasl: undefined,
  });
  const sink = kafkaSink(kafkaProducer(kafka), 'audit-events');
  const readiness = kafkaReadiness(kafka, 'audit-events');

  const sending = sink.send(happyMain().slice(0, 3) as StoredRecord[]);
  sending.catch(() => undefined);
  const started = Date.now();
  const first = readiness.check();
  const second = readiness.check();
  t.is(first, second, 'a probe asked for while one runs is that one');
  await t.throwsAsync(first, { message: /no answer within/ });
  const took = Date.now() - started;
  t.true(took >= KAFKA_CHECK_TIMEOUT_MS - 50 && took < KAFKA_CHECK_TIMEOUT_MS + 1000, `${took} ms`);
  t.true(sockets.length > 0, 'the client did connect');

  const closing = Date.now();
  await readiness.close();
  await sink.close();
  t.true(Date.now() - closing < 2 * KAFKA_CLOSE_TIMEOUT_MS + 500, `closed after ${Date.now() - closing} ms`);
});
