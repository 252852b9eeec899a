/**
 * Speculation (chain/writer.ts, "Pipelining"): what the sealed, uncommitted
 * batches will have done once committed, so that the next batch is read,
 * planned and sealed on it outside the lock while they commit.
 */
import type { Span } from './tracing.ts';
import type { ValidatedAppend } from './input.ts';
import type { IdempotencyRecord, StreamState } from './plan.ts';
import type { ChainHead } from './record.ts';
import type { SealedBatch } from './sealedBatch.ts';
import type { HeldEdge } from './treeCommit.ts';
import type { WriterStorage } from './writerDeps.ts';
import { batchKeys, batchStreams, type Pending, type Settlement } from './writerQueue.ts';

/**
 * What a speculative batch's statement did: committed (or had nothing to
 * write), found the head moved (`again`: it was sent before the batch ahead
 * committed, and may be sent again once that one did), or failed (before
 * it was sent, or with the statement's answer).
 */
export type StatementOutcome =
  | { kind: 'settled'; settlements: Settlement[]; wrote: boolean; after: HeldEdge | undefined }
  | { kind: 'moved'; again?: (() => Promise<StatementOutcome>) | undefined }
  /** `answered`: the error is the statement's own answer, so it may have committed (unless the error says it did not). */
  | { kind: 'failed'; error: unknown; answered: boolean };

/** A batch planned and sealed on the speculation, waiting for its signatures and its commit. */
export interface SpeculativeBatch extends SealedBatch {
  number: number;
  pendings: Pending[];
  /** Events of its appends. */
  events: number;
  streams: string[];
  keys: string[];
  /** Set when an earlier batch failed: this one was answered or went back to the queue with it. */
  invalid: boolean;
  /** Its statement's outcome, once the statement was sent; never set for a batch invalidated before. */
  sent?: Promise<StatementOutcome> | undefined;
  committed: Promise<void>;
  /** The batch's span from sealing to commit (chain/tracing.ts); undefined when tracing is off. */
  span: Span | undefined;
}

/** What the prepared, uncommitted batches will have done once committed. */
export interface Speculation {
  head: ChainHead;
  /** Stream states set by uncommitted batches, with the number of the last batch that set each. */
  streams: Map<string, { state: StreamState; batch: number }>;
  /** Idempotency keys of uncommitted batches: a new append with one of them waits for that batch. */
  keys: Map<string, number>;
  /** A session kid an uncommitted batch introduces: later batches must not introduce it again. */
  introducing: string | undefined;
}

/** What planning a batch on the speculation needs: every stream's state and the stored idempotency records. */
export interface SpeculativeReads {
  streams: string[];
  keys: string[];
  states: Map<string, StreamState>;
  stored: Map<string, IdempotencyRecord>;
}

/** The head moved between planning a speculative batch and its commit: plan it again. */
export class HeadMoved extends Error {}

/** Speculation on a head just committed under the lock: no batch is uncommitted. */
export function speculateOn(head: ChainHead): Speculation {
  return { head, streams: new Map(), keys: new Map(), introducing: undefined };
}

/**
 * Reads, outside any lock, what planning `appends` on the speculation needs:
 * the states of streams no uncommitted batch set, and the idempotency records.
 */
export async function readForSpeculation<Tx>(
  storage: WriterStorage<Tx>,
  chain: string,
  speculation: Speculation,
  appends: readonly ValidatedAppend[],
): Promise<SpeculativeReads> {
  const streams = batchStreams(appends);
  const keys = batchKeys(appends);
  // Taken before the reads: a commit during them drops its streams from the speculation.
  const known = new Map(
    streams.flatMap((stream) => {
      const entry = speculation.streams.get(stream);
      return entry ? [[stream, entry.state] as const] : [];
    }),
  );
  const unknown = streams.filter((stream) => !known.has(stream));
  const [read, stored] = await Promise.all([
    unknown.length > 0 ? storage.streamStates(storage.unlocked, unknown) : new Map<string, StreamState>(),
    keys.length > 0 ? storage.idempotencyRecords(storage.unlocked, chain, keys) : new Map<string, IdempotencyRecord>(),
  ]);
  return { streams, keys, states: new Map([...read, ...known]), stored };
}

/** Adds what a batch sealed on the speculation will have done; `states` are the stream states its plan advanced. */
export function advance(
  speculation: Speculation,
  batch: SpeculativeBatch,
  states: ReadonlyMap<string, StreamState>,
): void {
  speculation.head = batch.head;
  speculation.introducing = batch.introduces ?? speculation.introducing;
  for (const stream of batch.streams) {
    const state = states.get(stream);
    if (state) speculation.streams.set(stream, { state, batch: batch.number });
  }
  for (const key of batch.keys) speculation.keys.set(key, batch.number);
}

/** Drops what a committed batch told the speculation: the database knows it now. */
export function forget(speculation: Speculation | undefined, batch: SpeculativeBatch): void {
  if (!speculation) return;
  for (const stream of batch.streams)
    if (speculation.streams.get(stream)?.batch === batch.number) speculation.streams.delete(stream);
  for (const key of batch.keys) if (speculation.keys.get(key) === batch.number) speculation.keys.delete(key);
  if (batch.introduces !== undefined && speculation.introducing === batch.introduces)
    speculation.introducing = undefined;
}
