/**
 * The Kafka relay's own logic, with an in-process fake producer (unit: no
 * broker, no database): what each message carries, that the position moves
 * only after the broker acknowledged, retries, restart from the stored
 * position, the lease between two processes, and the consumer's
 * deduplication. The same code against a real broker: kafkaRelayContract.int.test.ts.
 */
import test from 'ava';
import kafkajs from 'kafkajs';
import { CodedError } from '../../../../domain/errors.ts';
import { metricsRegistry } from '../../../../infra/adapters/metrics.ts';
import { checkedKafkaRecords, type KafkaDelivery } from '../../../../infra/adapters/stream/kafkaChainStream.ts';
import {
  kafkaSink,
  permanentKafkaError,
  sendChunks,
  transientKafkaError,
} from '../../../../infra/adapters/stream/kafkaRelay.ts';
import { resetRelay, runRelay, type RelayEvent } from '../../../../infra/adapters/stream/relay.ts';
import {
  fakeProducer,
  happyMain,
  happyRegistry,
  memoryPositions,
  memoryStore,
  pollingWakeups,
  type ProducedMessage,
} from '../../../helpers/relays.ts';

const records = happyMain();
const registry = happyRegistry();
// kafkajs is CommonJS: its error classes are properties of the module, not named exports.
const {
  KafkaJSConnectionError,
  KafkaJSNonRetriableError,
  KafkaJSNumberOfRetriesExceeded,
  KafkaJSProtocolError,
  KafkaJSRequestTimeoutError,
} = kafkajs;
/** kafkajs's types omit the constructor's options, with which its retrier sets the cause. */
const NonRetriable = KafkaJSNonRetriableError as unknown as new (error: Error, options: { cause: Error }) => Error;

function relayOptions(
  overrides: Partial<Parameters<typeof runRelay>[0]> & Pick<Parameters<typeof runRelay>[0], 'sink'>,
) {
  return {
    store: memoryStore(records),
    wakeups: pollingWakeups,
    positions: memoryPositions(),
    chain: 'main',
    signal: new AbortController().signal,
    pageRecords: 4,
    pollMs: 20,
    retryFirstMs: 5,
    retryMaxMs: 20,
    ...overrides,
  };
}

const seqsOf = (messages: readonly ProducedMessage[]) => messages.map((message) => Number(message.headers['seq']));
const oneToTwenty = Array.from({ length: 20 }, (_, i) => i + 1);

async function metric(name: string, labels: Record<string, string>): Promise<number> {
  const found = (await metricsRegistry.getMetricsAsJSON()).find((candidate) => candidate.name === name);
  const value = found?.values.find((entry) => Object.entries(labels).every(([k, v]) => entry.labels[k] === v));
  return Number(value?.value ?? Number.NaN);
}

test('each record is produced keyed by its chain, its exact text as the value, headers chain, seq and hash, acknowledged by all replicas', async (t) => {
  const producer = fakeProducer();
  const positions = memoryPositions();
  const sink = kafkaSink(producer, 'audit-events');
  t.is(sink.name, 'kafka:audit-events');
  t.deepEqual(await runRelay(relayOptions({ sink, positions, untilSeq: 20 })), { lastSeq: 20 });
  t.deepEqual(seqsOf(producer.acknowledged), oneToTwenty);
  producer.acknowledged.forEach((message, index) => {
    const { record, text } = records[index]!;
    t.deepEqual(message, {
      key: 'main',
      value: text,
      headers: { chain: 'main', seq: String(record.seq), hash: record.hash },
      acks: -1,
    });
  });
  t.deepEqual(await positions.read('kafka:audit-events', 'main'), { seq: 20, hash: records[19]!.record.hash });
  t.is(await metric('audit_stream_lag_records', { relay: 'kafka:audit-events', chain: 'main' }), 0);
});

