/**
 * Every statement on the event log (tables `events`, `chain_heads`,
 * `idempotency_keys`, migrations 0001 and 0004, and the Merkle tiles the
 * append writes with them, `merkle_tiles`, migration 0011), one function per operation,
 * the same SQL on PostgreSQL and PGlite. The writer's storage, the event store, the
 * verifier's database reader, replay, the CLI and the HTTP routes all go
 * through these; nothing else names those tables.
 */
import type { IdempotencyRecord, StreamState } from '../../../chain/plan.ts';
import { ZERO_HASH, type ChainHead, type StoredRecord } from '../../../chain/record.ts';
import type { CommitBatch } from '../../../chain/writer.ts';
import { edgeTiles, levelWidth, TILE_WIDTH, type TileWrite, type TreeEdge } from '../../../chain/tiles.ts';
import { leafOf } from '../../../chain/treeCommit.ts';
import { assert } from '../../../domain/errors.ts';
import type { SqlExecutor } from './sql.ts';

/** A database, a pool or one transaction: all an operation needs is to run a statement. */
type Queryable = Pick<SqlExecutor, 'query'>;

const SQL = {
  lockHead: 'SELECT chain, seq, hash, ts FROM chain_heads WHERE chain = $1 FOR UPDATE',
  lockAllHeads: 'SELECT chain FROM chain_heads ORDER BY chain FOR UPDATE',
  head: 'SELECT chain, seq, hash, ts FROM chain_heads WHERE chain = $1',
  listHeads: 'SELECT chain, seq, hash, ts FROM chain_heads ORDER BY chain',
  createHead: `INSERT INTO chain_heads (chain, seq, hash, ts) VALUES ($1, 0, $2, NULL) ON CONFLICT (chain) DO NOTHING RETURNING chain, seq, hash, ts`,
  setHead: `INSERT INTO chain_heads (chain, seq, hash, ts) VALUES ($1, $2, $3, $4)
    ON CONFLICT (chain) DO UPDATE SET seq = EXCLUDED.seq, hash = EXCLUDED.hash, ts = EXCLUDED.ts`,
  // One index probe per stream, newest version first, however long the stream.
  streamStates: `SELECT s.stream, e.chain, e.version
    FROM unnest($1::text[]) AS s(stream)
    CROSS JOIN LATERAL (SELECT chain, version FROM events WHERE events.stream = s.stream ORDER BY version DESC LIMIT 1) AS e`,
  // One index probe (events has UNIQUE (stream, version)).
  streamVersion: 'SELECT max(version) AS version FROM events WHERE stream = $1',
  idempotencyRecords:
    'SELECT key, request_hash, result FROM idempotency_keys WHERE chain = $1 AND key = ANY($2::text[])',
  idempotencyRecord: 'SELECT request_hash, result, response FROM idempotency_keys WHERE chain = $1 AND key = $2',
  // Oldest first through idempotency_keys_created_at (migration 0018), at most $2 rows a statement; the window
  // is measured on the database's clock, the one created_at was set by.
  purgeIdempotency: `WITH doomed AS (
      SELECT chain, key FROM idempotency_keys
      WHERE created_at < now() - make_interval(hours => $1::int4)
      ORDER BY created_at LIMIT $2
    ), deleted AS (
      DELETE FROM idempotency_keys i USING doomed d WHERE i.chain = d.chain AND i.key = d.key RETURNING 1
    )
    SELECT count(*)::int8 AS purged FROM deleted`,
  // One statement per batch, a compare-and-set on the head: the UPDATE moves
  // the head only from the head the batch was sealed on (waiting for its row
  // lock, then re-checking), and the inserts read its RETURNING, so when the
  // head moved nothing at all is written. Outside a transaction this is the
  // whole commit: one round trip.
  insertBatch: `WITH head AS (
      UPDATE chain_heads SET seq = $12, hash = $13, ts = $14, tree_size = COALESCE($21::int8, tree_size)
      WHERE chain = $1 AND seq = $15 AND hash = $16
      RETURNING chain
    ), inserted AS (
      INSERT INTO events (chain, seq, id, stream, version, type, ts, record)
      SELECT head.chain, u.seq, u.id::uuid, u.stream, u.version, u.type, $7::timestamptz, u.record
      FROM head, unnest($2::int8[], $3::text[], $4::text[], $5::int8[], $6::text[], string_to_array($8, E'\n'))
        AS u(seq, id, stream, version, type, record)
      RETURNING 1
    ), keys AS (
      INSERT INTO idempotency_keys (chain, key, request_hash, result, response)
      SELECT head.chain, k.key, k.request_hash, k.result, k.response
      FROM head, unnest($9::text[], $10::text[], $11::text[], $17::text[]) AS k(key, request_hash, result, response)
      RETURNING 1
    ), tiles AS (
      INSERT INTO merkle_tiles (chain, level, idx, hashes)
      SELECT head.chain, t.level, t.idx, decode(t.hashes, 'hex')
      FROM head, unnest($18::int2[], $19::int8[], $20::text[]) AS t(level, idx, hashes)
      ON CONFLICT (chain, level, idx) DO UPDATE SET hashes = EXCLUDED.hashes
      RETURNING 1
    )
    SELECT (SELECT count(*) FROM head) AS moved, (SELECT count(*) FROM inserted) AS inserted,
      (SELECT count(*) FROM tiles) AS tiles`,
  // Replay's copy of verified records: each record's own ts, byte for byte its text.
  copyRecords: `INSERT INTO events (chain, seq, id, stream, version, type, ts, record)
    SELECT u.chain, u.seq, u.id::uuid, u.stream, u.version, u.type, u.ts::timestamptz, u.record
    FROM unnest($1::text[], $2::int8[], $3::text[], $4::text[], $5::int8[], $6::text[], $7::text[], $8::text[])
      AS u(chain, seq, id, stream, version, type, ts, record)`,
  // The event log is append-only (triggers) except for a superuser who turns them off for one transaction.
  replicaRole: 'SET LOCAL session_replication_role = replica',
  wipe: 'TRUNCATE events, idempotency_keys, merkle_tiles',
  resetHeads: `UPDATE chain_heads SET seq = 0, hash = repeat('0', 64), ts = NULL, tree_size = 0`,
  defaultRole: 'SET LOCAL session_replication_role = DEFAULT',
  anyEvent: 'SELECT 1 FROM events LIMIT 1',
  readChain: 'SELECT seq, record FROM events WHERE chain = $1 AND seq >= $2 AND seq <= $3 ORDER BY seq LIMIT $4',
  readStream: 'SELECT record FROM events WHERE stream = $1 AND version >= $2 ORDER BY version LIMIT $3',
  // Several streams' pages in one statement (sqlEventStore.ts, "Group reads"): the nth read's rows carry n.
  readStreams: `SELECT r.n::int4 AS n, e.record
    FROM unnest($1::text[], $2::int8[]) WITH ORDINALITY AS r(stream, from_version, n)
    CROSS JOIN LATERAL (
      SELECT record, version FROM events WHERE stream = r.stream AND version >= r.from_version ORDER BY version LIMIT $3
    ) AS e
    ORDER BY r.n, e.version`,
  recordAt: 'SELECT record FROM events WHERE chain = $1 AND seq = $2',
  // Chains with records (a skip scan over the primary key) or a head row.
  chainNames: `WITH RECURSIVE c AS (
      SELECT min(chain) AS chain FROM events
      UNION ALL SELECT (SELECT min(chain) FROM events WHERE chain > c.chain) FROM c WHERE c.chain IS NOT NULL
    )
    SELECT chain FROM c WHERE chain IS NOT NULL UNION SELECT chain FROM chain_heads ORDER BY chain`,
  lastSeq: 'SELECT max(seq) AS seq FROM events WHERE chain = $1',
  treeSize: 'SELECT tree_size FROM chain_heads WHERE chain = $1',
  treeProgress: 'SELECT seq, tree_size FROM chain_heads WHERE chain = $1',
  // The backfill's step (infra/adapters/sql/treeBackfill.ts): a compare-and-set on tree_size, so a step
  // that another (a writer's catch-up, a second backfill) overtook writes nothing.
  growTree: `WITH head AS (
      UPDATE chain_heads SET tree_size = $3 WHERE chain = $1 AND tree_size = $2 AND seq >= $3
      RETURNING chain
    ), tiles AS (
      INSERT INTO merkle_tiles (chain, level, idx, hashes)
      SELECT head.chain, t.level, t.idx, decode(t.hashes, 'hex')
      FROM head, unnest($4::int2[], $5::int8[], $6::text[]) AS t(level, idx, hashes)
      ON CONFLICT (chain, level, idx) DO UPDATE SET hashes = EXCLUDED.hashes
      RETURNING 1
    )
    SELECT (SELECT count(*) FROM head) AS moved, (SELECT count(*) FROM tiles) AS tiles`,
  tiles: `SELECT t.level, t.idx, encode(m.hashes, 'hex') AS hashes
    FROM unnest($2::int2[], $3::int8[]) AS t(level, idx)
    JOIN merkle_tiles m ON m.chain = $1 AND m.level = t.level AND m.idx = t.idx`,
  recordHashes: `SELECT record::json->>'hash' AS hash FROM events WHERE chain = $1 AND seq >= $2 AND seq <= $3
    ORDER BY seq LIMIT $4`,
  // The writer puts each delegation on its own stream (chain/sealedBatch.ts): one probe of the (stream, version) index.
  delegation: 'SELECT record FROM events WHERE stream = $1 AND version = 1 AND chain = $2 AND seq < $3',
  // Records carry ts as text and as timestamptz; the range is on the column. A NULL bound is no bound: no
  // sentinel date stands in for it (PostgreSQL has no year 0000, and refused the one that did).
  seqRange: `SELECT min(seq) AS from_seq, max(seq) AS to_seq FROM events WHERE chain = $1
    AND ($2::timestamptz IS NULL OR ts >= $2::timestamptz) AND ($3::timestamptz IS NULL OR ts <= $3::timestamptz)`,
} as const;

