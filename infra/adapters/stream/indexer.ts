/**
 * The verifying indexer (`chainbook index`): follows another instance's
 * GET /chain/stream with readHttpChainStream, or the Kafka audit topic with
 * checkedKafkaRecords (kafkaChainStream.ts, which drops records already
 * taken: deduplicated by chain and seq), either of which checks every record
 * (canonical form, hash, signature against the registry, seq, link) before
 * giving it, and for each one writes the kernel guide's per-event object
 * `audit/YYYY/MM/DD/<id>.json` (the record's exact JCS text, once, never
 * replaced) when an object store is given, then its row in `audit_index`, a
 * table of the indexer's own database. The row is written last, so the
 * index's highest seq is where a restart goes on (anchored on that row's
 * hash), and an object already there from a run that stopped before its row
 * must hold the same bytes. A record that fails a check stops the indexer with
 * the finding (chain, seq, reason); nothing of it is indexed. A restart first
 * checks the rows it goes on from (checkIndexRows).
 */
import type { ObjectLock, ObjectStore } from '../../../archive/objectStore.ts';
import type { SignerRegistry } from '../../../chain/registry.ts';
import { ZERO_HASH, type StoredRecord } from '../../../chain/record.ts';
import { CodedError } from '../../../domain/errors.ts';
import type { SqlDatabase } from '../sql/sql.ts';
import { readHttpChainStream } from './httpChainStream.ts';

export const INDEX_SCHEMA = `CREATE TABLE IF NOT EXISTS audit_index (
  chain text NOT NULL,
  seq bigint NOT NULL,
  id uuid NOT NULL UNIQUE,
  stream text NOT NULL,
  version bigint NOT NULL,
  type text NOT NULL,
  ts text NOT NULL,
  actor_id text NOT NULL,
  actor_role text NOT NULL,
  hash text NOT NULL,
  prev_hash text NOT NULL,
  PRIMARY KEY (chain, seq)
);
CREATE INDEX IF NOT EXISTS audit_index_stream ON audit_index (stream, version);
CREATE INDEX IF NOT EXISTS audit_index_type ON audit_index (type, ts);`;

/**
 * Before going on from its highest row, the index must hold every seq from 1
 * to it, each row linked to the one before (its prev_hash the hash of the
 * row before, seq 1's the zero hash): a row lost or changed since (a restore,
 * a hand edit) would otherwise stay unnoticed behind the position. One pass
 * over the chain's rows, at start.
 */
async function checkIndexRows(db: SqlDatabase, chain: string): Promise<void> {
  const { rows } = await db.query<{ seq: number; problem: string }>(
    `SELECT seq, problem FROM (
       SELECT 1 AS seq, 'seq 1 is missing' AS problem WHERE EXISTS (SELECT 1 FROM audit_index WHERE chain = $1)
         AND NOT EXISTS (SELECT 1 FROM audit_index WHERE chain = $1 AND seq = 1)
       UNION ALL
       SELECT 1, 'seq 1 does not link to the zero hash' FROM audit_index
        WHERE chain = $1 AND seq = 1 AND prev_hash <> $2
       UNION ALL
       SELECT s.seq + 1, CASE WHEN n.seq IS NULL THEN 'missing' ELSE 'its prev_hash is not the hash of the row before' END
         FROM audit_index s LEFT JOIN audit_index n ON n.chain = s.chain AND n.seq = s.seq + 1
        WHERE s.chain = $1 AND s.seq < (SELECT max(seq) FROM audit_index WHERE chain = $1)
          AND (n.seq IS NULL OR n.prev_hash <> s.hash)
     ) AS problems ORDER BY seq LIMIT 1`,
    [chain, ZERO_HASH],
  );
  const found = rows[0];
  if (found === undefined) return;
  const seq = Number(found.seq);
  throw new CodedError(
    'INDEX_ROWS_BROKEN',
    `the index of chain ${chain} at seq ${seq}: ${found.problem}; index again from there (README, "The audit stream: relays, indexer, replays")`,
    { chain, seq, reason: found.problem },
  );
}

/** The largest per-event object read back to compare (a record is far smaller). */
const MAX_OBJECT_BYTES = 4 * 1024 * 1024;

/** Where the indexer resumes reading: the seq after its last row, anchored on that row's hash. */
export interface IndexerFrom {
  fromSeq: number;
  anchorHash: string | undefined;
  /** The hash of the indexed row at a seq, to compare a copy of it with. */
  indexedHash(seq: number): Promise<string | undefined>;
  signal: AbortSignal;
}

/**
 * Another source than an instance's HTTP stream (the Kafka topic:
 * kafkaChainStream.ts): the checked records of `chain` from a seq on, and
 * which of its errors are worth following again after a pause.
 */
export interface IndexerFeed {
  chain: string;
  follow(from: IndexerFrom): AsyncIterable<StoredRecord>;
  transient(error: unknown): boolean;
}

export interface IndexerOptions {
  source: { url: string; token: string; chain: string } | IndexerFeed;
  registry: SignerRegistry;
  /** The indexer's own database. */
  db: SqlDatabase;
  /** Where the per-event objects go, locked for `retentionDays` from their writing; none: the index rows only. */
  objects?: { store: ObjectStore; mode: ObjectLock['mode']; retentionDays: number } | undefined;
  /** Wait before following again after the source ended the stream or could not be reached; default 1000 ms. */
  reconnectMs?: number | undefined;
  signal?: AbortSignal | undefined;
  /** Stop once this seq is indexed (a one-shot catch-up); default: follow until the signal aborts. */
  untilSeq?: number | undefined;
  onIndexed?: ((seq: number) => void) | undefined;
}

