/**
 * Chain subscriptions on a real database (PostgreSQL and PGlite): the records
 * already there and then each one appended, in seq order, linked, once; woken
 * by the database's notifications (the poll interval here is a minute, so a
 * record that arrives in time came by NOTIFY).
 */
import { appendQuotes } from '../helpers/quotes.ts';
import test from 'ava';
import type { AppendWakeups } from '../../chain/subscription.ts';
import { subscribeChain } from '../../chain/subscription.ts';
import type { StoredRecord } from '../../chain/record.ts';
import type { EventStore } from '../../chain/store.ts';
import { testApp } from '../helpers/app.ts';
import { ENGINES } from '../helpers/databases.ts';

const MINUTE_MS = 60_000;

/** Takes `count` records from a subscription, then stops it. */
async function take(records: AsyncGenerator<StoredRecord>, count: number): Promise<StoredRecord[]> {
  const taken: StoredRecord[] = [];
  for await (const stored of records) {
    taken.push(stored);
    if (taken.length === count) break;
  }
  return taken;
}

function linked(
  t: { is: (a: unknown, b: unknown, m?: string) => void },
  records: readonly StoredRecord[],
  from: number,
) {
  records.forEach((stored, index) => {
    t.is(stored.record.seq, from + index, 'in seq order, none skipped, none twice');
    if (index > 0) t.is(stored.record.prevHash, records[index - 1]!.record.hash, `seq ${stored.record.seq} links`);
  });
}

for (const engine of ENGINES) {
  test(`${engine}: a subscription gives the records there, then each one appended, woken by the database`, async (t) => {
    const app = await testApp(t, engine);
    const store = app.runtime.store;
    await appendQuotes(store, 0, 450, { perAppend: 10 });
    const controller = new AbortController();
    t.teardown(() => controller.abort());
    const options = { fromSeq: 1, pageRecords: 100, pollMs: MINUTE_MS, signal: controller.signal };
    const fromStart = subscribeChain(store, app.wakeups, 'main', options);
    const caughtUp = await take(fromStart, 450);
    linked(t, caughtUp, 1);

    // Listening before the appends below: a record that arrives within seconds then came by its NOTIFY.
    await app.wakeups.wait('main', -1, 0); // listening starts with the first wait
    while (!app.wakeups.listening()) await new Promise((resolve) => setTimeout(resolve, 10));
    // From the live head: only what comes after.
    const live = subscribeChain(store, app.wakeups, 'main', { ...options, fromSeq: 451 });
    const liveTaken = take(live, 50);
    const restTaken = take(subscribeChain(store, app.wakeups, 'main', { ...options, fromSeq: 1 }), 500);
    const started = Date.now();
    await appendQuotes(store, 450, 50, { perAppend: 10 });
    const [liveRecords, all] = await Promise.all([liveTaken, restTaken]);
    t.true(Date.now() - started < 30_000, 'within seconds, not the minute of the poll: notified');
    linked(t, liveRecords, 451);
    linked(t, all, 1);
    t.is(all[449]!.record.hash, liveRecords[0]!.record.prevHash, 'the live subscriber was anchored on seq 450');
  });

  test(`${engine}: a subscription ahead of the head waits for its first record; an abort ends it`, async (t) => {
    const app = await testApp(t, engine);
    await appendQuotes(app.runtime.store, 0, 5, { perAppend: 10 });
    const controller = new AbortController();
    const ahead = take(
      subscribeChain(app.runtime.store, app.wakeups, 'main', {
        fromSeq: 9,
        pollMs: MINUTE_MS,
        signal: controller.signal,
      }),
      2,
    );
    await appendQuotes(app.runtime.store, 5, 5, { perAppend: 10 });
    const records = await ahead;
    linked(t, records, 9);
    const idle = subscribeChain(app.runtime.store, app.wakeups, 'main', {
      fromSeq: 11,
      pollMs: MINUTE_MS,
      signal: controller.signal,
    });
    const ended = take(idle, 1);
    controller.abort();
    t.deepEqual(await ended, [], 'aborted while waiting: it ends, with nothing');
    await t.throwsAsync(take(subscribeChain(app.runtime.store, app.wakeups, 'nope', { fromSeq: 1 }), 1), {
      message: /does not exist/,
    });
  });
}

/** A store whose pages are given, for the subscriber's own checks (a correct database never shows these). */
function pagedStore(pages: StoredRecord[][]): EventStore {
  const all = pages.flat();
  let call = 0;
  return {
    head: async () => ({ chain: 'main', seq: all.length, hash: all.at(-1)!.record.hash, ts: null }),
    readChain: async (_chain: string, options: { fromSeq?: number; toSeq?: number }) => {
      if (options.toSeq !== undefined) return all.filter((s) => s.record.seq === options.toSeq);
      return (pages[call++] ?? []).filter((s) => s.record.seq >= (options.fromSeq ?? 1));
    },
  } as unknown as EventStore;
}

const noWakeups: AppendWakeups = {
  generation: () => 0,
  wait: (_chain, _seen, timeoutMs, signal) =>
    new Promise((resolve) => {
      const timer = setTimeout(resolve, Math.min(timeoutMs, 20));
      signal?.addEventListener('abort', () => {
        clearTimeout(timer);
        resolve();
      });
    }),
};

test('the subscriber gives nothing past a broken link, and reports a gap it has waited out, with its seq', async (t) => {
  const app = await testApp(t, 'pglite');
  await appendQuotes(app.runtime.store, 0, 6, { perAppend: 10 });
  const records = await app.runtime.store.readChain('main', { fromSeq: 1, limit: 6 });
  const forged = { ...records[3]!, record: { ...records[3]!.record, prevHash: 'f'.repeat(64) } };
  const broken = subscribeChain(pagedStore([[...records.slice(0, 3), forged]]), noWakeups, 'main', { fromSeq: 1 });
  const given: number[] = [];
  const error = await t.throwsAsync(async () => {
    for await (const stored of broken) given.push(stored.record.seq);
  });
  t.deepEqual(given, [1, 2, 3], 'the records before the break, none after');
  t.regex(error!.message, /at seq 4: seq 4 links to f{64}/);

  const gapped = subscribeChain(
    pagedStore([records.slice(0, 2), ...Array.from({ length: 100 }, () => records.slice(3))]),
    noWakeups,
    'main',
    { fromSeq: 1, gapToleranceMs: 200, pollMs: 20 },
  );
  const beforeGap: number[] = [];
  const gap = await t.throwsAsync(async () => {
    for await (const stored of gapped) beforeGap.push(stored.record.seq);
  });
  t.deepEqual(beforeGap, [1, 2]);
  t.regex(gap!.message, /at seq 3: seq 4 where 3 was next/);
});
