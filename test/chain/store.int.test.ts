import test, { type ExecutionContext } from 'ava';
import { ChainError, type ChainErrorCode } from '../../chain/errors.ts';
import type { AppendEventInput } from '../../chain/input.ts';
import { MAX_EVENT_DATA_BYTES, MAX_EVENTS_PER_APPEND, MAX_PAGE_RECORDS } from '../../chain/limits.ts';
import { ZERO_HASH } from '../../chain/record.ts';
import type { Signer } from '../../chain/signer.ts';
import { inProcessChecker } from '../../verifier/inProcessChecker.ts';
import { verify } from '../../verifier/verify.ts';
import { databaseReader } from '../../infra/adapters/sql/databaseReader.ts';
import { SqlEventStore } from '../../infra/adapters/sql/sqlEventStore.ts';
import { ENGINES } from '../helpers/databases.ts';
import { testRuntime, type TestRuntime } from '../helpers/runtime.ts';

const buyer = { id: 'buyer-1', role: 'Buyer' };

function event(
  stream: string,
  data: Record<string, unknown> = {},
  extra: Partial<AppendEventInput> = {},
): AppendEventInput {
  return { stream, type: 'order.created', data: data as AppendEventInput['data'], actor: buyer, ...extra };
}

async function countEvents(rt: TestRuntime): Promise<number> {
  const { rows } = await rt.db.query<{ count: number }>('SELECT count(*)::int8 AS count FROM events');
  return rows[0]!.count;
}

async function assertVerifies(t: ExecutionContext, rt: TestRuntime): Promise<void> {
  const report = await verify(databaseReader(rt.db), inProcessChecker(rt.registry));
  t.true(report.ok, JSON.stringify(report.finding));
}