test('the position moves only once the broker acknowledged a page, and never past what it acknowledged', async (t) => {
  const producer = fakeProducer();
  producer.hold = true;
  const positions = memoryPositions();
  const controller = new AbortController();
  const running = runRelay(
    relayOptions({ sink: kafkaSink(producer, 'audit-events'), positions, signal: controller.signal, untilSeq: 12 }),
  );
  const acknowledgedSeqs: number[] = [];
  for (let page = 0; page < 3; page += 1) {
    while (producer.pending() === 0) await new Promise((resolve) => setTimeout(resolve, 2));
    // A page is out and not acknowledged: the position is still the end of the page before.
    t.is((await positions.read('kafka:audit-events', 'main'))?.seq ?? 0, acknowledgedSeqs.at(-1) ?? 0);
    t.is(producer.pending(), 1, 'one send in flight at a time');
    producer.hold = page < 2;
    producer.release();
    while (producer.acknowledged.length < (page + 1) * 4) await new Promise((resolve) => setTimeout(resolve, 2));
    acknowledgedSeqs.push(...seqsOf(producer.acknowledged.slice(page * 4)));
  }
  t.deepEqual(await running, { lastSeq: 12 });
  t.deepEqual(acknowledgedSeqs, oneToTwenty.slice(0, 12));
  t.is((await positions.read('kafka:audit-events', 'main'))?.seq, 12);
});

test('a send the broker did not acknowledge is sent again, the same records in the same order, before anything after them', async (t) => {
  const producer = fakeProducer();
  producer.failNext = 3;
  const events: RelayEvent[] = [];
  const errorsBefore = (await metric('audit_stream_relay_errors_total', { relay: 'kafka:retry-topic' })) || 0;
  const result = await runRelay(
    relayOptions({ sink: kafkaSink(producer, 'retry-topic'), untilSeq: 20, onEvent: (event) => events.push(event) }),
  );
  t.deepEqual(result, { lastSeq: 20 });
  t.deepEqual(
    seqsOf(producer.acknowledged),
    oneToTwenty,
    'once each, in order: nothing after a failed page went first',
  );
  t.is(producer.attempts, 5 + 3);
  const retries = events.filter((event) => event.kind === 'retry');
  t.deepEqual(
    retries.map((event) => event.kind === 'retry' && [event.attempt, event.firstSeq]),
    [
      [1, 1],
      [2, 1],
      [3, 1],
    ],
  );
  t.is((await metric('audit_stream_relay_errors_total', { relay: 'kafka:retry-topic' })) - errorsBefore, 3);
});

test('a restart resumes after the stored position: nothing before it sent again, nothing after it skipped', async (t) => {
  const positions = memoryPositions();
  const first = fakeProducer();
  t.deepEqual(await runRelay(relayOptions({ sink: kafkaSink(first, 'audit-events'), positions, untilSeq: 7 })), {
    lastSeq: 7,
  });
  t.deepEqual(seqsOf(first.acknowledged), oneToTwenty.slice(0, 7));
  const second = fakeProducer();
  t.deepEqual(await runRelay(relayOptions({ sink: kafkaSink(second, 'audit-events'), positions, untilSeq: 20 })), {
    lastSeq: 20,
  });
  t.deepEqual(seqsOf(second.acknowledged), oneToTwenty.slice(7));

  // A replay from seq 15: the position moves back to 14, and the next run sends 15 on again.
  const store = memoryStore(records);
  t.deepEqual(await resetRelay(store, positions, 'kafka:audit-events', 'main', 15), {
    seq: 14,
    hash: records[13]!.record.hash,
  });
  const third = fakeProducer();
  await runRelay(relayOptions({ sink: kafkaSink(third, 'audit-events'), positions, untilSeq: 20 }));
  t.deepEqual(seqsOf(third.acknowledged), [15, 16, 17, 18, 19, 20]);
  await t.throwsAsync(resetRelay(store, positions, 'kafka:audit-events', 'main', 22), { code: 'INVALID_ARGUMENT' });
});