// ---- heads

/** Locks the chain's head row until the transaction ends; undefined for an unknown chain. */
export async function lockHead(tx: Queryable, chain: string): Promise<ChainHead | undefined> {
  return (await tx.query<ChainHead>(SQL.lockHead, [chain])).rows[0];
}

/** Locks every chain's head row (replay: appends wait until it commits). */
export async function lockAllHeads(tx: Queryable): Promise<void> {
  await tx.query(SQL.lockAllHeads);
}

export async function readHead(db: Queryable, chain: string): Promise<ChainHead | undefined> {
  return (await db.query<ChainHead>(SQL.head, [chain])).rows[0];
}

export async function listHeads(db: Queryable): Promise<ChainHead[]> {
  return (await db.query<ChainHead>(SQL.listHeads)).rows;
}

/** An empty chain's head; undefined when the chain exists. */
export async function createHead(db: Queryable, chain: string): Promise<ChainHead | undefined> {
  return (await db.query<ChainHead>(SQL.createHead, [chain, ZERO_HASH])).rows[0];
}

/** Sets a chain's head, creating the row (replay after copying records). */
export async function setHead(
  tx: Queryable,
  head: { chain: string; seq: number; hash: string; ts: string },
): Promise<void> {
  await tx.query(SQL.setHead, [head.chain, head.seq, head.hash, head.ts]);
}

