/**
 * What a chain writer (chain/writer.ts) is given: the storage it reads and
 * commits through (infra/adapters/sql implements it), the signer, and the
 * inline projections folded inside the append transaction.
 */
import type { IdempotencyRecord, StreamState } from './plan.ts';
import type { ChainHead, StoredRecord } from './record.ts';
import type { Signer } from './signer.ts';
import type { TileWrite } from './tiles.ts';
import type { TreeStorage } from './treeCommit.ts';

export interface IdempotencyRow {
  key: string;
  requestHash: string;
  result: string;
  /** The caller's response (JSON text), when it gave one. */
  response: string | undefined;
}

export interface CommitBatch {
  chain: string;
  records: readonly StoredRecord[];
  idempotency: readonly IdempotencyRow[];
  /** The Merkle tiles the batch changes, whole (docs/FORMAT.md section 14). */
  tiles: readonly TileWrite[];
  /** The tree's size after the batch; undefined: unchanged (the writer without the tree, bench/append.ts). */
  treeSize: number | undefined;
  /** The head before the batch, as locked. */
  previousHead: ChainHead;
  /** The head after the batch. */
  head: ChainHead;
}

export interface WriterStorage<Tx> extends TreeStorage<Tx> {
  transaction<T>(work: (tx: Tx) => Promise<T>): Promise<T>;
  /** Reads outside any transaction, for planning a speculative batch. */
  readonly unlocked: Tx;
  /**
   * Statements outside any transaction that run at the server in the order
   * they were sent: a speculative batch's statement then always runs after
   * the one of the batch ahead (chain/writer.ts, "Pipelining").
   */
  readonly ordered: Tx;
  /** Locks the chain's head row until the transaction ends; undefined for an unknown chain. */
  lockHead(tx: Tx, chain: string): Promise<ChainHead | undefined>;
  /** Current version and chain of each stream that exists. */
  streamStates(tx: Tx, streams: readonly string[]): Promise<Map<string, StreamState>>;
  idempotencyRecords(tx: Tx, chain: string, keys: readonly string[]): Promise<Map<string, IdempotencyRecord>>;
  /**
   * Inserts the batch, writes its tiles and moves the head, only if the head is still
   * `batch.previousHead`: false (and nothing written) when it moved. Given
   * `unlocked`, one atomic statement outside any transaction.
   */
  insertBatch(tx: Tx, batch: CommitBatch): Promise<boolean>;
  /**
   * Whether a failed transaction may have been caused by one append alone (a
   * constraint, a projection's rejection), so that retrying the batch's
   * appends one by one isolates it. False for a lost connection.
   */
  isIsolatable(error: unknown): boolean;
}

/** Runs inside the append transaction after the records are inserted (inline projections). */
export type InlineHandler<Tx> = (tx: Tx, records: readonly StoredRecord[]) => Promise<void>;

export interface WriterDeps<Tx> {
  storage: WriterStorage<Tx>;
  signer: Signer;
  inline?: InlineHandler<Tx> | undefined;
  nowMs?: (() => number) | undefined;
  newId?: (() => string) | undefined;
  /** When set, appends are refused with SIGNING_UNAVAILABLE and this reason (read-only mode). */
  signingDisabledReason?: (() => string | undefined) | undefined;
  /**
   * False: no Merkle tiles are written (chain/treeCommit.ts). Only
   * bench/append.ts turns the tree off, to measure what it costs the writer
   * in the same run; a chain appended to without it gets its missing leaves
   * from the next writer that has it.
   */
  merkleTree?: boolean | undefined;
  /** Told how long linking and hashing each sealed batch took (the head-hash compute latency metric). */
  onHeadHashed?: ((seconds: number, records: number) => void) | undefined;
}