test('a position the chain does not hold stops the relay before it sends anything', async (t) => {
  const positions = memoryPositions();
  await positions.reset('kafka:audit-events', 'main', { seq: 5, hash: 'a'.repeat(64) });
  const producer = fakeProducer();
  await t.throwsAsync(runRelay(relayOptions({ sink: kafkaSink(producer, 'audit-events'), positions, untilSeq: 20 })), {
    code: 'RELAY_POSITION_MISMATCH',
    message: /stands at main seq 5 with hash a{64}, but the chain has [0-9a-f]{64} there/,
  });
  t.is(producer.attempts, 0);
});

test('acknowledged but not recorded (the database failed between): the page is sent again, and the consumer drops the copies', async (t) => {
  const positions = memoryPositions();
  positions.failAdvances = 2;
  const producer = fakeProducer();
  await runRelay(relayOptions({ sink: kafkaSink(producer, 'audit-events'), positions, untilSeq: 20 }));
  const seqs = seqsOf(producer.acknowledged);
  t.deepEqual(seqs.slice(0, 12), [1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4], 'at least once: sent until recorded');
  t.deepEqual([...new Set(seqs)], oneToTwenty);

  const duplicates: number[] = [];
  const given: number[] = [];
  for await (const stored of checkedKafkaRecords(deliveries(producer.acknowledged), {
    chain: 'main',
    fromSeq: 1,
    registry,
    onDuplicate: (seq) => duplicates.push(seq),
  }))
    given.push(stored.record.seq);
  t.deepEqual(given, oneToTwenty, 'each (chain, seq) once, in order');
  t.deepEqual(duplicates, [1, 2, 3, 4, 1, 2, 3, 4]);
});

async function* deliveries(messages: readonly ProducedMessage[]): AsyncGenerator<KafkaDelivery> {
  for (const message of messages)
    yield {
      value: Buffer.from(message.value),
      headers: Object.fromEntries(Object.entries(message.headers).map(([k, v]) => [k, Buffer.from(v)])),
    };
}

async function consume(messages: readonly ProducedMessage[], fromSeq = 1, anchorHash?: string): Promise<number[]> {
  const given: number[] = [];
  for await (const stored of checkedKafkaRecords(deliveries(messages), {
    chain: 'main',
    fromSeq,
    anchorHash,
    registry,
  }))
    given.push(stored.record.seq);
  return given;
}

test('the consumer skips other chains and replays, resumes from its position, and stops at a lost or changed record', async (t) => {
  const producer = fakeProducer();
  await runRelay(relayOptions({ sink: kafkaSink(producer, 'audit-events'), untilSeq: 20 }));
  const all = producer.acknowledged;
  const other: ProducedMessage = { ...all[0]!, key: 'finance', headers: { ...all[0]!.headers, chain: 'finance' } };
  t.deepEqual(await consume([all[0]!, other, ...all.slice(1, 10), ...all.slice(5)]), oneToTwenty);
  t.deepEqual(await consume(all, 11, records[9]!.record.hash), oneToTwenty.slice(10), 'from an index at seq 10');

  const gap = await t.throwsAsync(consume([...all.slice(0, 6), ...all.slice(7)]));
  t.true(gap instanceof CodedError);
  t.is((gap as CodedError).code, 'STREAM_DISCONTINUITY');
  t.regex(gap!.message, /at seq 8: seq 8 where 7 was next/);

  const changed = { ...all[8]!, value: all[8]!.value.replace('"seq":9', '"seq":9 ') };
  await t.throwsAsync(consume([...all.slice(0, 8), changed]), { code: 'STREAM_RECORD_INVALID', message: /at seq 9/ });
  const lying = { ...all[8]!, headers: { ...all[8]!.headers, seq: '3' } };
  await t.throwsAsync(consume([...all.slice(0, 8), lying, ...all.slice(9)]), {
    code: 'STREAM_DISCONTINUITY',
    message: /seq 10 where 9 was next/,
  });
  const wrongAnchor = await t.throwsAsync(consume(all.slice(10), 11, 'b'.repeat(64)));
  t.regex(wrongAnchor!.message, /seq 11 links to [0-9a-f]{64}, but seq 10 is b{64}/);
});

