/**
 * The tree of a chain whose records predate it (migration 0011), built in
 * the background instead of in the transaction of the chain's next append
 * (docs/FORMAT.md section 14, "The tree"): `serve` runs it for every chain
 * at start, `chainbook tree backfill` on demand. Each step reads the stored
 * tree's edge and the next BACKFILL_STEP_RECORDS record hashes, and writes
 * the tiles they fill and the new tree size in one statement, a
 * compare-and-set on the size: idempotent (a full tree is left alone),
 * resumable (the size is the progress; an interrupted run loses one step)
 * and safe beside the writer, whose own catch-up on its next append writes
 * the same tiles (they are a function of the records) and overtakes it.
 */
import { MAX_PAGE_RECORDS } from '../../../chain/limits.ts';
import { appendLeaves, TILE_WIDTH } from '../../../chain/tiles.ts';
import { leafOf, treeHasher } from '../../../chain/treeCommit.ts';
import { growTree, readTreeEdge, recordHashes, treeProgress } from './eventLog.ts';
import type { SqlExecutor } from './sql.ts';

type Queryable = Pick<SqlExecutor, 'query'>;

/** Leaves added per step: 16 full tiles of level 0, read in pages of MAX_PAGE_RECORDS. */
export const BACKFILL_STEP_RECORDS = 16 * TILE_WIDTH;
/** Steps one run takes at most, overtaken steps included: 2^32 leaves at 4,096 a step, with room. */
const MAX_BACKFILL_STEPS = 2 ** 21;

export interface BackfillReport {
  chain: string;
  /** Leaves of the stored tree before and after the run. */
  fromSize: number;
  treeSize: number;
  /** The chain's head seq when the run ended. */
  headSeq: number;
  /** Steps that wrote tiles; steps another writer overtook write nothing. */
  steps: number;
}

/** One step: the tree from `size` to at most `size + BACKFILL_STEP_RECORDS` leaves. False when another moved it first. */
async function step(db: Queryable, chain: string, size: number, headSeq: number): Promise<boolean> {
  const edge = await readTreeEdge(db, chain, size);
  if (edge.size !== size) return false;
  const to = Math.min(headSeq, size + BACKFILL_STEP_RECORDS);
  const leaves: Uint8Array[] = [];
  for (let from = size + 1; from <= to; from += MAX_PAGE_RECORDS) {
    const last = Math.min(to, from + MAX_PAGE_RECORDS - 1);
    const hashes = await recordHashes(db, chain, from, last, MAX_PAGE_RECORDS);
    if (hashes.length !== last - from + 1) throw new Error(`records ${from} to ${last} of ${chain} are missing`);
    for (const hash of hashes) leaves.push(leafOf(hash));
  }
  // As the writer does (chain/treeCommit.ts): level 0's partial tile is read from the records, not stored.
  const writes = appendLeaves(treeHasher, edge, leaves).writes.filter(
    (write) => write.level > 0 || write.hashes.length === TILE_WIDTH,
  );
  return growTree(db, chain, size, to, writes);
}

/**
 * Builds the stored tree of `chain` up to its head as it is when each step
 * starts. `onStep` hears of each step written (progress logs); once `signal`
 * is aborted no step starts (the run ends where it is, to be resumed).
 */
export async function backfillTree(
  db: Queryable,
  chain: string,
  onStep?: (progress: { chain: string; treeSize: number; headSeq: number }) => void,
  signal?: AbortSignal,
): Promise<BackfillReport> {
  const first = await treeProgress(db, chain);
  const report = { chain, fromSize: first?.treeSize ?? 0, treeSize: first?.treeSize ?? 0, headSeq: first?.seq ?? 0 };
  let steps = 0;
  for (let attempt = 0; attempt < MAX_BACKFILL_STEPS; attempt++) {
    const progress = await treeProgress(db, chain);
    if (!progress || progress.treeSize >= progress.seq || signal?.aborted)
      return { ...report, treeSize: progress?.treeSize ?? 0, headSeq: progress?.seq ?? 0, steps };
    if (await step(db, chain, progress.treeSize, progress.seq)) {
      steps++;
      onStep?.({
        chain,
        treeSize: Math.min(progress.seq, progress.treeSize + BACKFILL_STEP_RECORDS),
        headSeq: progress.seq,
      });
    }
  }
  throw new Error(`the tree of ${chain} did not reach its head in ${MAX_BACKFILL_STEPS} steps`);
}
