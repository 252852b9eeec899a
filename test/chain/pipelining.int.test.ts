/**
 * The writer sends a batch's statement before the batch ahead's commit came
 * back (chain/writer.ts, "Pipelining"). When the batch ahead reports an
 * error although the server committed it (a connection lost after the
 * commit), a batch sent behind it commits too: its appends are answered,
 * never appended again.
 */
import test from 'ava';
import type { SqlDatabase } from '../../infra/adapters/sql/sql.ts';
import { databaseReader } from '../../infra/adapters/sql/databaseReader.ts';
import { loadConfig } from '../../infra/wiring/config.ts';
import { openRuntime } from '../../infra/wiring/runtime.ts';
import { inProcessChecker } from '../../verifier/inProcessChecker.ts';
import { verify } from '../../verifier/verify.ts';
import { openTestDatabase } from '../helpers/databases.ts';
import { tempDir } from '../helpers/runtime.ts';
import { rmSync } from 'node:fs';

const APPENDS = 400;
const IN_FLIGHT = 64;
/** The batch statement whose answer is lost after the server committed it. */
const LOST_STATEMENT = 4;

/** How long the lost answer takes to come: the next batch is signed and sends its statement meanwhile. */
const LOST_AFTER_MS = 100;

/** `db` whose LOST_STATEMENT-th batch statement runs, commits, and LOST_AFTER_MS later reports a lost connection. */
function losingAnswer(db: SqlDatabase): { db: SqlDatabase; lost: () => boolean } {
  let statements = 0;
  let lost = false;
  const query: SqlDatabase['query'] = async (text, params) => {
    const result = await db.query(text, params);
    if (text.startsWith('WITH head AS') && ++statements === LOST_STATEMENT) {
      lost = true;
      await new Promise((resolve) => setTimeout(resolve, LOST_AFTER_MS));
      throw new Error('connection lost after the commit');
    }
    return result as never;
  };
  return { db: { ...db, query }, lost: () => lost };
}

test('postgres: when a batch ahead reports an error after the server committed it, the batch sent behind it is answered, not appended again', async (t) => {
  const database = await openTestDatabase('postgres');
  const dataDir = tempDir('pipelining');
  const wrapped = losingAnswer(database.db);
  const runtime = await openRuntime(loadConfig({ CHAINBOOK_DATA_DIR: dataDir }), {
    db: wrapped.db,
    projections: false,
  });
  t.teardown(async () => {
    await runtime.close();
    await database.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });
  let next = 0;
  const outcomes: PromiseSettledResult<unknown>[] = [];
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < APPENDS) {
        const index = next++;
        const [outcome] = await Promise.allSettled([
          runtime.store.append('main', [
            { stream: `order-${index}`, type: 'order.created', data: { index }, actor: { id: 'b', role: 'Buyer' } },
          ]),
        ]);
        outcomes.push(outcome!);
      }
    }),
  );
  t.true(wrapped.lost());
  const rejected = outcomes.filter((outcome) => outcome.status === 'rejected');
  t.true(rejected.length > 0, 'the appends of the batch whose answer was lost fail');
  const { rows } = await database.db.query<{ stream: string; count: number }>(
    'SELECT stream, count(*)::int8 AS count FROM events GROUP BY stream HAVING count(*) > 1',
  );
  t.deepEqual(rows, [], 'no append is in the chain twice');
  const stored = (await database.db.query<{ count: number }>('SELECT count(*)::int8 AS count FROM events')).rows[0]!
    .count;
  // Every answered append is there once; the lost batch's appends are there too (the server committed them).
  t.is(stored, APPENDS);
  const report = await verify(databaseReader(database.db), inProcessChecker(runtime.registry));
  t.true(report.ok, JSON.stringify(report.finding));
});
