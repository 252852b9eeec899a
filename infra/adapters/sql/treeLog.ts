/**
 * The Merkle tree's read side over SQL (chain/treeLog.ts, TreeLogStorage):
 * the tiles through eventLog.ts, and the statements on `checkpoints`
 * (migration 0011), the same on PostgreSQL and PGlite.
 */
import type { StoredCheckpoint, TreeLogStorage } from '../../../chain/treeLog.ts';
import * as eventLog from './eventLog.ts';
import type { SqlExecutor } from './sql.ts';

type Queryable = Pick<SqlExecutor, 'query'>;

const SQL = {
  latest: `SELECT tree_size, note, created_at FROM checkpoints WHERE chain = $1 ORDER BY tree_size DESC LIMIT 1`,
  at: `SELECT tree_size, note, created_at FROM checkpoints WHERE chain = $1 AND tree_size = $2`,
  covering: `SELECT tree_size, note, created_at FROM checkpoints WHERE chain = $1 AND tree_size >= $2
    ORDER BY tree_size LIMIT 1`,
  insert: `INSERT INTO checkpoints (chain, tree_size, note, created_at) VALUES ($1, $2, $3, $4::timestamptz)
    ON CONFLICT (chain, tree_size) DO NOTHING RETURNING 1`,
} as const;

interface CheckpointRow {
  tree_size: number;
  note: string;
  created_at: Date | string;
}

function stored(row: CheckpointRow | undefined): StoredCheckpoint | undefined {
  return row && { size: row.tree_size, note: row.note, createdAtMs: new Date(row.created_at).getTime() };
}

export function sqlTreeLog(db: Queryable): TreeLogStorage {
  return {
    treeSize: (chain) => eventLog.treeSize(db, chain),
    // Tiles of the stored tree as it is now: a partial tile as wide as the tree fills it (tiles only grow).
    tileReader: (chain) => async (level, index) =>
      eventLog.readTile(db, chain, level, index, await eventLog.treeSize(db, chain)),
    latestCheckpoint: async (chain) => stored((await db.query<CheckpointRow>(SQL.latest, [chain])).rows[0]),
    checkpointAt: async (chain, size) => stored((await db.query<CheckpointRow>(SQL.at, [chain, size])).rows[0]),
    checkpointCovering: async (chain, size) =>
      stored((await db.query<CheckpointRow>(SQL.covering, [chain, size])).rows[0]),
    insertCheckpoint: async (chain, size, note, createdAtMs) =>
      (await db.query(SQL.insert, [chain, size, note, new Date(createdAtMs).toISOString()])).rows.length === 1,
  };
}
