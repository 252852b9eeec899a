/**
 * The append path (docs/DESIGN.md, "Chain writer rules"): one writer per chain
 * per process, group commit of concurrent appends into one transaction and one
 * signing round, the chain's head row locked for the whole transaction so any
 * number of processes keep the chain linear.
 *
 * Pipelining. Sealing and signing cost far more CPU than the database spends
 * inserting, so while batch N commits, batch N+1 is already planned, sealed
 * and being signed on the head N will produce ("speculation"). At its commit,
 * under the head lock, batch N+1 checks that the head is still the one it was
 * sealed on. Every append moves the head, so an unchanged head proves that
 * nothing was appended in between and that the reads it was planned on still
 * hold. When the head moved (another process appended, or N failed), N+1 and
 * every later speculative batch go back to the front of the queue, and the
 * next batch runs entirely under the lock, which guarantees progress.
 *
 * N+1's statement is sent as soon as N+1 is signed, without waiting for N's
 * commit to come back: on the storage's `ordered` connection (pipeline
 * mode) it runs at the server right after N's, on the head N moved, saving
 * the client's round trip between two commits. A statement that goes
 * through a connection of the pool instead (a transaction with inline
 * projections) waits at the server for the head row N's holds locked; sent
 * before N's statement took the lock, it finds the head not yet moved and
 * writes nothing, and is sent once more after N committed. The writer keeps
 * two speculative batches of about equal size (chain/writerQueue.ts,
 * speculativeBatchEvents), so one is sealed while the other is signed and
 * committed. Should N fail while N+1's statement is
 * out, N+1's outcome is awaited: it wrote nothing unless N did commit after
 * all (its error came after the server committed it), and then N+1's appends
 * are answered, never appended again. N+1's own answer an error that may
 * follow a commit (a connection lost), its appends get that error: requeued,
 * they could be appended twice.
 *
 * The pieces: the queue and the batches taken from it (chain/writerQueue.ts),
 * the speculation (chain/speculation.ts), sealing and signing a planned batch
 * (chain/sealedBatch.ts), and the one commit routine both paths use
 * (chain/batchCommit.ts), driven for each chain by its ChainWriter
 * (chain/chainWriter.ts). The Appender here holds the writers of one store.
 *
 * The writer does no I/O itself: it drives a WriterStorage (infra/adapters/sql) and a
 * Signer (infra/adapters/signers).
 */
import { traced, tracedSync, tracingEnabled } from './tracing.ts';
import { CodedError } from '../domain/errors.ts';
import { ChainWriter } from './chainWriter.ts';
import { ChainError } from './errors.ts';
import { validateAppend, type AppendEventInput, type AppendOptions } from './input.ts';
import type { AppendResult } from './store.ts';
import type { WriterDeps } from './writerDeps.ts';

export { ChainWriter } from './chainWriter.ts';
export { WRITER_ACTOR } from './sealedBatch.ts';
export type { CommitBatch, IdempotencyRow, InlineHandler, WriterDeps, WriterStorage } from './writerDeps.ts';

/** Writers for every chain of one store, created on first use. */
export class Appender<Tx> {
  readonly #deps: WriterDeps<Tx>;
  readonly #writers = new Map<string, ChainWriter<Tx>>();
  #closed = false;

  constructor(deps: WriterDeps<Tx>) {
    this.#deps = deps;
  }

  append(chain: string, events: readonly AppendEventInput[], options: AppendOptions = {}): Promise<AppendResult> {
    if (!tracingEnabled()) return this.#append(chain, events, options);
    return traced('chain.append', { 'chainbook.chain': chain, 'chainbook.append.events': events.length }, () =>
      this.#append(chain, events, options),
    );
  }

  async #append(chain: string, events: readonly AppendEventInput[], options: AppendOptions): Promise<AppendResult> {
    const validated = tracingEnabled()
      ? tracedSync('chain.canonicalize', { 'chainbook.append.events': events.length }, () =>
          validateAppend(chain, events, options),
        )
      : validateAppend(chain, events, options);
    if (this.#closed) throw new ChainError('WRITER_CLOSED', 'the writer is shutting down', {});
    let writer = this.#writers.get(validated.chain);
    if (!writer) {
      writer = new ChainWriter(validated.chain, this.#deps);
      this.#writers.set(validated.chain, writer);
    }
    try {
      return await writer.append(validated);
    } catch (error) {
      // A writer for a chain that does not exist is not kept: names come from callers.
      if (error instanceof CodedError && error.code === 'UNKNOWN_CHAIN' && writer.queuedEvents === 0)
        this.#writers.delete(validated.chain);
      throw error;
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#writers.values()].map((writer) => writer.close()));
  }
}
