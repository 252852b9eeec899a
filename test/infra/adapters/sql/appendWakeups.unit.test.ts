/**
 * appendWakeups' own logic, with a `listen` the test controls (the real one
 * is exercised on PostgreSQL and PGlite by test/chain/subscription.int.test.ts):
 * one attempt at a time however a failure is reported, a lost connection
 * wakes everyone and listens again, and nothing is left listening after close.
 */
import test from 'ava';
import { appendWakeups } from '../../../../infra/adapters/sql/appendWakeups.ts';
import type { SqlDatabase } from '../../../../infra/adapters/sql/sql.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('a database that refuses every attempt (and also reports each as lost, as pg does) is tried once per retry interval', async (t) => {
  let attempts = 0;
  const db: Pick<SqlDatabase, 'listen'> = {
    listen: (_channel, _onNotify, onLost) => {
      attempts += 1;
      onLost(new Error('connection refused'));
      return Promise.reject(new Error('connection refused'));
    },
  };
  const wakeups = appendWakeups(db, { retryMs: 20 });
  await wakeups.wait('main', 0, 1, undefined);
  await sleep(300);
  await wakeups.close();
  t.true(attempts >= 5 && attempts <= 20, `${attempts} attempts in 300 ms at one per 20 ms`);
  const after = attempts;
  await sleep(100);
  t.is(attempts, after, 'none after close');
});

test('notifications wake the waiters of their chain; a lost connection wakes all and listens again; close stops the listening', async (t) => {
  const listens: { onNotify: (payload: string) => void; onLost: (error: Error) => void; stopped: boolean }[] = [];
  const db: Pick<SqlDatabase, 'listen'> = {
    listen: async (_channel, onNotify, onLost) => {
      const listening = { onNotify, onLost, stopped: false };
      listens.push(listening);
      return async () => {
        listening.stopped = true;
      };
    },
  };
  const wakeups = appendWakeups(db, { retryMs: 10 });
  const first = wakeups.wait('main', 0, 60_000);
  await sleep(10);
  t.true(wakeups.listening());
  const seen = wakeups.generation('main');
  const waiting = wakeups.wait('main', seen, 60_000);
  const other = wakeups.wait('other', wakeups.generation('other'), 60_000);
  listens[0]!.onNotify('main');
  await Promise.all([first, waiting]);
  t.is(wakeups.generation('main'), seen + 1);
  listens[0]!.onLost(new Error('terminated'));
  await other; // woken by the loss: what was announced meanwhile is read now
  await sleep(50);
  t.is(listens.length, 2, 'listening again after the retry interval');
  t.true(wakeups.listening());
  await wakeups.close();
  t.true(listens[1]!.stopped);
  t.false(wakeups.listening());
});

test('a listen that succeeds after close is stopped at once', async (t) => {
  let release!: () => void;
  let stopped = false;
  const db: Pick<SqlDatabase, 'listen'> = {
    listen: () =>
      new Promise((resolve) => {
        release = () =>
          resolve(async () => {
            stopped = true;
          });
      }),
  };
  const wakeups = appendWakeups(db);
  void wakeups.wait('main', 0, 1);
  await wakeups.close();
  release();
  await sleep(10);
  t.true(stopped);
});