// ---- streams and idempotency records

/** Current version and chain of each stream that exists. */
export async function streamStates(tx: Queryable, streams: readonly string[]): Promise<Map<string, StreamState>> {
  const { rows } = await tx.query<{ stream: string; chain: string; version: number }>(SQL.streamStates, [streams]);
  return new Map<string, StreamState>(rows.map((row) => [row.stream, { chain: row.chain, version: row.version }]));
}

/** The current version of a stream, 0 when it does not exist. */
export async function streamVersion(db: Queryable, stream: string): Promise<number> {
  return (await db.query<{ version: number | null }>(SQL.streamVersion, [stream])).rows[0]?.version ?? 0;
}

export async function idempotencyRecords(
  tx: Queryable,
  chain: string,
  keys: readonly string[],
): Promise<Map<string, IdempotencyRecord>> {
  const { rows } = await tx.query<{ key: string; request_hash: string; result: string }>(SQL.idempotencyRecords, [
    chain,
    keys,
  ]);
  return new Map<string, IdempotencyRecord>(
    rows.map((row) => [row.key, { requestHash: row.request_hash, result: row.result }]),
  );
}

/** A key's whole record: the request's identity, the chain's result and the caller's response (JSON texts); undefined when the key was never used. */
export async function idempotencyRecord(
  db: Queryable,
  chain: string,
  key: string,
): Promise<(IdempotencyRecord & { response: string | undefined }) | undefined> {
  const row = (
    await db.query<{ request_hash: string; result: string; response: string | null }>(SQL.idempotencyRecord, [
      chain,
      key,
    ])
  ).rows[0];
  return row && { requestHash: row.request_hash, result: row.result, response: row.response ?? undefined };
}