test('a second relay process waits while the first holds the lease, then takes over from its position', async (t) => {
  const positions = memoryPositions();
  const firstProducer = fakeProducer();
  const firstStop = new AbortController();
  const first = runRelay(
    relayOptions({
      sink: kafkaSink(firstProducer, 'audit-events'),
      positions,
      signal: firstStop.signal,
      owner: 'first',
      leaseMs: 150,
    }),
  );
  while (firstProducer.acknowledged.length < 20) await new Promise((resolve) => setTimeout(resolve, 5));
  const secondProducer = fakeProducer();
  const secondStop = new AbortController();
  const events: RelayEvent['kind'][] = [];
  const second = runRelay(
    relayOptions({
      sink: kafkaSink(secondProducer, 'audit-events'),
      positions,
      signal: secondStop.signal,
      owner: 'second',
      leaseMs: 150,
      onEvent: (event) => events.push(event.kind),
    }),
  );
  await new Promise((resolve) => setTimeout(resolve, 400));
  t.true(events.includes('standby'));
  t.false(events.includes('claimed'), 'the first renews its lease while idle');
  firstStop.abort();
  t.deepEqual(await first, { lastSeq: 20 });
  while (!events.includes('claimed')) await new Promise((resolve) => setTimeout(resolve, 5));
  secondStop.abort();
  t.deepEqual(await second, { lastSeq: 20 });
  t.deepEqual(secondProducer.acknowledged, [], 'nothing sent twice');
});

test('a page is produced in requests of at most 512 KiB of text, in order, a larger record alone', (t) => {
  const sized = (seq: number, bytes: number) =>
    ({ record: { seq }, text: 'x'.repeat(bytes) }) as unknown as Parameters<typeof sendChunks>[0][number];
  const chunks = sendChunks([sized(1, 300_000), sized(2, 200_000), sized(3, 100_000), sized(4, 600_000), sized(5, 1)]);
  t.deepEqual(
    chunks.map((chunk) => chunk.map((stored) => stored.record.seq)),
    [[1, 2], [3], [4], [5]],
  );
});

test('a send that outlasts the lease keeps it: the lease is renewed while the send is in flight, nobody else sends', async (t) => {
  const positions = memoryPositions();
  const firstProducer = fakeProducer();
  firstProducer.hold = true;
  const firstStop = new AbortController();
  const first = runRelay(
    relayOptions({
      sink: kafkaSink(firstProducer, 'audit-events'),
      positions,
      signal: firstStop.signal,
      owner: 'first',
      leaseMs: 150,
    }),
  );
  while (firstProducer.pending() === 0) await new Promise((resolve) => setTimeout(resolve, 2));
  const secondProducer = fakeProducer();
  const secondStop = new AbortController();
  const events: RelayEvent['kind'][] = [];
  const second = runRelay(
    relayOptions({
      sink: kafkaSink(secondProducer, 'audit-events'),
      positions,
      signal: secondStop.signal,
      owner: 'second',
      leaseMs: 150,
      onEvent: (event) => events.push(event.kind),
    }),
  );
  await new Promise((resolve) => setTimeout(resolve, 600)); // four leases long, the first send still in flight
  t.deepEqual(secondProducer.acknowledged, [], 'no second sender while the first one sends');
  t.false(events.includes('claimed'));
  firstProducer.hold = false;
  firstProducer.release();
  while (firstProducer.acknowledged.length < 20) await new Promise((resolve) => setTimeout(resolve, 5));
  firstStop.abort();
  secondStop.abort();
  t.deepEqual(await first, { lastSeq: 20 });
  await second;
  t.deepEqual(seqsOf(firstProducer.acknowledged), oneToTwenty);
  t.deepEqual(secondProducer.acknowledged, []);
  t.is((await positions.read('kafka:audit-events', 'main'))?.seq, 20);
});

