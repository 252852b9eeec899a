/**
 * The event store over SQL: the same statements on PostgreSQL and PGlite,
 * all of them in eventLog.ts.
 */
import { headHashComputeSeconds } from '../metrics.ts';
import { CodedError } from '../../../domain/errors.ts';
import { ChainError } from '../../../chain/errors.ts';
import { validateChainName, type AppendEventInput, type AppendOptions } from '../../../chain/input.ts';
import { MAX_PAGE_RECORDS } from '../../../chain/limits.ts';
import type { ChainHead, ChainRecord, StoredRecord } from '../../../chain/record.ts';
import type { AppendResult, EventStore, ReadChainOptions, ReadStreamOptions } from '../../../chain/store.ts';
import { Appender, type InlineHandler, type WriterStorage } from '../../../chain/writer.ts';
import type { ChainReader } from '../../../chain/subscription.ts';
import type { Signer } from '../../../chain/signer.ts';
import * as eventLog from './eventLog.ts';
import type { SqlDatabase, SqlExecutor } from './sql.ts';

function pageLimit(limit: number | undefined): number {
  if (limit === undefined) return MAX_PAGE_RECORDS;
  if (!Number.isSafeInteger(limit) || limit < 1)
    throw new CodedError('INVALID_ARGUMENT', `limit must be a positive integer (got ${limit})`);
  return Math.min(limit, MAX_PAGE_RECORDS);
}

function position(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 0)
    throw new CodedError('INVALID_ARGUMENT', `${name} must be a non-negative integer (got ${value})`);
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

export function writerStorage(db: SqlDatabase): WriterStorage<SqlExecutor> {
  return {
    transaction: (work) => db.transaction(work),
    unlocked: db,
    ordered: db.ordered ?? db,
    lockHead: (tx, chain) => eventLog.lockHead(tx, chain),
    streamStates: (tx, streams) => eventLog.streamStates(tx, streams),
    idempotencyRecords: (tx, chain, keys) => eventLog.idempotencyRecords(tx, chain, keys),
    insertBatch: (tx, batch) => eventLog.insertBatch(tx, batch),
    readTreeEdge: (tx, chain, size) => eventLog.readTreeEdge(tx, chain, size),
    recordHashes: (tx, chain, fromSeq, toSeq) => eventLog.recordHashes(tx, chain, fromSeq, toSeq, MAX_PAGE_RECORDS),
    isIsolatable: (error) => error instanceof CodedError || isStatementError(error),
  };
}

/** Stream reads sent at once; those asked meanwhile wait and go together in the next statement. */
const MAX_STREAM_READS_IN_FLIGHT = 4;
/** Streams in one group read: its rows are at most this many pages of MAX_PAGE_RECORDS. */
const MAX_STREAMS_PER_READ = 32;

interface WaitingRead {
  stream: string;
  fromVersion: number;
  resolve: (texts: string[]) => void;
  reject: (error: unknown) => void;
}

/**
 * Group reads: commands read the stream they decide on, one short statement
 * each, and under load those statements (a round trip, a parse, a plan, a
 * socket write on both sides) cost more than what they read. While
 * MAX_STREAM_READS_IN_FLIGHT are out, further reads wait and are sent
 * together, up to MAX_STREAMS_PER_READ in one statement, each with its own
 * stream and first version: each gets the rows it would have got alone, read
 * a moment later. Commands check the versions they decided on when they
 * append, as they always did, so a read is never trusted to be current. A
 * lone read goes at once, as before.
 */
export class StreamReads {
  readonly #db: SqlExecutor;
  readonly #waiting: WaitingRead[] = [];
  #inFlight = 0;

  constructor(db: SqlExecutor) {
    this.#db = db;
  }

  /** One page of MAX_PAGE_RECORDS texts of `stream` from `fromVersion`. */
  read(stream: string, fromVersion: number): Promise<string[]> {
    return new Promise((resolve, reject) => {
      this.#waiting.push({ stream, fromVersion, resolve, reject });
      this.#send();
    });
  }

