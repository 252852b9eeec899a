/**
 * The Merkle tree's read side over SQL (chain/treeLog.ts, TreeLogStorage):
 * the tiles through eventLog.ts, and the statements on `checkpoints`
 * (migrations 0011 and 0014), the same on PostgreSQL and PGlite.
 */
import { formatTlogProof } from '../../../chain/proofFile.ts';
import { proveInclusion, rootAt, type StoredCheckpoint, type TreeLogStorage } from '../../../chain/treeLog.ts';
import * as eventLog from './eventLog.ts';
import type { SqlDatabase, SqlExecutor } from './sql.ts';

type Queryable = Pick<SqlExecutor, 'query'> & Partial<Pick<SqlDatabase, 'transaction'>>;

// The note as published: as signed, then the witnesses' cosignature lines (migration 0014).
const COLUMNS = 'tree_size, note || cosignatures AS note, cosigners, created_at';

const SQL = {
  latest: `SELECT ${COLUMNS} FROM checkpoints WHERE chain = $1 AND cosigners >= $2 ORDER BY tree_size DESC LIMIT 1`,
  at: `SELECT ${COLUMNS} FROM checkpoints WHERE chain = $1 AND tree_size = $2`,
  covering: `SELECT ${COLUMNS} FROM checkpoints WHERE chain = $1 AND tree_size >= $2 AND cosigners >= $3
    ORDER BY tree_size LIMIT 1`,
  insert: `INSERT INTO checkpoints (chain, tree_size, note, created_at, cosignatures, cosigners)
    VALUES ($1, $2, $3, $4::timestamptz, $5, $6)
    ON CONFLICT (chain, tree_size) DO NOTHING RETURNING 1`,
  lockForCosign: `SELECT note, cosignatures FROM checkpoints WHERE chain = $1 AND tree_size = $2 FOR UPDATE`,
  cosign: `UPDATE checkpoints SET cosignatures = $3, cosigners = $4 WHERE chain = $1 AND tree_size = $2`,
} as const;

interface CheckpointRow {
  tree_size: number;
  note: string;
  cosigners: number;
  created_at: Date | string;
}

function stored(row: CheckpointRow | undefined): StoredCheckpoint | undefined {
  return (
    row && {
      size: Number(row.tree_size),
      note: row.note,
      cosigners: Number(row.cosigners),
      createdAtMs: new Date(row.created_at).getTime(),
    }
  );
}

export function sqlTreeLog(db: Queryable): TreeLogStorage {
  return {
    treeSize: (chain) => eventLog.treeSize(db, chain),
    // Tiles of the stored tree as it is now: a partial tile as wide as the tree fills it (tiles only grow).
    tileReader: (chain) => async (level, index) =>
      eventLog.readTile(db, chain, level, index, await eventLog.treeSize(db, chain)),
    latestCheckpoint: async (chain, quorum = 0) =>
      stored((await db.query<CheckpointRow>(SQL.latest, [chain, quorum])).rows[0]),
    checkpointAt: async (chain, size) => stored((await db.query<CheckpointRow>(SQL.at, [chain, size])).rows[0]),
    checkpointCovering: async (chain, size, quorum = 0) =>
      stored((await db.query<CheckpointRow>(SQL.covering, [chain, size, quorum])).rows[0]),
    insertCheckpoint: async (chain, size, note, createdAtMs, cosignatures = []) =>
      (
        await db.query(SQL.insert, [
          chain,
          size,
          note,
          new Date(createdAtMs).toISOString(),
          cosignatures.join(''),
          cosignatures.length,
        ])
      ).rows.length === 1,
    // The row is locked while the lines are merged, so processes cosigning at once each see the others' lines.
    mergeCosignatures: async (chain, size, merge) => {
      const work = async (tx: Pick<SqlExecutor, 'query'>): Promise<void> => {
        const row = (await tx.query<{ note: string; cosignatures: string }>(SQL.lockForCosign, [chain, size])).rows[0];
        if (!row) return;
        const merged = merge(row.note, row.cosignatures);
        await tx.query(SQL.cosign, [chain, size, merged.cosignatures, merged.cosigners]);
      };
      await (db.transaction ? db.transaction(work) : work(db));
    },
  };
}

/**
 * The inclusion proof file of record `seq` of `chain` against the least
 * checkpoint covering it with `quorum` cosigners (docs/FORMAT.md section 14,
 * "Proof files"); undefined while none covers it, or without such a record.
 */
export async function inclusionProofFile(
  db: Queryable,
  chain: string,
  seq: number,
  quorum: number,
): Promise<string | undefined> {
  const storage = sqlTreeLog(db);
  const checkpoint = await storage.checkpointCovering(chain, seq, quorum);
  if (!checkpoint) return undefined;
  const record = await eventLog.recordTextAt(db, chain, seq);
  if (record === undefined) return undefined;
  const hashes = await proveInclusion(storage, chain, seq - 1, checkpoint.size);
  return formatTlogProof({ record, index: seq - 1, hashes, checkpoint: checkpoint.note });
}

/**
 * The root of a chain's tree of `size` records, for an archive manifest
 * (docs/FORMAT.md section 14); undefined while the stored tree is smaller (a
 * tree still catching up with records older than it).
 */
export function treeRootReader(db: Queryable): (chain: string, size: number) => Promise<Uint8Array | undefined> {
  const storage = sqlTreeLog(db);
  return async (chain, size) => ((await storage.treeSize(chain)) >= size ? rootAt(storage, chain, size) : undefined);
}
