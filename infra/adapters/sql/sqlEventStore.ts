/**
 * The event store over SQL: the same statements on PostgreSQL and PGlite.
 * Every statement of the event log is in this file.
 */
import { assert, CodedError } from '../../../domain/errors.ts';
import { ChainError } from '../../../chain/errors.ts';
import { validateChainName, type AppendEventInput, type AppendOptions } from '../../../chain/input.ts';
import { MAX_PAGE_RECORDS } from '../../../chain/limits.ts';
import type { IdempotencyRecord, StreamState } from '../../../chain/plan.ts';
import { ZERO_HASH, type ChainHead, type ChainRecord, type StoredRecord } from '../../../chain/record.ts';
import type { AppendResult, EventStore, ReadChainOptions, ReadStreamOptions } from '../../../chain/store.ts';
import { Appender, type CommitBatch, type InlineHandler, type WriterStorage } from '../../../chain/writer.ts';
import type { Signer } from '../../../chain/signer.ts';
import type { SqlDatabase, SqlExecutor } from './sql.ts';

const SQL = {
  lockHead: 'SELECT chain, seq, hash, ts FROM chain_heads WHERE chain = $1 FOR UPDATE',
  head: 'SELECT chain, seq, hash, ts FROM chain_heads WHERE chain = $1',
  listChains: 'SELECT chain, seq, hash, ts FROM chain_heads ORDER BY chain',
  createChain: `INSERT INTO chain_heads (chain, seq, hash, ts) VALUES ($1, 0, $2, NULL) ON CONFLICT (chain) DO NOTHING RETURNING chain, seq, hash, ts`,
  // One index probe per stream, newest version first, however long the stream.
  streamStates: `SELECT s.stream, e.chain, e.version
    FROM unnest($1::text[]) AS s(stream)
    CROSS JOIN LATERAL (SELECT chain, version FROM events WHERE events.stream = s.stream ORDER BY version DESC LIMIT 1) AS e`,
  idempotency: 'SELECT key, request_hash, result FROM idempotency_keys WHERE chain = $1 AND key = ANY($2::text[])',
  // One statement per batch, a compare-and-set on the head: the UPDATE moves
  // the head only from the head the batch was sealed on (waiting for its row
  // lock, then re-checking), and the inserts read its RETURNING, so when the
  // head moved nothing at all is written. Outside a transaction this is the
  // whole commit: one round trip.
  insertBatch: `WITH head AS (
      UPDATE chain_heads SET seq = $12, hash = $13, ts = $14
      WHERE chain = $1 AND seq = $15 AND hash = $16
      RETURNING chain
    ), inserted AS (
      INSERT INTO events (chain, seq, id, stream, version, type, ts, record)
      SELECT head.chain, u.seq, u.id::uuid, u.stream, u.version, u.type, $7::timestamptz, u.record
      FROM head, unnest($2::int8[], $3::text[], $4::text[], $5::int8[], $6::text[], string_to_array($8, E'\n'))
        AS u(seq, id, stream, version, type, record)
      RETURNING 1
    ), keys AS (
      INSERT INTO idempotency_keys (chain, key, request_hash, result)
      SELECT head.chain, k.key, k.request_hash, k.result
      FROM head, unnest($9::text[], $10::text[], $11::text[]) AS k(key, request_hash, result)
      RETURNING 1
    )
    SELECT (SELECT count(*) FROM head) AS moved, (SELECT count(*) FROM inserted) AS inserted`,
  readChain: 'SELECT record FROM events WHERE chain = $1 AND seq >= $2 AND seq <= $3 ORDER BY seq LIMIT $4',
  readStream: 'SELECT record FROM events WHERE stream = $1 AND version >= $2 ORDER BY version LIMIT $3',
} as const;

interface HeadRow {
  chain: string;
  seq: number;
  hash: string;
  ts: string | null;
}

function pageLimit(limit: number | undefined): number {
  if (limit === undefined) return MAX_PAGE_RECORDS;
  if (!Number.isSafeInteger(limit) || limit < 1) throw new CodedError('INVALID_ARGUMENT', `limit must be a positive integer (got ${limit})`);
  return Math.min(limit, MAX_PAGE_RECORDS);
}

function position(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 0) throw new CodedError('INVALID_ARGUMENT', `${name} must be a non-negative integer (got ${value})`);
  return value;
}

export function storedRecord(text: string): StoredRecord {
  return { record: JSON.parse(text) as ChainRecord, text };
}

/** SQLSTATE classes a single append can cause: data exception (22), integrity (23), raised by a trigger or function (P0). */
function isStatementError(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && /^(22|23|P0)/.test(code);
}

