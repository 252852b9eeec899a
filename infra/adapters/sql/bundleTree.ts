/**
 * The Merkle tree's part of an audit bundle (archive/auditBundle.ts,
 * BundleTreeSource): the signed checkpoints of a seq range and the inclusion
 * proof file of a record, read from `checkpoints` and the tiles (migration
 * 0011), the same on PostgreSQL and PGlite.
 */
import type { BundleTreeSource } from '../../../archive/auditBundle.ts';
import { formatTlogProof } from '../../../chain/proofFile.ts';
import { proveConsistency, proveInclusion, rootAt } from '../../../chain/treeLog.ts';
import { recordTextAt } from './eventLog.ts';
import type { SqlExecutor } from './sql.ts';
import { sqlTreeLog } from './treeLog.ts';

type Queryable = Pick<SqlExecutor, 'query'>;

/** The newest `limit` checkpoints of a range, given back in size order. */
const CHECKPOINTS_IN_RANGE = `SELECT tree_size, note FROM (
    SELECT tree_size, note FROM checkpoints WHERE chain = $1 AND tree_size BETWEEN $2 AND $3
    ORDER BY tree_size DESC LIMIT $4
  ) AS newest ORDER BY tree_size`;

export function sqlBundleTree(db: Queryable): BundleTreeSource {
  const storage = sqlTreeLog(db);
  return {
    async checkpoints(chain, fromSeq, toSeq, limit) {
      const rows = await db.query<{ tree_size: number | string; note: string }>(CHECKPOINTS_IN_RANGE, [
        chain,
        fromSeq,
        toSeq,
        limit,
      ]);
      return rows.rows.map((row) => ({ size: Number(row.tree_size), note: row.note }));
    },
    async inclusionProof(chain, seq) {
      const checkpoint = await storage.checkpointCovering(chain, seq);
      const record = checkpoint && (await recordTextAt(db, chain, seq));
      if (!checkpoint || record === undefined) return undefined;
      const hashes = await proveInclusion(storage, chain, seq - 1, checkpoint.size);
      return formatTlogProof({ record, index: seq - 1, hashes, checkpoint: checkpoint.note });
    },
    async consistencyProof(chain, oldSize, newSize) {
      return {
        oldRoot: await rootAt(storage, chain, oldSize),
        newRoot: await rootAt(storage, chain, newSize),
        proof: await proveConsistency(storage, chain, oldSize, newSize),
      };
    },
  };
}
