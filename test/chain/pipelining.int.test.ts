/**
 * The writer sends a batch's statement before the batch ahead's commit came
 * back (chain/writer.ts, "Pipelining"). When the batch ahead reports an
 * error although the server committed it (a connection lost after the
 * commit), a batch sent behind it commits too: its appends are answered,
 * never appended again. A batch ahead that fails at the server (a
 * constraint violation, its backend terminated) while the batch behind waits
 * for its row lock: the batch behind writes nothing on the failed head and is
 * appended once, on the real one.
 */
import test, { type ExecutionContext } from 'ava';
import type { SqlDatabase, SqlExecutor } from '../../infra/adapters/sql/sql.ts';
import { databaseReader } from '../../infra/adapters/sql/databaseReader.ts';
import { loadConfig } from '../../infra/wiring/config.ts';
import { openRuntime, type Runtime } from '../../infra/wiring/runtime.ts';
import { inProcessChecker } from '../../verifier/inProcessChecker.ts';
import { verify } from '../../verifier/verify.ts';
import { openTestDatabase, type TestDatabase } from '../helpers/databases.ts';
import { tempDir } from '../helpers/runtime.ts';
import { rmSync } from 'node:fs';

const APPENDS = 400;
const IN_FLIGHT = 64;

/** How long a lost answer takes at least to come: the next batch is signed and sends its statement meanwhile. */
const LOST_AFTER_MS = 100;
/** How long a lost answer waits at most for the next batch statement to be sent behind it. */
const BEHIND_WAIT_MS = 2_000;

/**
 * `db` whose batch statements that commit, numbered in `lose` among those, report a lost connection once the next
 * batch statement was sent (or BEHIND_WAIT_MS passed) and LOST_AFTER_MS more. `behind`: how many were answered
 * with the next statement already sent.
 */
function losingAnswers(
  db: SqlDatabase,
  lose: readonly number[],
): { db: SqlDatabase; lost: () => number; behind: () => number } {
  let sent = 0;
  let committed = 0;
  let lost = 0;
  let behind = 0;
  const losing =
    (executor: SqlExecutor): SqlExecutor['query'] =>
    async (text, params) => {
      const statement = text.startsWith('WITH head AS') ? ++sent : 0;
      const result = await executor.query(text, params);
      const moved = statement > 0 && Number((result.rows[0] as { moved?: unknown } | undefined)?.moved) > 0;
      if (moved && lose.includes(++committed)) {
        lost++;
        const deadline = Date.now() + BEHIND_WAIT_MS;
        while (sent === statement && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
        if (sent > statement) behind++;
        await new Promise((resolve) => setTimeout(resolve, LOST_AFTER_MS));
        throw new Error('connection lost after the commit');
      }
      return result as never;
    };
  // The batch statements go through `ordered` where the database has it.
  const ordered = db.ordered && { ...db.ordered, query: losing(db.ordered) };
  return { db: { ...db, query: losing(db), ordered }, lost: () => lost, behind: () => behind };
}

async function openWith(
  t: ExecutionContext,
  wrap: (db: SqlDatabase) => SqlDatabase,
): Promise<{ database: TestDatabase; runtime: Runtime }> {
  const database = await openTestDatabase('postgres');
  const dataDir = tempDir('pipelining');
  const runtime = await openRuntime(loadConfig({ CHAINBOOK_DATA_DIR: dataDir }), {
    db: wrap(database.db),
    projections: false,
  });
  t.teardown(async () => {
    await runtime.close();
    await database.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });
  return { database, runtime };
}

/** Appends one event to `stream(index)` for each index below APPENDS, IN_FLIGHT at a time: each one's outcome. */
async function appendAll(
  runtime: Runtime,
  stream: (index: number) => string,
): Promise<PromiseSettledResult<unknown>[]> {
  let next = 0;
  const outcomes: PromiseSettledResult<unknown>[] = [];
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < APPENDS) {
        const index = next++;
        const [outcome] = await Promise.allSettled([
          runtime.store.append('main', [
            { stream: stream(index), type: 'order.created', data: { index }, actor: { id: 'b', role: 'Buyer' } },
          ]),
        ]);
        outcomes[index] = outcome!;
      }
    }),
  );
  return outcomes;
}

/** Streams in the chain with the number of their events. */
async function storedStreams(db: SqlDatabase): Promise<Map<string, number>> {
  const { rows } = await db.query<{ stream: string; count: number }>(
    'SELECT stream, count(*)::int8 AS count FROM events GROUP BY stream',
  );
  return new Map(rows.map((row) => [row.stream, Number(row.count)]));
}

/** No append twice; every acknowledged one there; the chain verifies (seq contiguous, each prev hash the last hash). */
async function assertChain(
  t: ExecutionContext,
  database: TestDatabase,
  runtime: Runtime,
  outcomes: PromiseSettledResult<unknown>[],
  stream: (index: number) => string,
): Promise<Map<string, number>> {
  const stored = await storedStreams(database.db);
  t.deepEqual(
    [...stored].filter(([, count]) => count > 1),
    [],
    'no append is in the chain twice',
  );
  const missing = outcomes.flatMap((outcome, index) =>
    outcome.status === 'fulfilled' && !stored.has(stream(index)) ? [stream(index)] : [],
  );
  t.deepEqual(missing, [], 'every acknowledged append is in the chain');
  const { rows } = await database.db.query<{ count: number; last: number }>(
    "SELECT count(*)::int8 AS count, coalesce(max(seq), 0)::int8 AS last FROM events WHERE chain = 'main'",
  );
  t.is(Number(rows[0]!.count), Number(rows[0]!.last), 'seq runs from 1 without a gap');
  const report = await verify(databaseReader(database.db), inProcessChecker(runtime.registry));
  t.true(report.ok, JSON.stringify(report.finding));
  return stored;
}