test('a lease that cannot be renewed during a send: the page counts as not sent, the position stays until renewed', async (t) => {
  const positions = memoryPositions();
  const claim = positions.claim.bind(positions);
  let databaseDown = false;
  positions.claim = async (...args) => {
    if (databaseDown) throw new Error('the database went away');
    return claim(...args);
  };
  const producer = fakeProducer();
  producer.hold = true;
  const stop = new AbortController();
  const events: RelayEvent['kind'][] = [];
  const relay = runRelay(
    relayOptions({
      sink: kafkaSink(producer, 'audit-events'),
      positions,
      signal: stop.signal,
      owner: 'first',
      leaseMs: 150,
      onEvent: (event) => events.push(event.kind),
    }),
  );
  while (producer.pending() === 0) await new Promise((resolve) => setTimeout(resolve, 2));
  databaseDown = true;
  await new Promise((resolve) => setTimeout(resolve, 150)); // a renewal fails
  producer.hold = false;
  producer.release();
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.is((await positions.read('kafka:audit-events', 'main'))?.seq, 0, 'not moved on a send made without a lease');
  t.deepEqual(seqsOf(producer.acknowledged), [1, 2, 3, 4], 'nothing sent after the page');
  t.true(events.includes('lease-lost'));
  databaseDown = false;
  while ((await positions.read('kafka:audit-events', 'main'))?.seq !== 20)
    await new Promise((resolve) => setTimeout(resolve, 5));
  stop.abort();
  t.deepEqual(await relay, { lastSeq: 20 });
  t.deepEqual(seqsOf(producer.acknowledged), [1, 2, 3, 4, ...oneToTwenty], 'the page sent again once renewed');
});

test('the sink sends no further part of a page once the lease is lost', async (t) => {
  const producer = fakeProducer();
  const lost = new AbortController();
  lost.abort();
  await kafkaSink(producer, 'audit-events').send(records, lost.signal);
  t.is(producer.attempts, 0);
  await kafkaSink(producer, 'audit-events').send(records, new AbortController().signal);
  t.deepEqual(seqsOf(producer.acknowledged), oneToTwenty);
});

test('a relay stopped by a fatal error says so in audit_stream_relay_stopped and reports no lag any more', async (t) => {
  const positions = memoryPositions();
  const producer = fakeProducer();
  const stop = new AbortController();
  const labels = { relay: 'kafka:stopped-topic', chain: 'main' };
  const store = memoryStore(records.slice(0, 10));
  const relay = runRelay(
    relayOptions({ sink: kafkaSink(producer, 'stopped-topic'), positions, store, signal: stop.signal, leaseMs: 150 }),
  );
  while ((await positions.read(labels.relay, 'main'))?.seq !== 10)
    await new Promise((resolve) => setTimeout(resolve, 5));
  t.is(await metric('audit_stream_relay_stopped', labels), 0);
  t.is(await metric('audit_stream_lag_records', labels), 0);
  // The chain no longer holds the relay's position (a database restored from an older backup), seen at the next claim.
  await positions.reset(labels.relay, 'main', { seq: 9, hash: 'b'.repeat(64) });
  await t.throwsAsync(relay, { code: 'RELAY_POSITION_MISMATCH' });
  t.is(await metric('audit_stream_relay_stopped', labels), 1);
  t.true(Number.isNaN(await metric('audit_stream_lag_records', labels)), 'the lag series is gone');
  stop.abort();
});