for (const engine of ENGINES) {
  test(`${engine}: appends, then reads back by stream, by chain and the head, with int8 as numbers`, async (t) => {
    const rt = await testRuntime(t, engine);
    const first = await rt.store.append('main', [
      event('order-a', { priceMinor: 1999 }),
      event('order-a', { n: 2 }, { type: 'order.paid' }),
    ]);
    t.deepEqual(
      first.events.map((e) => [e.seq, e.stream, e.version, e.type]),
      [
        [1, 'order-a', 1, 'order.created'],
        [2, 'order-a', 2, 'order.paid'],
      ],
    );
    t.false(first.replayed);
    const head = await rt.store.head('main');
    t.deepEqual({ seq: head.seq, hash: head.hash }, { seq: 2, hash: first.events[1]!.hash });
    t.is(typeof head.seq, 'number');
    const stream = await rt.store.readStream('order-a');
    t.deepEqual(
      stream.map((s) => s.record.version),
      [1, 2],
    );
    t.is(stream[0]!.record.prevHash, ZERO_HASH);
    t.is(stream[1]!.record.prevHash, stream[0]!.record.hash);
    t.is(stream[0]!.record.sig.kid, rt.signer.kid);
    const chain = await rt.store.readChain('main', { fromSeq: 2 });
    t.deepEqual(
      chain.map((s) => s.record.seq),
      [2],
    );
    t.is(typeof chain[0]!.record.seq, 'number');
    await assertVerifies(t, rt);
  });

  test(`${engine}: a wrong expectedVersion fails with STREAM_VERSION_CONFLICT and appends nothing of the batch`, async (t) => {
    const rt = await testRuntime(t, engine);
    await rt.store.append('main', [event('order-a', {}, { expectedVersion: 0 })]);
    const error = await t.throwsAsync(
      rt.store.append('main', [
        event('order-b', {}, { expectedVersion: 0 }),
        event('order-a', {}, { expectedVersion: 0 }),
      ]),
      { instanceOf: ChainError },
    );
    t.is(error.code, 'STREAM_VERSION_CONFLICT');
    t.like(error.details, { index: 1, stream: 'order-a', expectedVersion: 0, actualVersion: 1 });
    t.is(await countEvents(rt), 1);
    t.deepEqual(await rt.store.readStream('order-b'), []);
    t.is((await rt.store.head('main')).seq, 1);
  });

  test(`${engine}: a repeated idempotency key returns the first result and appends nothing; another body is IDEMPOTENCY_KEY_REUSED`, async (t) => {
    const rt = await testRuntime(t, engine);
    const first = await rt.store.append('main', [event('order-a', { n: 1 })], { idempotencyKey: 'checkout-1' });
    const again = await rt.store.append('main', [event('order-a', { n: 1 }, { meta: { traceId: 'retry' } })], {
      idempotencyKey: 'checkout-1',
    });
    t.true(again.replayed);
    t.deepEqual(again.events, first.events);
    t.is(await countEvents(rt), 1);
    const error = await t.throwsAsync(
      rt.store.append('main', [event('order-a', { n: 2 })], { idempotencyKey: 'checkout-1' }),
      { instanceOf: ChainError },
    );
    t.is(error.code, 'IDEMPOTENCY_KEY_REUSED');
    t.is(await countEvents(rt), 1);
    t.is((await rt.store.readChain('main'))[0]!.record.meta.idempotencyKey, 'checkout-1');
  });

  test(`${engine}: concurrent appends with one idempotency key append once and all get the same seqs`, async (t) => {
    const rt = await testRuntime(t, engine);
    const results = await Promise.all(
      Array.from({ length: 20 }, () => rt.store.append('main', [event('order-a', { n: 1 })], { idempotencyKey: 'k' })),
    );
    t.is(await countEvents(rt), 1);
    t.is(results.filter((r) => !r.replayed).length, 1);
    t.true(results.every((r) => r.events[0]!.seq === 1));
  });

  test(`${engine}: concurrent appends are group-committed into fewer transactions and stay linear`, async (t) => {
    const rt = await testRuntime(t, engine);
    const transaction = rt.db.transaction.bind(rt.db);
    let transactions = 0;
    rt.db.transaction = (work) => {
      transactions += 1;
      return transaction(work);
    };
    const results = await Promise.all(
      Array.from({ length: 300 }, (_, i) => rt.store.append('main', [event(`order-${i % 7}`, { i })])),
    );
    const seqs = results.map((r) => r.events[0]!.seq).sort((a, b) => a - b);
    t.deepEqual(
      seqs,
      Array.from({ length: 300 }, (_, i) => i + 1),
    );
    t.true(transactions < 300 / 4, `${transactions} transactions for 300 appends`);
    await assertVerifies(t, rt);
  });

  test(`${engine}: one rejected append in a group-commit batch does not fail the others`, async (t) => {
    const rt = await testRuntime(t, engine);
    const settled = await Promise.allSettled([
      rt.store.append('main', [event('order-a', {}, { expectedVersion: 0 })]),
      rt.store.append('main', [event('order-a', {}, { expectedVersion: 0 })]),
      rt.store.append('main', [event('order-b', {}, { expectedVersion: 0 })]),
    ]);
    t.deepEqual(
      settled.map((s) => s.status),
      ['fulfilled', 'rejected', 'fulfilled'],
    );
    t.is(((settled[1] as PromiseRejectedResult).reason as ChainError).code, 'STREAM_VERSION_CONFLICT');
    t.is(await countEvents(rt), 2);
  });

  test(`${engine}: bad input is rejected with a clear code and nothing is appended`, async (t) => {
    const rt = await testRuntime(t, engine);
    await rt.store.append('main', [event('order-a')]);
    const before = await rt.store.head('main');
    const cases: [string, unknown, ChainErrorCode, RegExp][] = [
      ['main', [{ ...event('order-b'), data: [1, 2] }], 'INVALID_EVENT', /data must be a JSON object/],
      ['main', [{ ...event('order-b'), data: 'x' }], 'INVALID_EVENT', /data must be a JSON object/],
      [
        'main',
        [event('order-b', { priceMinor: 19.99 })],
        'INVALID_EVENT',
        /data\.priceMinor: 19\.99 is not an integer/,
      ],
      ['main', [event('order-b', { amount: 2 ** 53 })], 'INVALID_EVENT', /not an integer within/],
      ['main', [event('order-b', { nested: { list: [1, Number.NaN] } })], 'INVALID_EVENT', /data\.nested\.list\[1\]/],
      ['main', [event('order-b', { s: 'a\ud800b' })], 'INVALID_EVENT', /lone surrogate/],
      ['Main', [event('order-b')], 'INVALID_CHAIN_NAME', /chain name must match/],
      ['main;drop', [event('order-b')], 'INVALID_CHAIN_NAME', /chain name must match/],
      ['nope', [event('order-b')], 'UNKNOWN_CHAIN', /does not exist/],
      ['main', [event('order-b', { blob: 'x'.repeat(MAX_EVENT_DATA_BYTES) })], 'EVENT_TOO_LARGE', /at most 65536/],
      ['main', [{ stream: 'order-b', type: 'order.created', data: {} }], 'INVALID_EVENT', /actor must be an object/],
      [
        'main',
        [{ ...event('order-b'), actor: { id: '', role: 'Buyer' } }],
        'INVALID_EVENT',
        /actor\.id must be a non-empty string/,
      ],
      ['main', [{ ...event('order-b'), type: 'OrderCreated' }], 'INVALID_EVENT', /type must be dot-namespaced/],
      ['main', [{ ...event('order-b'), stream: 'no dash' }], 'INVALID_EVENT', /stream must look like/],
      ['main', [{ ...event('order-b'), expectedVersion: -1 }], 'INVALID_EVENT', /expectedVersion/],
      ['main', [{ ...event('order-b'), extra: 1 }], 'INVALID_EVENT', /unknown members: extra/],
      ['main', [{ ...event('order-b'), meta: { secret: 'x' } }], 'INVALID_EVENT', /meta\.secret is not one of/],
      ['main', [], 'INVALID_EVENT', /non-empty array/],
      [
        'main',
        Array.from({ length: MAX_EVENTS_PER_APPEND + 1 }, () => event('order-b')),
        'TOO_MANY_EVENTS',
        /at most 100/,
      ],
      ['main', [event('order-c'), event('order-b', { f: 0.5 })], 'INVALID_EVENT', /events\[1\]/],
    ];
    for (const [chain, events, code, message] of cases) {
      const error = await t.throwsAsync(
        rt.store.append(chain, events as AppendEventInput[]),
        { instanceOf: ChainError },
        `${code} ${message}`,
      );
      t.is(error.code, code);
      t.regex(error.message, message);
    }
    t.deepEqual(await rt.store.head('main'), before);
    t.is(await countEvents(rt), 1);
  });

  test(`${engine}: several chains in one database keep separate seqs, and a stream stays in its chain`, async (t) => {
    const rt = await testRuntime(t, engine);
    await rt.store.createChain('finance');
    await t.throwsAsync(rt.store.createChain('finance'), { instanceOf: ChainError, message: /already exists/ });
    await rt.store.append('main', [event('order-a')]);
    const finance = await rt.store.append('finance', [event('ledger-1', {}, { type: 'ledger.posted' })]);
    t.is(finance.events[0]!.seq, 1);
    const error = await t.throwsAsync(rt.store.append('finance', [event('order-a')]), { instanceOf: ChainError });
    t.is(error.code, 'STREAM_IN_OTHER_CHAIN');
    t.deepEqual(
      (await rt.store.listChains()).map((c) => [c.chain, c.seq]),
      [
        ['finance', 1],
        ['main', 1],
      ],
    );
    await assertVerifies(t, rt);
  });

  test(`${engine}: the database rejects UPDATE, DELETE and TRUNCATE of events from the application connection`, async (t) => {
    const rt = await testRuntime(t, engine);
    await rt.store.append('main', [event('order-a')]);
    for (const statement of ["UPDATE events SET type = 'x.y'", 'DELETE FROM events', 'TRUNCATE events']) {
      const error = await t.throwsAsync(rt.db.query(statement));
      t.regex(error.message, /append-only/, statement);
    }
    t.is(await countEvents(rt), 1);
    await assertVerifies(t, rt);
  });

  test(`${engine}: reads are bounded pages`, async (t) => {
    const rt = await testRuntime(t, engine);
    const many = Array.from({ length: MAX_EVENTS_PER_APPEND }, (_, i) => event(`order-${i}`));
    for (let round = 0; round < 11; round++) await rt.store.append('main', many);
    t.is((await rt.store.readChain('main', { limit: 5000 })).length, MAX_PAGE_RECORDS);
    t.deepEqual(
      (await rt.store.readChain('main', { fromSeq: 1001, toSeq: 1003 })).map((s) => s.record.seq),
      [1001, 1002, 1003],
    );
    await t.throwsAsync(rt.store.readChain('main', { limit: 0 }), { message: /limit must be a positive integer/ });
  });

  test(`${engine}: many stream reads at once, grouped into shared statements, each get exactly their own stream from their version`, async (t) => {
    const rt = await testRuntime(t, engine);
    const events = Array.from({ length: 40 }, (_, i) => event(`order-${i % 10}`, { i }));
    await rt.store.append(
      'main',
      events.map((e, i) => ({ ...e, type: i < 10 ? 'order.created' : 'order.paid' })),
    );
    const reads = Array.from({ length: 100 }, (_, i) => ({ stream: `order-${i % 12}`, fromVersion: 1 + (i % 5) }));
    const pages = await Promise.all(reads.map((read) => rt.store.readStream(read.stream, read)));
    reads.forEach((read, index) => {
      const expected =
        read.stream === 'order-10' || read.stream === 'order-11'
          ? []
          : [1, 2, 3, 4].filter((v) => v >= read.fromVersion);
      t.deepEqual(
        pages[index]!.map((s) => [s.record.stream, s.record.version]),
        expected.map((version) => [read.stream, version]),
      );
    });
  });

  test(`${engine}: read-only mode refuses appends with SIGNING_UNAVAILABLE and the reason`, async (t) => {
    const rt = await testRuntime(t, engine, { env: { SIGNING_DISABLED_REASON: 'KMS outage 2026-11-23T05:15Z' } });
    const error = await t.throwsAsync(rt.store.append('main', [event('order-a')]), { instanceOf: ChainError });
    t.is(error.code, 'SIGNING_UNAVAILABLE');
    t.regex(error.message, /KMS outage/);
    t.is(await countEvents(rt), 0);
  });

  test(`${engine}: a signer that fails appends nothing and reports SIGNING_UNAVAILABLE`, async (t) => {
    const rt = await testRuntime(t, engine);
    let failing = true;
    const flaky: Signer = {
      ...rt.signer,
      signBatch: (requests) =>
        failing ? Promise.reject(new Error('proxy unreachable')) : rt.signer.signBatch(requests),
    };
    const store = new SqlEventStore(rt.db, { signer: flaky });
    t.teardown(() => store.close());
    const error = await t.throwsAsync(store.append('main', [event('order-a')]), { instanceOf: ChainError });
    t.is(error.code, 'SIGNING_UNAVAILABLE');
    t.regex(error.message, /proxy unreachable/);
    t.is((await store.head('main')).seq, 0);
    failing = false;
    t.is((await store.append('main', [event('order-a')])).events[0]!.seq, 1);
  });
}
