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