/** The commit time every record of a batch carries (chain/seal.ts seals a batch at one time). */
function commitTs(records: readonly ChainRecord[]): string {
  const ts = records[0]!.ts;
  assert(records.every((record) => record.ts === ts), 'the records of a batch carry different times');
  return ts;
}

export function writerStorage(db: SqlDatabase): WriterStorage<SqlExecutor> {
  return {
  transaction: (work) => db.transaction(work),
  unlocked: db,
  lockHead: async (tx, chain) => (await tx.query<HeadRow>(SQL.lockHead, [chain])).rows[0],
  async streamStates(tx, streams) {
    const { rows } = await tx.query<{ stream: string; chain: string; version: number }>(SQL.streamStates, [streams]);
    return new Map<string, StreamState>(rows.map((row) => [row.stream, { chain: row.chain, version: row.version }]));
  },
  async idempotencyRecords(tx, chain, keys) {
    const { rows } = await tx.query<{ key: string; request_hash: string; result: string }>(SQL.idempotency, [chain, keys]);
    return new Map<string, IdempotencyRecord>(rows.map((row) => [row.key, { requestHash: row.request_hash, result: row.result }]));
  },
  async insertBatch(tx, batch: CommitBatch) {
    const records = batch.records.map((stored) => stored.record);
    const { rows } = await tx.query<{ moved: number; inserted: number }>(SQL.insertBatch, [
      batch.chain,
      records.map((r) => r.seq),
      records.map((r) => r.id),
      records.map((r) => r.stream),
      records.map((r) => r.version),
      records.map((r) => r.type),
      commitTs(records),
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
    ]);
    const { moved, inserted } = rows[0]!;
    if (moved === 0) return false;
    assert(inserted === records.length, `${inserted} of ${records.length} records of ${batch.chain} inserted`);
    return true;
  },
  isIsolatable: (error) => error instanceof CodedError || isStatementError(error),
  };
}

export interface SqlEventStoreOptions {
  signer: Signer;
  inline?: InlineHandler<SqlExecutor> | undefined;
  signingDisabledReason?: (() => string | undefined) | undefined;
  nowMs?: (() => number) | undefined;
}

export class SqlEventStore implements EventStore {
  readonly db: SqlDatabase;
  readonly #appender: Appender<SqlExecutor>;

  constructor(db: SqlDatabase, options: SqlEventStoreOptions) {
    this.db = db;
    this.#appender = new Appender<SqlExecutor>({
      storage: writerStorage(db),
      signer: options.signer,
      inline: options.inline,
      signingDisabledReason: options.signingDisabledReason,
      nowMs: options.nowMs,
    });
  }

  append(chain: string, events: readonly AppendEventInput[], options?: AppendOptions): Promise<AppendResult> {
    return this.#appender.append(chain, events, options);
  }

  async readChain(chain: string, options: ReadChainOptions = {}): Promise<StoredRecord[]> {
    return (await this.readChainText(chain, options)).map(storedRecord);
  }

  /** The stored JCS texts, unparsed: what dump and the verifier read. */
  async readChainText(chain: string, options: ReadChainOptions = {}): Promise<string[]> {
    validateChainName(chain);
    const fromSeq = position(options.fromSeq, 1, 'fromSeq');
    const toSeq = position(options.toSeq, Number.MAX_SAFE_INTEGER, 'toSeq');
    const { rows } = await this.db.query<{ record: string }>(SQL.readChain, [chain, fromSeq, toSeq, pageLimit(options.limit)]);
    return rows.map((row) => row.record);
  }

  async readStream(stream: string, options: ReadStreamOptions = {}): Promise<StoredRecord[]> {
    const fromVersion = position(options.fromVersion, 1, 'fromVersion');
    const { rows } = await this.db.query<{ record: string }>(SQL.readStream, [stream, fromVersion, pageLimit(options.limit)]);
    return rows.map((row) => storedRecord(row.record));
  }

  async head(chain: string): Promise<ChainHead> {
    validateChainName(chain);
    const row = (await this.db.query<HeadRow>(SQL.head, [chain])).rows[0];
    if (!row) throw new ChainError('UNKNOWN_CHAIN', `chain ${JSON.stringify(chain)} does not exist`, { chain });
    return row;
  }

  async listChains(): Promise<ChainHead[]> {
    return (await this.db.query<HeadRow>(SQL.listChains)).rows;
  }

  async createChain(chain: string): Promise<ChainHead> {
    validateChainName(chain);
    const row = (await this.db.query<HeadRow>(SQL.createChain, [chain, ZERO_HASH])).rows[0];
    if (!row) throw new ChainError('CHAIN_EXISTS', `chain ${JSON.stringify(chain)} already exists`, { chain });
    return row;
  }

  /** Stops accepting appends and waits for queued ones. The database stays open: its owner closes it. */
  async close(): Promise<void> {
    await this.#appender.close();
  }
}
