/**
 * The Merkle tree of a chain as stored (docs/FORMAT.md section 14) against
 * the one recomputed from its records: every tile of levels 0 and 1, and the
 * root the tiles give.
 */
import type { ExecutionContext } from 'ava';
import { rootOfHashes } from '../../chain/merkle.ts';
import { edgeRoot, readEdge, TILE_WIDTH } from '../../chain/tiles.ts';
import { leafOf, treeHasher } from '../../chain/treeCommit.ts';
import * as eventLog from '../../infra/adapters/sql/eventLog.ts';
import type { SqlExecutor } from '../../infra/adapters/sql/sql.ts';

type Queryable = Pick<SqlExecutor, 'query'>;

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

async function recordLeaves(db: Queryable, chain: string): Promise<Uint8Array[]> {
  const leaves: Uint8Array[] = [];
  for (let from = 1; ; from += 1000) {
    const page = await eventLog.readChainTexts(db, chain, from, Number.MAX_SAFE_INTEGER, 1000);
    leaves.push(...page.map((row) => leafOf((JSON.parse(row.record) as { hash: string }).hash)));
    if (page.length < 1000) return leaves;
  }
}

/** Every stored tile equals the hashes recomputed from the records, and the tiles' root is the records' root. */
export async function assertTreeMatchesRecords(t: ExecutionContext, db: Queryable, chain: string): Promise<void> {
  const leaves = await recordLeaves(db, chain);
  t.is(await eventLog.treeSize(db, chain), leaves.length, 'the tree has a leaf per record');
  const size = leaves.length;
  const tileCount = Math.ceil(size / TILE_WIDTH);
  // Full tiles are stored; the partial tile of level 0 is read from the records (docs/FORMAT.md section 14).
  const stored = await eventLog.readTiles(
    db,
    chain,
    Array.from({ length: tileCount }, (_, index) => ({ level: 0, index })),
  );
  t.is(stored.size, Math.floor(size / TILE_WIDTH), 'full level-0 tiles stored, the partial one not');
  for (let index = 0; index < tileCount; index++) {
    const expected = leaves.slice(index * TILE_WIDTH, (index + 1) * TILE_WIDTH);
    t.deepEqual((await eventLog.readTile(db, chain, 0, index, size)).map(hex), expected.map(hex), `tile 0/${index}`);
  }
  const level1 = await eventLog.readTile(db, chain, 1, 0, size);
  t.deepEqual(
    level1.map(hex),
    Array.from({ length: Math.floor(leaves.length / TILE_WIDTH) }, (_, index) =>
      hex(rootOfHashes(treeHasher, leaves.slice(index * TILE_WIDTH, (index + 1) * TILE_WIDTH))),
    ),
    'tile 1/0',
  );
  const read = (level: number, index: number): Promise<Uint8Array[]> =>
    eventLog.readTile(db, chain, level, index, size);
  t.is(hex(edgeRoot(treeHasher, await readEdge(read, size))), hex(rootOfHashes(treeHasher, leaves)));
}
