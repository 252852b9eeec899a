import test from 'ava';
import { loadConfig } from '../../../../infra/wiring/config.ts';
import { openPostgres } from '../../../../infra/adapters/sql/postgres.ts';
import { createPostgresDatabase } from '../../../helpers/databases.ts';

const preparedIn = (db: ReturnType<typeof openPostgres>) =>
  db.transaction(async (tx) => {
    await tx.query('SELECT $1::int8 AS x', [1]);
    await tx.query('SELECT $1::int8 AS x', [2]);
    const { rows } = await tx.query<{ name: string; statement: string }>(
      'SELECT name, statement FROM pg_prepared_statements ORDER BY name',
    );
    return rows;
  });

test('parameterized statements are prepared once per connection and named by their text; DATABASE_PREPARED_STATEMENTS=false sends them unnamed', async (t) => {
  const database = await createPostgresDatabase();
  const named = openPostgres(database.url, { poolSize: 1 });
  const unnamed = openPostgres(database.url, { poolSize: 1, preparedStatements: false });
  try {
    const prepared = await preparedIn(named);
    // The same text twice is one prepared statement; the catalog query itself has no parameters and stays unnamed.
    t.deepEqual(
      prepared.map((row) => row.statement),
      ['SELECT $1::int8 AS x'],
    );
    t.regex(prepared[0]!.name, /^chainbook_\d+$/);
    t.deepEqual((await named.query<{ x: number }>('SELECT $1::int8 AS x', [3])).rows, [{ x: 3 }]);
    t.deepEqual(await preparedIn(unnamed), []);
  } finally {
    await named.close();
    await unnamed.close();
    await database.drop();
  }
});

test('DATABASE_PREPARED_STATEMENTS defaults to true, takes true or false, and names itself when malformed', (t) => {
  t.true(loadConfig({}).preparedStatements);
  t.false(loadConfig({ DATABASE_PREPARED_STATEMENTS: 'false' }).preparedStatements);
  t.true(loadConfig({ DATABASE_PREPARED_STATEMENTS: 'true' }).preparedStatements);
  t.throws(() => loadConfig({ DATABASE_PREPARED_STATEMENTS: 'sometimes' }), {
    message: /DATABASE_PREPARED_STATEMENTS: must be true or false/,
  });
});

test('the ordered connection: a statement after its backend was terminated, even right after the error came, runs on a new connection; statements pipelined behind a terminated one fail, none is left waiting', async (t) => {
  const database = await createPostgresDatabase();
  const db = openPostgres(database.url, { poolSize: 1 });
  const ordered = db.ordered!;
  const backend = async (): Promise<number> =>
    (await ordered.query<{ pid: number }>('SELECT pg_backend_pid() AS pid, $1::int4 AS x', [1])).rows[0]!.pid;
  try {
    const first = await backend();
    // Sent before the answer to the one ahead came back; the first one's backend is terminated while it sleeps.
    const pipelined = Array.from({ length: 4 }, (_, index) =>
      ordered.query('SELECT pg_sleep(0.3), $1::int4 AS i', [index]).then(
        () => 'ok',
        (error: Error) => error.message,
      ),
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    await db.query('SELECT pg_terminate_backend($1::int4)', [first]);
    const outcomes = await Promise.all(pipelined);
    t.false(outcomes.includes('ok'), JSON.stringify(outcomes));
    const second = await backend();
    t.not(second, first);
    // Terminated while a statement runs: its error comes first, and the statement sent at once after it is not
    // written on the connection that is closing.
    const running = ordered.query('SELECT pg_sleep(0.3), $1::int4 AS i', [0]);
    await new Promise((resolve) => setTimeout(resolve, 100));
    await db.query('SELECT pg_terminate_backend($1::int4)', [second]);
    await t.throwsAsync(running, { message: /terminating connection due to administrator command/ });
    t.not(await backend(), second);
  } finally {
    await db.close();
    await database.drop();
  }
});
