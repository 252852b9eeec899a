/**
 * The idempotency records' retention (IDEMPOTENCY_RETENTION_HOURS, migration
 * 0018): a purge deletes only records older than the window, so a retry
 * within it still answers the first result and appends nothing.
 */
import test from 'ava';
import type { AppendEventInput } from '../../../chain/input.ts';
import { CodedError } from '../../../domain/errors.ts';
import { DEFAULT_IDEMPOTENCY_RETENTION_HOURS, loadConfig } from '../../../infra/wiring/config.ts';
import { purgeIdempotency } from '../../../infra/wiring/idempotencyRetention.ts';
import { ENGINES } from '../../helpers/databases.ts';
import { testRuntime, type TestRuntime } from '../../helpers/runtime.ts';

const buyer = { id: 'buyer-1', role: 'Buyer' };

function order(stream: string): AppendEventInput[] {
  return [{ stream, type: 'order.created', data: { priceMinor: 1999 }, actor: buyer }];
}

async function ageKey(rt: TestRuntime, key: string, hours: number): Promise<void> {
  await rt.db.query(
    `UPDATE idempotency_keys SET created_at = now() - make_interval(hours => $2::int4) WHERE key = $1`,
    [key, hours],
  );
}

async function keys(rt: TestRuntime): Promise<string[]> {
  const { rows } = await rt.db.query<{ key: string }>('SELECT key FROM idempotency_keys ORDER BY key');
  return rows.map((row) => row.key);
}

async function eventCount(rt: TestRuntime): Promise<number> {
  return (await rt.db.query<{ count: number }>('SELECT count(*)::int8 AS count FROM events')).rows[0]!.count;
}

for (const engine of ENGINES) {
  test(`${engine}: a purge deletes only records past the window; a retry within it still replays and appends nothing`, async (t) => {
    const rt = await testRuntime(t, engine);
    await rt.store.append('main', order('order-old'), { idempotencyKey: 'old' });
    const fresh = await rt.store.append('main', order('order-fresh'), { idempotencyKey: 'fresh' });
    await rt.store.append('main', order('order-edge'), { idempotencyKey: 'edge' });
    await ageKey(rt, 'old', 25);
    await ageKey(rt, 'edge', 23);

    t.deepEqual(await purgeIdempotency(rt.db, 24), { purged: 1, complete: true });
    t.deepEqual(await keys(rt), ['edge', 'fresh']);

    const retried = await rt.store.append('main', order('order-fresh'), { idempotencyKey: 'fresh' });
    t.true(retried.replayed);
    t.deepEqual(retried.events, fresh.events);
    t.is(await eventCount(rt), 3);
    // Past the window the key is a new request: the same body appends again.
    const again = await rt.store.append('main', order('order-old'), { idempotencyKey: 'old' });
    t.false(again.replayed);
    t.is(await eventCount(rt), 4);
    t.deepEqual(await purgeIdempotency(rt.db, 24), { purged: 0, complete: true });
  });

  test(`${engine}: a purge pass deletes in statements of a bounded size until no record is due`, async (t) => {
    const rt = await testRuntime(t, engine);
    for (let index = 0; index < 5; index++)
      await rt.store.append('main', order(`order-${index}`), { idempotencyKey: `k${index}` });
    for (let index = 0; index < 5; index++) await ageKey(rt, `k${index}`, 48);
    t.deepEqual(await purgeIdempotency(rt.db, 24, 2), { purged: 5, complete: true });
    t.deepEqual(await keys(rt), []);
  });
}

test('IDEMPOTENCY_RETENTION_HOURS: 30 days by default, refused under the 3 days a payment provider retries a webhook', (t) => {
  t.is(loadConfig({}).idempotencyRetentionHours, DEFAULT_IDEMPOTENCY_RETENTION_HOURS);
  t.is(loadConfig({ IDEMPOTENCY_RETENTION_HOURS: '72' }).idempotencyRetentionHours, 72);
  for (const value of ['12', '24', '71', '0', 'forever']) {
    const error = t.throws(() => loadConfig({ IDEMPOTENCY_RETENTION_HOURS: value }));
    t.true(error instanceof CodedError);
    t.regex(JSON.stringify((error as CodedError).details), /IDEMPOTENCY_RETENTION_HOURS/);
  }
});