/**
 * Deletes at most `limit` idempotency records older than `retentionHours`
 * (by the database's clock), oldest first; returns how many it deleted. A
 * retry under a deleted key is a new request: the window must outlast every
 * caller's retries (README, IDEMPOTENCY_RETENTION_HOURS).
 */
export async function purgeIdempotencyRecords(db: Queryable, retentionHours: number, limit: number): Promise<number> {
  assert(Number.isSafeInteger(retentionHours) && retentionHours >= 1, `retention of ${retentionHours} hours`);
  return (await db.query<{ purged: number }>(SQL.purgeIdempotency, [retentionHours, limit])).rows[0]!.purged;
}

// ---- appending

/** The commit time every record of a batch carries (chain/seal.ts seals a batch at one time). */
function commitTs(batch: CommitBatch): string {
  const ts = batch.records[0]!.record.ts;
  assert(
    batch.records.every((stored) => stored.record.ts === ts),
    'the records of a batch carry different times',
  );
  return ts;
}

/**
 * Inserts the batch and moves the head, only if the head is still
 * `batch.previousHead`: false (and nothing written) when it moved.
 */
export async function insertBatch(tx: Queryable, batch: CommitBatch): Promise<boolean> {
  const records = batch.records.map((stored) => stored.record);
  const { rows } = await tx.query<{ moved: number; inserted: number; tiles: number }>(SQL.insertBatch, [
    batch.chain,
    records.map((r) => r.seq),
    records.map((r) => r.id),
    records.map((r) => r.stream),
    records.map((r) => r.version),
    records.map((r) => r.type),
    commitTs(batch),
    // One text, a record per line: JCS escapes every control character,
    // so a record has no newline, and the driver need not escape each one.
    batch.records.map((stored) => stored.text).join('\n'),
    batch.idempotency.map((row) => row.key),
    batch.idempotency.map((row) => row.requestHash),
    batch.idempotency.map((row) => row.result),
    batch.head.seq,
    batch.head.hash,
    batch.head.ts,
    batch.previousHead.seq,
    batch.previousHead.hash,
    batch.idempotency.map((row) => row.response ?? null),
    batch.tiles.map((tile) => tile.level),
    batch.tiles.map((tile) => tile.index),
    batch.tiles.map((tile) => Buffer.concat(tile.hashes).toString('hex')),
    batch.treeSize ?? null,
  ]);
  const { moved, inserted, tiles } = rows[0]!;
  if (moved === 0) return false;
  assert(inserted === records.length, `${inserted} of ${records.length} records of ${batch.chain} inserted`);
  assert(tiles === batch.tiles.length, `${tiles} of ${batch.tiles.length} tiles of ${batch.chain} written`);
  return true;
}

/** Copies verified records as they are (replay restoring from another source). */
export async function copyRecords(tx: Queryable, records: readonly StoredRecord[]): Promise<void> {
  const r = records.map((stored) => stored.record);
  await tx.query(SQL.copyRecords, [
    r.map((x) => x.chain),
    r.map((x) => x.seq),
    r.map((x) => x.id),
    r.map((x) => x.stream),
    r.map((x) => x.version),
    r.map((x) => x.type),
    r.map((x) => x.ts),
    records.map((stored) => stored.text),
  ]);
}

/** Empties the event log in this transaction and resets every head; needs a superuser (the triggers refuse anyone else). */
export async function wipeEventLog(tx: Queryable): Promise<void> {
  await tx.query(SQL.replicaRole);
  await tx.query(SQL.wipe);
  await tx.query(SQL.resetHeads);
  await tx.query(SQL.defaultRole);
}