test('a broker answer no retry cures (a missing topic, access refused, a non-retriable error) stops the relay; a timeout or a connection error does not', async (t) => {
  const nonRetriable = (cause: Error) => new NonRetriable(cause, { cause });
  const protocol = (type: string) =>
    new KafkaJSProtocolError(Object.assign(new Error(type), { type, code: 0, retriable: false }));
  for (const refusal of [
    nonRetriable(protocol('MESSAGE_TOO_LARGE')),
    new KafkaJSNumberOfRetriesExceeded(protocol('UNKNOWN_TOPIC_OR_PARTITION'), { retryCount: 5, retryTime: 3000 }),
    new KafkaJSNumberOfRetriesExceeded(protocol('TOPIC_AUTHORIZATION_FAILED'), { retryCount: 5, retryTime: 3000 }),
  ]) {
    const producer = fakeProducer();
    producer.send = async () => {
      producer.attempts += 1;
      throw refusal;
    };
    await t.throwsAsync(runRelay(relayOptions({ sink: kafkaSink(producer, 'refused-topic'), untilSeq: 20 })), {
      code: 'RELAY_TARGET_REFUSED',
      message: /topic refused-topic from seq 1/,
    });
    t.is(producer.attempts, 1, refusal.message);
  }
  t.false(
    permanentKafkaError(
      new KafkaJSNumberOfRetriesExceeded(new KafkaJSConnectionError('Connection error'), {
        retryCount: 5,
        retryTime: 3000,
      }),
    ),
  );
  // As kafkajs's retrier wraps what it does not retry: the error as the cause.
  const timeout = new KafkaJSRequestTimeoutError('Request timed out');
  t.false(permanentKafkaError(new NonRetriable(timeout, { cause: timeout })));
  t.false(permanentKafkaError(new Error('topic t partition 0 answered error 7 from seq 1')));
});

test('the indexer reading Kafka waits out the broker and the network, never its own findings or a bug', (t) => {
  t.true(transientKafkaError(new KafkaJSConnectionError('Connection error')));
  t.true(
    transientKafkaError(
      new KafkaJSNumberOfRetriesExceeded(new KafkaJSRequestTimeoutError('timed out'), {
        retryCount: 5,
        retryTime: 3000,
      }),
    ),
  );
  t.false(transientKafkaError(new TypeError("Cannot read properties of undefined (reading 'value')")));
  t.false(transientKafkaError(new CodedError('STREAM_DISCONTINUITY', 'seq 7 where 6 was next')));
  const refused = new KafkaJSProtocolError(
    Object.assign(new Error('denied'), { type: 'TOPIC_AUTHORIZATION_FAILED', code: 29, retriable: false }),
  );
  t.false(transientKafkaError(new KafkaJSNumberOfRetriesExceeded(refused, { retryCount: 5, retryTime: 3000 })));
});

test('a copy of a record already indexed is dropped only when it is that record: one that differs stops the consumer', async (t) => {
  const producer = fakeProducer();
  await runRelay(relayOptions({ sink: kafkaSink(producer, 'audit-events'), untilSeq: 20 }));
  const all = producer.acknowledged;
  const indexedHash = async (seq: number) => records[seq - 1]?.record.hash;
  const read = async (messages: readonly ProducedMessage[], fromSeq: number) => {
    const given: number[] = [];
    const duplicates: number[] = [];
    for await (const stored of checkedKafkaRecords(deliveries(messages), {
      chain: 'main',
      fromSeq,
      anchorHash: records[fromSeq - 2]?.record.hash,
      registry,
      indexedHash,
      onDuplicate: (seq) => duplicates.push(seq),
    }))
      given.push(stored.record.seq);
    return { given, duplicates };
  };
  t.deepEqual(await read(all, 11), { given: oneToTwenty.slice(10), duplicates: oneToTwenty.slice(0, 10) });
  // Seq 4 again, its data changed (its hash and signature left as they were), below the index's position.
  const changed = { ...all[3]!, value: all[3]!.value.replace('"data":{', '"data":{"x":1,') };
  t.not(changed.value, all[3]!.value);
  await t.throwsAsync(read([changed, ...all.slice(10)], 11), {
    code: 'STREAM_RECORD_INVALID',
    message: /at seq 4: a copy of a record already indexed differs from it \(hash [0-9a-f]{64}, indexed [0-9a-f]{64}\)/,
  });
  // Another record's text under seq 4's headers.
  const swapped = { ...all[3]!, value: all[4]!.value };
  await t.throwsAsync(read([swapped], 11), { code: 'STREAM_RECORD_INVALID', message: /not a record of that seq/ });
  // A copy of a record taken earlier in the same reading (seq 12) is compared too.
  const changedTwelve = { ...all[11]!, value: all[11]!.value.replace('"data":{', '"data":{"x":1,') };
  await t.throwsAsync(read([...all.slice(10, 13), changedTwelve], 11), { message: /at seq 12: a copy/ });
});

