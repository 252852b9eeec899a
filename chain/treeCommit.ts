/**
 * The chain's Merkle tree in the append transaction (docs/FORMAT.md section
 * 14): each committed batch adds its records' hashes as leaves, and the
 * tiles that change are written in the same statement as the records, under
 * the same compare-and-set on the head (chain/batchCommit.ts). The writer
 * keeps the tree's right edge in memory between batches, so a batch costs
 * one leaf hash per record and one node hash per record on average (the
 * roots of tiles filled); it reads the edge from the tiles only when its own
 * is not the edge of the batch's base head.
 *
 * The partial tile of level 0 is not written: its hashes are the leaf hashes
 * of the last records, which the statement inserts anyway, so a batch writes
 * a tile only when one fills (one in 256 records) and the partial tile above
 * it. The head row carries the tree's size.
 *
 * A chain whose records predate the tree (migration 0011) has fewer leaves
 * than records: the first batch after the upgrade adds the missing ones too,
 * reading their hashes in pages of MAX_PAGE_RECORDS.
 */
import { assert } from '../domain/errors.ts';
import { hash } from 'node:crypto';
import { MAX_PAGE_RECORDS } from './limits.ts';
import type { MerkleHasher } from './merkle.ts';
import type { ChainHead, StoredRecord } from './record.ts';
import { appendLeaves, TILE_WIDTH, type TileWrite, type TreeEdge } from './tiles.ts';

/**
 * RFC 6962 over node:crypto, the writer's hot path: one-shot hashing of a
 * buffer built in place (chain/merkle.ts's merkleHasher, which browsers use,
 * gives the same hashes; test/chain/merkle.unit.test.ts checks both).
 */
export const treeHasher: MerkleHasher = {
  emptyRoot: () => hash('sha256', Buffer.alloc(0), 'buffer'),
  leaf(leaf) {
    const bytes = Buffer.allocUnsafe(1 + leaf.length);
    bytes[0] = 0;
    bytes.set(leaf, 1);
    return hash('sha256', bytes, 'buffer');
  },
  node(left, right) {
    const bytes = Buffer.allocUnsafe(1 + left.length + right.length);
    bytes[0] = 1;
    bytes.set(left, 1);
    bytes.set(right, 1 + left.length);
    return hash('sha256', bytes, 'buffer');
  },
};

/** The tree's storage, as the writer sees it (infra/adapters/sql implements it). */
export interface TreeStorage<Tx> {
  /** The edge of the stored tree (its level-0 part read from the records), at most `size` leaves (fewer when records predate the tree). */
  readTreeEdge(tx: Tx, chain: string, size: number): Promise<TreeEdge>;
  /** The `hash` of each record of `chain` from `fromSeq` to `toSeq`, in seq order, at most MAX_PAGE_RECORDS. */
  recordHashes(tx: Tx, chain: string, fromSeq: number, toSeq: number): Promise<string[]>;
}

/** The edge the writer holds, with the head it is the tree of. */
export interface HeldEdge {
  edge: TreeEdge;
  headHash: string;
}

/** The leaf hash of a record: SHA-256(0x00 || the 32 bytes of its hash), the hex decoded in place. */
export function leafOf(recordHash: string): Uint8Array {
  const bytes = Buffer.allocUnsafe(33);
  bytes[0] = 0;
  assert(bytes.write(recordHash, 1, 'hex') === 32, `a record hash is not 32 bytes of hex: ${recordHash}`);
  return hash('sha256', bytes, 'buffer');
}

/** The edge of the tree of every record up to `base`, from what is held or from storage. */
async function edgeAt<Tx>(
  storage: TreeStorage<Tx>,
  tx: Tx,
  chain: string,
  base: ChainHead,
  held: HeldEdge | undefined,
): Promise<{ edge: TreeEdge; missing: Uint8Array[] }> {
  if (held && held.edge.size === base.seq && held.headHash === base.hash) return { edge: held.edge, missing: [] };
  const edge = await storage.readTreeEdge(tx, chain, base.seq);
  const missing: Uint8Array[] = [];
  for (let from = edge.size + 1; from <= base.seq; from += MAX_PAGE_RECORDS) {
    const to = Math.min(base.seq, from + MAX_PAGE_RECORDS - 1);
    const hashes = await storage.recordHashes(tx, chain, from, to);
    // On the speculative path this read is outside the lock: a shorter chain means the head moved, and the commit will say so.
    if (hashes.length !== to - from + 1) return { edge, missing: [] };
    for (const hash of hashes) missing.push(leafOf(hash));
  }
  return { edge, missing };
}

/**
 * The tiles to write with `records` (the batch, in seq order, sealed on
 * `base`) and the edge after them. Undefined when the stored tree is behind
 * and its records could not all be read (the head moved: the commit fails).
 */
export async function treeWrites<Tx>(
  storage: TreeStorage<Tx>,
  tx: Tx,
  chain: string,
  base: ChainHead,
  records: readonly StoredRecord[],
  held: HeldEdge | undefined,
): Promise<{ writes: TileWrite[]; after: HeldEdge } | undefined> {
  const { edge, missing } = await edgeAt(storage, tx, chain, base, held);
  if (edge.size + missing.length !== base.seq) return undefined;
  const leaves = [...missing, ...records.map((stored) => leafOf(stored.record.hash))];
  const next = appendLeaves(treeHasher, edge, leaves);
  const last = records[records.length - 1];
  assert(last !== undefined && next.edge.size === last.record.seq, `the tree of ${chain} does not end at its head`);
  const writes = next.writes.filter((write) => write.level > 0 || write.hashes.length === TILE_WIDTH);
  return { writes, after: { edge: next.edge, headHash: last.record.hash } };
}