const orders = (index: number): string => `order-${index}`;

for (const lose of [[4], [4, 5]]) {
  test(`postgres: when committed batch statements ${lose.join(' and ')} report an error after the server committed them, with the next statement sent behind, nothing is appended twice`, async (t) => {
    let wrapped: ReturnType<typeof losingAnswers> | undefined;
    const { database, runtime } = await openWith(t, (db) => (wrapped = losingAnswers(db, lose)).db);
    const outcomes = await appendAll(runtime, orders);
    t.is(wrapped!.lost(), lose.length);
    t.true(wrapped!.behind() >= 1, 'a statement was sent behind a lost one before its error came');
    t.true(
      outcomes.some((outcome) => outcome.status === 'rejected'),
      'the appends of a batch whose answer was lost fail',
    );
    await assertChain(t, database, runtime, outcomes, orders);
    // Every append is there once: the lost batches' too (the server committed them).
    t.is(
      [...(await storedStreams(database.db)).values()].reduce((a, b) => a + b, 0),
      APPENDS,
    );
  });
}

/** Every POISON_EVERY-th append's stream: its row trigger sleeps, holding the head's row lock, then fails or is killed. */
const POISON_EVERY = 50;
const poisoned = (index: number): string => (index % POISON_EVERY === 7 ? `poison-${index}` : `order-${index}`);

test('postgres: a batch ahead that fails with a constraint violation while the batch behind waits for its row lock: the batch behind is appended once, on the real head; only the poisoned appends are refused', async (t) => {
  const { database, runtime } = await openWith(t, (db) => db);
  await database.db.exec(`
    CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM pg_sleep(0.05);
      RAISE EXCEPTION 'poisoned stream %', NEW.stream USING ERRCODE = 'check_violation';
    END $$;
    CREATE TRIGGER poison BEFORE INSERT ON events FOR EACH ROW WHEN (NEW.stream LIKE 'poison-%') EXECUTE FUNCTION poison();
  `);
  const outcomes = await appendAll(runtime, poisoned);
  const stored = await assertChain(t, database, runtime, outcomes, poisoned);
  const refused = outcomes.flatMap((outcome, index) => (outcome.status === 'rejected' ? [poisoned(index)] : []));
  t.deepEqual(
    refused,
    Array.from({ length: APPENDS / POISON_EVERY }, (_, index) => `poison-${index * POISON_EVERY + 7}`),
  );
  t.is(stored.size, APPENDS - refused.length, 'every other append is there once');
});

test('postgres: a batch ahead that fails with a serialization failure while the batch behind waits for its row lock: its appends fail and are not there, every other one is there once', async (t) => {
  const { database, runtime } = await openWith(t, (db) => db);
  await database.db.exec(`
    CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM pg_sleep(0.05);
      RAISE EXCEPTION 'poisoned stream %', NEW.stream USING ERRCODE = 'serialization_failure';
    END $$;
    CREATE TRIGGER poison BEFORE INSERT ON events FOR EACH ROW WHEN (NEW.stream LIKE 'poison-%') EXECUTE FUNCTION poison();
  `);
  const outcomes = await appendAll(runtime, poisoned);
  const stored = await assertChain(t, database, runtime, outcomes, poisoned);
  const rejected = outcomes.flatMap((outcome, index) => (outcome.status === 'rejected' ? [poisoned(index)] : []));
  t.is(rejected.filter((stream) => stream.startsWith('poison-')).length, APPENDS / POISON_EVERY);
  t.deepEqual(
    rejected.filter((stream) => stored.has(stream)),
    [],
    'an append answered with an error is not in the chain',
  );
  t.is(stored.size, APPENDS - rejected.length);
});

test('postgres: a batch ahead whose backend is terminated (pg_terminate_backend) while the batch behind waits for its row lock: its appends fail and are not there, every other one is there once', async (t) => {
  const { database, runtime } = await openWith(t, (db) => db);
  await database.db.exec(`
    CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM pg_sleep(5);
      RETURN NEW;
    END $$;
    CREATE TRIGGER slow BEFORE INSERT ON events FOR EACH ROW WHEN (NEW.stream LIKE 'poison-%') EXECUTE FUNCTION slow();
  `);
  let killed = 0;
  let stop = false;
  const killer = (async () => {
    while (!stop) {
      const { rows } = await database.db.query<{ killed: boolean }>(
        `SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity
         WHERE datname = current_database() AND pid <> pg_backend_pid() AND wait_event = 'PgSleep'
           AND query LIKE 'WITH head AS%'`,
      );
      killed += rows.filter((row) => row.killed).length;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  const outcomes = await appendAll(runtime, poisoned);
  stop = true;
  await killer;
  t.true(killed > 0, 'a batch statement was terminated');
  const stored = await assertChain(t, database, runtime, outcomes, poisoned);
  const rejected = outcomes.flatMap((outcome, index) => (outcome.status === 'rejected' ? [poisoned(index)] : []));
  t.true(rejected.length > 0);
  t.deepEqual(
    rejected.filter((stream) => stored.has(stream)),
    [],
    'an append answered with an error is not in the chain',
  );
  t.is(stored.size, APPENDS - rejected.length);
});