// ---- reading

/** Whether the event log holds any record; fails when it cannot be read at all. */
export async function hasEvents(db: Queryable): Promise<boolean> {
  return (await db.query(SQL.anyEvent)).rows.length > 0;
}

/** Stored JCS record texts of a chain in seq order, from `fromSeq` to `toSeq`, at most `limit`. */
export async function readChainTexts(
  db: Queryable,
  chain: string,
  fromSeq: number,
  toSeq: number,
  limit: number,
): Promise<{ seq: number; record: string }[]> {
  return (await db.query<{ seq: number; record: string }>(SQL.readChain, [chain, fromSeq, toSeq, limit])).rows;
}

/** Stored JCS record texts of a stream in version order, from `fromVersion`, at most `limit`. */
export async function readStreamTexts(
  db: Queryable,
  stream: string,
  fromVersion: number,
  limit: number,
): Promise<string[]> {
  return (await db.query<{ record: string }>(SQL.readStream, [stream, fromVersion, limit])).rows.map(
    (row) => row.record,
  );
}

/** readStreamTexts of several streams in one statement: each read's texts, in the order of `reads`. */
export async function readStreamsTexts(
  db: Queryable,
  reads: readonly { stream: string; fromVersion: number }[],
  limit: number,
): Promise<string[][]> {
  const { rows } = await db.query<{ n: number; record: string }>(SQL.readStreams, [
    reads.map((read) => read.stream),
    reads.map((read) => read.fromVersion),
    limit,
  ]);
  const texts = reads.map((): string[] => []);
  for (const row of rows) texts[row.n - 1]!.push(row.record);
  return texts;
}

export async function recordTextAt(db: Queryable, chain: string, seq: number): Promise<string | undefined> {
  return (await db.query<{ record: string }>(SQL.recordAt, [chain, seq])).rows[0]?.record;
}

/** Chains with records or a head row, by name. */
export async function chainNames(db: Queryable): Promise<string[]> {
  return (await db.query<{ chain: string }>(SQL.chainNames)).rows.map((row) => row.chain);
}

/** The highest stored seq of a chain; null when it has no record. */
export async function lastSeq(db: Queryable, chain: string): Promise<number | null> {
  return (await db.query<{ seq: number | null }>(SQL.lastSeq, [chain])).rows[0]?.seq ?? null;
}

/** The signer.delegated record introducing session `kid` in `chain` before `beforeSeq`. */
export async function delegationRecordText(
  db: Queryable,
  chain: string,
  kid: string,
  beforeSeq: number,
): Promise<string | undefined> {
  return (await db.query<{ record: string }>(SQL.delegation, [`delegation-${chain}.${kid}`, chain, beforeSeq])).rows[0]
    ?.record;
}

/** First and last seq whose commit time is within [fromTs, toTs] (undefined bound: unbounded); undefined when none is. */
export async function seqRange(
  db: Queryable,
  chain: string,
  fromTs: string | undefined,
  toTs: string | undefined,
): Promise<{ fromSeq: number; toSeq: number } | undefined> {
  const row = (
    await db.query<{ from_seq: number | null; to_seq: number | null }>(SQL.seqRange, [
      chain,
      fromTs ?? null,
      toTs ?? null,
    ])
  ).rows[0];
  return row?.from_seq == null || row.to_seq == null ? undefined : { fromSeq: row.from_seq, toSeq: row.to_seq };
}

// ---- the Merkle tree (docs/FORMAT.md section 14)

const MAX_TILE_BYTES = 256 * 32;

/** The chain's head seq and the leaves of its stored tree; undefined for an unknown chain. */
export async function treeProgress(
  db: Queryable,
  chain: string,
): Promise<{ seq: number; treeSize: number } | undefined> {
  const row = (await db.query<{ seq: number; tree_size: number }>(SQL.treeProgress, [chain])).rows[0];
  return row && { seq: Number(row.seq), treeSize: Number(row.tree_size) };
}

/**
 * Grows the stored tree of `chain` from `fromSize` to `toSize` leaves with
 * `tiles`, only if its size is still `fromSize` (and the chain holds
 * `toSize` records). False when another moved it first: nothing written.
 */
