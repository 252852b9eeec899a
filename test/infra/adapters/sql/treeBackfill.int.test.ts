/**
 * The tree backfill on PostgreSQL (infra/adapters/sql/treeBackfill.ts): a
 * chain whose tree rows were deleted (as one appended before migration 0011
 * has none) gets back, in steps, exactly the tiles and tree size it had;
 * an interrupted run resumes where it stopped; a run over a full tree writes
 * nothing; `chainbook tree backfill` does the same from the command line;
 * and the writer appends on top of a backfilled tree.
 */
import test from 'ava';
import { rootAt } from '../../../../chain/treeLog.ts';
import { BACKFILL_STEP_RECORDS, backfillTree } from '../../../../infra/adapters/sql/treeBackfill.ts';
import { sqlTreeLog } from '../../../../infra/adapters/sql/treeLog.ts';
import type { SqlDatabase } from '../../../../infra/adapters/sql/sql.ts';
import { appendRecords } from '../../../helpers/auditorBundle.ts';
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
