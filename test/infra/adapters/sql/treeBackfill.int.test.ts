/**
 * The tree backfill on PostgreSQL (infra/adapters/sql/treeBackfill.ts): a
 * chain whose tree rows were deleted (as one appended before migration 0011
 * has none) gets back, in steps, exactly the tiles and tree size it had;
 * an interrupted run resumes where it stopped; a run over a full tree writes
 * nothing; `chainbook tree backfill` does the same from the command line;
 * and the writer appends on top of a backfilled tree.
 */
import test from 'ava';
import { rootOfHashes } from '../../../../chain/merkle.ts';
import { leafOf, treeHasher } from '../../../../chain/treeCommit.ts';
import { rootAt } from '../../../../chain/treeLog.ts';
import { BACKFILL_STEP_RECORDS, backfillTree } from '../../../../infra/adapters/sql/treeBackfill.ts';
import { sqlTreeLog } from '../../../../infra/adapters/sql/treeLog.ts';
import type { SqlDatabase } from '../../../../infra/adapters/sql/sql.ts';
import { appendRecords } from '../../../helpers/auditorBundle.ts';
import { loadConfig } from '../../../../infra/wiring/config.ts';
import { openRuntime } from '../../../../infra/wiring/runtime.ts';
import { runCli } from '../../../helpers/cli.ts';
import { testRuntime } from '../../../helpers/runtime.ts';

const RECORDS = 2 * BACKFILL_STEP_RECORDS + 808;

/** Every stored tile of `chain`, `level/idx hex`, and the tree size: the tree as the database holds it. */
async function storedTree(db: SqlDatabase, chain: string): Promise<{ size: number; tiles: string[] }> {
  const tiles = await db.query<{ level: number; idx: string; hashes: string }>(
    `SELECT level, idx::text AS idx, encode(hashes, 'hex') AS hashes FROM merkle_tiles WHERE chain = $1 ORDER BY level, idx`,
    [chain],
  );
  const head = await db.query<{ tree_size: string }>('SELECT tree_size::text FROM chain_heads WHERE chain = $1', [
    chain,
  ]);
  return {
    size: Number(head.rows[0]!.tree_size),
    tiles: tiles.rows.map((row) => `${row.level}/${row.idx} ${row.hashes}`),
  };
}

/** What a chain appended before migration 0011 looks like: no tiles, tree_size 0 (the tiles' triggers forbid this but to a superuser's replica role). */
async function forgetTree(db: SqlDatabase, chain: string): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.query('SET LOCAL session_replication_role = replica');
    await tx.query('DELETE FROM merkle_tiles WHERE chain = $1', [chain]);
    await tx.query('UPDATE chain_heads SET tree_size = 0 WHERE chain = $1', [chain]);
  });
}