test('a replay takes the lease with its reset: a relay running elsewhere cannot take it back before the replay claims it', async (t) => {
  const positions = memoryPositions();
  const running = fakeProducer();
  const runningStop = new AbortController();
  const serveRelay = runRelay(
    relayOptions({
      sink: kafkaSink(running, 'audit-events'),
      positions,
      signal: runningStop.signal,
      owner: 'serve',
      leaseMs: 150,
    }),
  );
  while (running.acknowledged.length < 20) await new Promise((resolve) => setTimeout(resolve, 5));
  await resetRelay(memoryStore(records), positions, 'kafka:audit-events', 'main', 11, {
    owner: 'replay',
    leaseMs: 150,
  });
  await new Promise((resolve) => setTimeout(resolve, 100)); // the running relay renews meanwhile, and fails to
  const replaying = fakeProducer();
  t.deepEqual(
    await runRelay(
      relayOptions({
        sink: kafkaSink(replaying, 'audit-events'),
        positions,
        owner: 'replay',
        leaseMs: 150,
        untilSeq: 20,
        standbyTimeoutMs: 500,
      }),
    ),
    { lastSeq: 20 },
  );
  t.deepEqual(seqsOf(replaying.acknowledged), oneToTwenty.slice(10));
  runningStop.abort();
  await serveRelay;
  t.deepEqual(seqsOf(running.acknowledged), oneToTwenty, 'the running relay sent nothing of the replay');
});

test('a one-shot relay (untilSeq) waiting on a lease another process keeps gives up with RELAY_LEASE_HELD', async (t) => {
  const positions = memoryPositions();
  await positions.claim('kafka:audit-events', 'main', 'elsewhere', 60_000, { seq: 0, hash: '0'.repeat(64) });
  const producer = fakeProducer();
  const started = Date.now();
  await t.throwsAsync(
    runRelay(
      relayOptions({
        sink: kafkaSink(producer, 'audit-events'),
        positions,
        leaseMs: 150,
        untilSeq: 20,
        standbyTimeoutMs: 300,
      }),
    ),
    { code: 'RELAY_LEASE_HELD', message: /another process has held the lease/ },
  );
  t.true(Date.now() - started < 2000);
  t.is(producer.attempts, 0);
});

test('a relay stopped while its send hangs does not take back the lease released for it', async (t) => {
  const positions = memoryPositions();
  const producer = fakeProducer();
  producer.hold = true;
  const stop = new AbortController();
  const relay = runRelay(
    relayOptions({
      sink: kafkaSink(producer, 'audit-events'),
      positions,
      signal: stop.signal,
      owner: 'stopping',
      leaseMs: 90,
    }),
  );
  while (producer.pending() === 0) await new Promise((resolve) => setTimeout(resolve, 2));
  stop.abort();
  await positions.release('kafka:audit-events', 'main', 'stopping'); // as stopping does after its budget
  await new Promise((resolve) => setTimeout(resolve, 200)); // several renewal periods with the send still hanging
  t.is(positions.rows.get('kafka:audit-events/main')?.owner, undefined, 'released stays released');
  producer.hold = false;
  producer.release();
  await relay.catch(() => undefined);
});