export async function growTree(
  db: Queryable,
  chain: string,
  fromSize: number,
  toSize: number,
  tiles: readonly TileWrite[],
): Promise<boolean> {
  const { rows } = await db.query<{ moved: number }>(SQL.growTree, [
    chain,
    fromSize,
    toSize,
    tiles.map((tile) => tile.level),
    tiles.map((tile) => tile.index),
    tiles.map((tile) => Buffer.concat(tile.hashes).toString('hex')),
  ]);
  return Number(rows[0]?.moved ?? 0) === 1;
}

/** Leaves of the stored tree of a chain (0 for an unknown chain, or one whose records predate the tree). */
export async function treeSize(db: Queryable, chain: string): Promise<number> {
  return (await db.query<{ tree_size: number }>(SQL.treeSize, [chain])).rows[0]?.tree_size ?? 0;
}

function hashesOf(hex: string, where: string): Uint8Array[] {
  const bytes = Buffer.from(hex, 'hex');
  assert(bytes.length % 32 === 0 && bytes.length <= MAX_TILE_BYTES, `tile ${where} is malformed`);
  const hashes: Uint8Array[] = [];
  for (let offset = 0; offset < bytes.length; offset += 32) hashes.push(bytes.subarray(offset, offset + 32));
  return hashes;
}

/** Stored tiles, whole, keyed `level/index`; a tile not stored is absent (the partial tile of level 0 never is). */
export async function readTiles(
  db: Queryable,
  chain: string,
  tiles: readonly { level: number; index: number }[],
): Promise<Map<string, Uint8Array[]>> {
  const { rows } = await db.query<{ level: number; idx: number; hashes: string }>(SQL.tiles, [
    chain,
    tiles.map((tile) => tile.level),
    tiles.map((tile) => tile.index),
  ]);
  return new Map(rows.map((row) => [`${row.level}/${row.idx}`, hashesOf(row.hashes, `${row.level}/${row.idx}`)]));
}

/** The leaf hashes of records `fromSeq` to `toSeq` (at most a tile's worth), read from the records. */
async function leafHashes(db: Queryable, chain: string, fromSeq: number, toSeq: number): Promise<Uint8Array[]> {
  if (toSeq < fromSeq) return [];
  const hashes = await recordHashes(db, chain, fromSeq, toSeq, TILE_WIDTH);
  assert(hashes.length === toSeq - fromSeq + 1, `records ${fromSeq} to ${toSeq} of ${chain} are missing`);
  return hashes.map(leafOf);
}

/**
 * A tile of the tree of `size` leaves (at most the stored size) as far as
 * that tree fills it: stored, or for the partial tile of level 0, the leaf
 * hashes of its records. Empty when that tree has nothing in it.
 */
export async function readTile(
  db: Queryable,
  chain: string,
  level: number,
  index: number,
  size: number,
): Promise<Uint8Array[]> {
  const width = Math.min(TILE_WIDTH, Math.max(0, levelWidth(size, level) - index * TILE_WIDTH));
  if (width === 0) return [];
  const stored = (await readTiles(db, chain, [{ level, index }])).get(`${level}/${index}`);
  if (stored && stored.length >= width) return stored.slice(0, width);
  assert(level === 0, `tile ${level}/${index} of ${chain} is missing`);
  return leafHashes(db, chain, index * TILE_WIDTH + 1, index * TILE_WIDTH + width);
}

/** The edge of the stored tree at `size` leaves, or at all it has when that is fewer. */
export async function readTreeEdge(db: Queryable, chain: string, size: number): Promise<TreeEdge> {
  const at = Math.min(size, await treeSize(db, chain));
  const partial: Uint8Array[][] = [];
  for (const { level, index } of edgeTiles(at)) partial[level] = await readTile(db, chain, level, index, at);
  return { size: at, partial };
}

/** The hashes of records `fromSeq` to `toSeq` of a chain, in seq order, at most `limit`. */
export async function recordHashes(
  db: Queryable,
  chain: string,
  fromSeq: number,
  toSeq: number,
  limit: number,
): Promise<string[]> {
  return (await db.query<{ hash: string }>(SQL.recordHashes, [chain, fromSeq, toSeq, limit])).rows.map(
    (row) => row.hash,
  );
}