test('postgres: a chain whose tree rows were deleted gets its exact tiles back in steps; an interrupted run resumes; a full tree is left alone; the CLI does the same', async (t) => {
  t.timeout(240_000);
  const rt = await testRuntime(t, 'postgres');
  await appendRecords(rt, RECORDS);
  const before = await storedTree(rt.db, 'main');
  t.is(before.size, RECORDS);
  t.true(before.tiles.length >= 2 * 16, 'full tiles of level 0 and the tiles above them');
  const root = Buffer.from(await rootAt(sqlTreeLog(rt.db), 'main', RECORDS)).toString('hex');

  await forgetTree(rt.db, 'main');
  t.deepEqual(await storedTree(rt.db, 'main'), { size: 0, tiles: [] });

  // Interrupted after its first step (the process stopped): the size is the progress.
  const stop = new AbortController();
  const first = await backfillTree(rt.db, 'main', () => stop.abort(), stop.signal);
  t.like(first, { fromSize: 0, treeSize: BACKFILL_STEP_RECORDS, headSeq: RECORDS, steps: 1 });
  t.is((await storedTree(rt.db, 'main')).size, BACKFILL_STEP_RECORDS);

  const sizes: number[] = [];
  const resumed = await backfillTree(rt.db, 'main', (progress) => sizes.push(progress.treeSize));
  t.like(resumed, { fromSize: BACKFILL_STEP_RECORDS, treeSize: RECORDS, steps: 2 });
  t.deepEqual(sizes, [2 * BACKFILL_STEP_RECORDS, RECORDS]);
  t.deepEqual(await storedTree(rt.db, 'main'), before, 'the same tiles, byte for byte, and the same size');
  t.is(Buffer.from(await rootAt(sqlTreeLog(rt.db), 'main', RECORDS)).toString('hex'), root);

  // Idempotent: nothing to do, nothing written.
  t.like(await backfillTree(rt.db, 'main'), { fromSize: RECORDS, treeSize: RECORDS, steps: 0 });
  t.deepEqual(await storedTree(rt.db, 'main'), before);

  // From the command line, over the whole chain list.
  await forgetTree(rt.db, 'main');
  const env = { DATABASE_URL: rt.test.location, CHAINBOOK_DATA_DIR: rt.dataDir };
  const cli = await runCli(['tree', 'backfill'], { env });
  t.is(cli.code, 0, cli.stderr);
  t.regex(cli.stdout, new RegExp(`tree main: 0 -> ${RECORDS} leaves in 3 steps`));
  t.deepEqual(await storedTree(rt.db, 'main'), before);
  const again = await runCli(['tree', 'backfill', '--chain', 'main'], { env });
  t.is(again.code, 0, again.stderr);
  t.regex(again.stdout, /nothing to do/);

  // The writer carries on from the backfilled tree.
  await appendRecords(rt, 300, RECORDS);
  const after = await storedTree(rt.db, 'main');
  t.is(after.size, RECORDS + 300);
  t.true(
    before.tiles.filter((tile) => tile.startsWith('0/')).every((tile) => after.tiles.includes(tile)),
    'full tiles unchanged',
  );
});

for (const engine of ['postgres', 'pglite'] as const)
  test(`${engine}: a backfill racing the writer's appends (and a second backfill) leaves the tree the records make: the same tiles as a backfill alone, and its root`, async (t) => {
    t.timeout(240_000);
    const rt = await testRuntime(t, engine);
    await appendRecords(rt, BACKFILL_STEP_RECORDS + 500);
    await forgetTree(rt.db, 'main');
    // A writer started after the tree was lost (as one started on a chain older than the tree): it holds no edge.
    const writer = await openRuntime(loadConfig({ CHAINBOOK_DATA_DIR: rt.dataDir }), { projections: false, db: rt.db });
    t.teardown(() => writer.close());
    // Two backfills and the writer (whose appends catch the tree up in their own transactions) at once.
    const [one, two] = await Promise.all([
      backfillTree(rt.db, 'main'),
      backfillTree(rt.db, 'main'),
      appendRecords(writer, 700, BACKFILL_STEP_RECORDS + 500),
    ]);
    await backfillTree(rt.db, 'main');
    const raced = await storedTree(rt.db, 'main');
    const total = BACKFILL_STEP_RECORDS + 1200;
    t.is(raced.size, total);
    t.true(one.treeSize <= total && two.treeSize <= total);
    // The same chain's tree built by a backfill alone, with no writer beside it.
    await forgetTree(rt.db, 'main');
    t.like(await backfillTree(rt.db, 'main'), { treeSize: total });
    const alone = await storedTree(rt.db, 'main');
    const only = (a: string[], b: string[]) =>
      a
        .filter((tile) => !b.includes(tile))
        .map((tile) => `${tile.split(' ')[0]} of ${tile.split(' ')[1]!.length / 64} hashes`);
    t.deepEqual(only(raced.tiles, alone.tiles), [], 'no tile the racing runs wrote differs');
    t.deepEqual(only(alone.tiles, raced.tiles), [], 'no tile is missing after the racing runs');
    t.deepEqual(alone, raced, 'the same tiles, byte for byte');
    const hashes = await rt.db.query<{ hash: string }>(
      "SELECT record::json->>'hash' AS hash FROM events WHERE chain = 'main' ORDER BY seq",
    );
    t.is(hashes.rows.length, total);
    const leaves = hashes.rows.map((row) => leafOf(row.hash));
    t.deepEqual(
      Buffer.from(await rootAt(sqlTreeLog(rt.db), 'main', total)).toString('hex'),
      Buffer.from(rootOfHashes(treeHasher, leaves)).toString('hex'),
      "the stored tree's root is the records' root",
    );
  });