/** `audit/YYYY/MM/DD/<id>.json` of a record committed at `ts` (UTC). */
export function eventObjectKey(ts: string, id: string): string {
  return `audit/${ts.slice(0, 4)}/${ts.slice(5, 7)}/${ts.slice(8, 10)}/${id}.json`;
}

/** The index's position in `chain`: its highest seq and that record's hash, or none. */
export async function indexPosition(
  db: SqlDatabase,
  chain: string,
): Promise<{ seq: number; hash: string } | undefined> {
  const { rows } = await db.query<{ seq: number; hash: string }>(
    'SELECT seq, hash FROM audit_index WHERE chain = $1 ORDER BY seq DESC LIMIT 1',
    [chain],
  );
  return rows[0] === undefined ? undefined : { seq: Number(rows[0].seq), hash: rows[0].hash };
}

async function writeObject(objects: NonNullable<IndexerOptions['objects']>, key: string, text: string, seq: number) {
  const bytes = new TextEncoder().encode(text);
  const written = await objects.store.putIfAbsent(key, bytes, {
    contentType: 'application/json',
    metadata: { seq: String(seq) },
    lock: { mode: objects.mode, retainUntilMs: Date.now() + objects.retentionDays * 86_400_000 },
  });
  if (written === 'written') return;
  const there = await objects.store.get(key, MAX_OBJECT_BYTES);
  if (there === undefined || Buffer.compare(Buffer.from(there), Buffer.from(bytes)) !== 0)
    throw new CodedError(
      'INDEX_OBJECT_MISMATCH',
      `${key} in ${objects.store.description} is not seq ${seq}'s record as verified`,
      { key, seq },
    );
}

async function indexedHash(db: SqlDatabase, chain: string, seq: number): Promise<string | undefined> {
  const { rows } = await db.query<{ hash: string }>('SELECT hash FROM audit_index WHERE chain = $1 AND seq = $2', [
    chain,
    seq,
  ]);
  return rows[0]?.hash;
}

/** Whether following the HTTP stream again may help: the source ended the stream, is restarting, or could not be reached. */
function transientHttp(error: unknown): boolean {
  if (error instanceof CodedError)
    return error.code === 'STREAM_REFUSED' && Number((error.details as { status?: number }).status) >= 500;
  // fetch's own failures (refused, reset, DNS): a TypeError whose cause names the network error.
  return error instanceof TypeError;
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/**
 * Indexes from the position on, following the source again (after
 * `reconnectMs`) whenever it ends the stream or cannot be reached, anchored on
 * the last record indexed; resolves with the last seq indexed when the signal
 * aborts or `untilSeq` is reached. A record that fails its checks, or an
 * object that differs, rejects with the finding.
 */
export async function runIndexer(options: IndexerOptions): Promise<{ lastSeq: number }> {
  const { db, source } = options;
  await db.exec(INDEX_SCHEMA);
  const controller = new AbortController();
  const stop = () => controller.abort();
  options.signal?.addEventListener('abort', stop, { once: true });
  if (options.signal?.aborted) controller.abort();
  await checkIndexRows(db, source.chain);
  let position = await indexPosition(db, source.chain);
  const done = () =>
    controller.signal.aborted || (options.untilSeq !== undefined && (position?.seq ?? 0) >= options.untilSeq);
  try {
    while (!done()) {
      let writing = false;
      try {
        const from = {
          fromSeq: (position?.seq ?? 0) + 1,
          anchorHash: position?.hash,
          indexedHash: (seq: number) => indexedHash(options.db, source.chain, seq),
          signal: controller.signal,
        };
        const records =
          'follow' in source
            ? source.follow(from)
            : readHttpChainStream({ ...source, ...from, registry: options.registry });
        for await (const stored of records) {
          writing = true;
          const { record } = stored;
          if (options.objects)
            await writeObject(options.objects, eventObjectKey(record.ts, record.id), stored.text, record.seq);
          await db.query(
            `INSERT INTO audit_index (chain, seq, id, stream, version, type, ts, actor_id, actor_role, hash, prev_hash)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (chain, seq) DO NOTHING`,
            [
              record.chain,
              record.seq,
              record.id,
              record.stream,
              record.version,
              record.type,
              record.ts,
              record.actor.id,
              record.actor.role,
              record.hash,
              record.prevHash,
            ],
          );
          position = { seq: record.seq, hash: record.hash };
          writing = false;
          options.onIndexed?.(record.seq);
          if (done()) break;
        }
      } catch (error) {
        if (controller.signal.aborted) break;
        // A failed write (the object store, the index database) stops it: the source is not at fault.
        if (writing || !('follow' in source ? source.transient(error) : transientHttp(error))) throw error;
      }
      if (!done()) await pause(options.reconnectMs ?? 1000, controller.signal);
    }
  } finally {
    options.signal?.removeEventListener('abort', stop);
    controller.abort();
  }
  return { lastSeq: position?.seq ?? 0 };
}