  #send(): void {
    while (this.#inFlight < MAX_STREAM_READS_IN_FLIGHT && this.#waiting.length > 0) {
      const reads = this.#waiting.splice(0, MAX_STREAMS_PER_READ);
      this.#inFlight += 1;
      const texts =
        reads.length === 1
          ? eventLog
              .readStreamTexts(this.#db, reads[0]!.stream, reads[0]!.fromVersion, MAX_PAGE_RECORDS)
              .then((one) => [one])
          : eventLog.readStreamsTexts(this.#db, reads, MAX_PAGE_RECORDS);
      texts
        .then(
          (pages) => reads.forEach((read, index) => read.resolve(pages[index]!)),
          (error: unknown) => reads.forEach((read) => read.reject(error)),
        )
        .finally(() => {
          this.#inFlight -= 1;
          this.#send();
        });
    }
  }
}

export interface SqlEventStoreOptions {
  signer: Signer;
  inline?: InlineHandler<SqlExecutor> | undefined;
  signingDisabledReason?: (() => string | undefined) | undefined;
  nowMs?: (() => number) | undefined;
  /** False only in bench/append.ts (chain/writerDeps.ts, `merkleTree`). */
  merkleTree?: boolean | undefined;
}

export class SqlEventStore implements EventStore {
  readonly db: SqlDatabase;
  readonly #appender: Appender<SqlExecutor>;
  readonly #streamReads: StreamReads;

  constructor(db: SqlDatabase, options: SqlEventStoreOptions) {
    this.db = db;
    this.#streamReads = new StreamReads(db);
    this.#appender = new Appender<SqlExecutor>({
      storage: writerStorage(db),
      signer: options.signer,
      inline: options.inline,
      signingDisabledReason: options.signingDisabledReason,
      nowMs: options.nowMs,
      merkleTree: options.merkleTree,
      onHeadHashed: (seconds) => headHashComputeSeconds.observe(seconds),
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
    return (await eventLog.readChainTexts(this.db, chain, fromSeq, toSeq, pageLimit(options.limit))).map(
      (row) => row.record,
    );
  }

  async readStream(stream: string, options: ReadStreamOptions = {}): Promise<StoredRecord[]> {
    const fromVersion = position(options.fromVersion, 1, 'fromVersion');
    const limit = pageLimit(options.limit);
    const texts =
      limit === MAX_PAGE_RECORDS
        ? await this.#streamReads.read(stream, fromVersion)
        : await eventLog.readStreamTexts(this.db, stream, fromVersion, limit);
    return texts.map(storedRecord);
  }

  async head(chain: string): Promise<ChainHead> {
    validateChainName(chain);
    const row = await eventLog.readHead(this.db, chain);
    if (!row) throw new ChainError('UNKNOWN_CHAIN', `chain ${JSON.stringify(chain)} does not exist`, { chain });
    return row;
  }

  async listChains(): Promise<ChainHead[]> {
    return eventLog.listHeads(this.db);
  }

  async createChain(chain: string): Promise<ChainHead> {
    validateChainName(chain);
    const row = await eventLog.createHead(this.db, chain);
    if (!row) throw new ChainError('CHAIN_EXISTS', `chain ${JSON.stringify(chain)} already exists`, { chain });
    return row;
  }

  /** Stops accepting appends and waits for queued ones. The database stays open: its owner closes it. */
  async close(): Promise<void> {
    await this.#appender.close();
  }
}

/**
 * The chain's reads without a writer or a signer, for processes that only
 * follow the chain (the relays of the audit stream: infra/adapters/stream/relay.ts).
 */
export function sqlChainReader(db: SqlDatabase): ChainReader {
  return {
    async readChain(chain, options = {}) {
      validateChainName(chain);
      const fromSeq = position(options.fromSeq, 1, 'fromSeq');
      const toSeq = position(options.toSeq, Number.MAX_SAFE_INTEGER, 'toSeq');
      return (await eventLog.readChainTexts(db, chain, fromSeq, toSeq, pageLimit(options.limit))).map((row) =>
        storedRecord(row.record),
      );
    },
    async head(chain) {
      validateChainName(chain);
      const row = await eventLog.readHead(db, chain);
      if (!row) throw new ChainError('UNKNOWN_CHAIN', `chain ${JSON.stringify(chain)} does not exist`, { chain });
      return row;
    },
  };
}
