/**
 * One chain's writer: takes batches from its queue and commits them, sealed
 * ahead on speculation outside the lock or, when there is no speculation,
 * entirely under the head lock (chain/writer.ts, "Pipelining").
 */
import { newEventId } from './ids.ts';
import { assert } from '../domain/errors.ts';
import { commitSealed, insertReady, readyToCommit, type TreeHolder } from './batchCommit.ts';
import { ChainError } from './errors.ts';
import type { ValidatedAppend } from './input.ts';
import { MAX_PENDING_EVENTS, MAX_PIPELINE_BATCHES } from './limits.ts';
import { planBatch, type IdempotencyRecord } from './plan.ts';
import type { ChainHead } from './record.ts';
import { sealPlanned } from './sealedBatch.ts';
import {
  advance,
  forget,
  HeadMoved,
  readForSpeculation,
  speculateOn,
  type Speculation,
  type SpeculativeBatch,
  type StatementOutcome,
} from './speculation.ts';
import type { AppendResult } from './store.ts';
import type { WriterDeps } from './writerDeps.ts';
import { activeContext, failSpan, startSpan, traced, withSpan, type Span } from './tracing.ts';
import {
  batchKeys,
  batchStreams,
  speculativeBatchEvents,
  WriterQueue,
  type Pending,
  type Settlement,
} from './writerQueue.ts';

export class ChainWriter<Tx> {
  readonly #chain: string;
  readonly #deps: WriterDeps<Tx>;
  readonly #nowMs: () => number;
  readonly #newId: () => string;
  readonly #queue = new WriterQueue();
  /** Set while #drain runs; cleared in the same microtask as its last queue check, so no append is left behind. */
  #draining: Promise<void> | undefined;
  #closed = false;
  /** Batches sealed on speculation, oldest first, each committing after the one before. */
  #inflight: SpeculativeBatch[] = [];
  #commitTail: Promise<void> = Promise.resolve();
  /** Resolves once the last batch sealed on speculation has sent its statement (or will never send it). */
  #sendTail: Promise<void> = Promise.resolve();
  /** Undefined until a batch committed under the lock, and again after any failed commit. */
  #speculation: Speculation | undefined;
  #batches = 0;
  /** The session kid this writer has introduced in its chain with a committed signer.delegated record. */
  #introducedSession: string | undefined;
  /** The chain's Merkle tree edge after this writer's last commit (chain/treeCommit.ts). */
  readonly #tree: TreeHolder = { held: undefined };
  /** The tree edge after the last batch whose statement was sent: the next batch's tiles grow it. */
  readonly #treeAhead: TreeHolder = { held: undefined };

  constructor(chain: string, deps: WriterDeps<Tx>) {
    this.#chain = chain;
    this.#deps = deps;
    this.#nowMs = deps.nowMs ?? Date.now;
    this.#newId = deps.newId ?? newEventId;
  }

  get queuedEvents(): number {
    return this.#queue.events;
  }

  append(append: ValidatedAppend): Promise<AppendResult> {
    assert(append.chain === this.#chain, `append for ${append.chain} given to writer of ${this.#chain}`);
    if (this.#closed) return Promise.reject(new ChainError('WRITER_CLOSED', 'the writer is shutting down', {}));
    const disabled = this.#deps.signingDisabledReason?.();
    if (disabled !== undefined) {
      return Promise.reject(
        new ChainError('SIGNING_UNAVAILABLE', `signing is disabled: ${disabled}`, { reason: disabled, readOnly: true }),
      );
    }
    if (this.#queue.events + append.events.length > MAX_PENDING_EVENTS) {
      return Promise.reject(
        new ChainError(
          'WRITER_OVERLOADED',
          `more than ${MAX_PENDING_EVENTS} events are waiting for chain ${this.#chain}`,
          {
            maxPendingEvents: MAX_PENDING_EVENTS,
          },
        ),
      );
    }
    return new Promise<AppendResult>((resolve, reject) => {
      this.#queue.push(append, resolve, reject, activeContext());
      this.#draining ??= this.#drain();
    });
  }

  /** Stops accepting appends and waits for the queued ones. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#draining;
  }

  async #drain(): Promise<void> {
    try {
      while (this.#queue.length > 0 || this.#inflight.length > 0) {
        if (this.#queue.length > 0 && this.#speculation && this.#inflight.length < MAX_PIPELINE_BATCHES) {
          if (await this.#prepare(this.#speculation)) continue;
        } else if (this.#queue.length > 0 && !this.#speculation && this.#inflight.length === 0) {
          await this.#lockedBatch();
          continue;
        }
        await this.#inflight[0]?.committed;
      }
    } finally {
      this.#draining = undefined;
    }
  }

  /** Plans and seals a batch on the speculation and starts signing it. False when nothing could be taken. */
  async #prepare(speculation: Speculation): Promise<boolean> {
    const inFlight = this.#inflight.reduce((sum, batch) => sum + batch.events, 0);
    const maxEvents = speculativeBatchEvents(this.#queue.queuedEvents, inFlight);
    if (maxEvents === 0) return false;
    const pendings = this.#queue.take(speculation.keys, maxEvents);
    if (pendings.length === 0) return false;
    const appends = pendings.map((pending) => pending.append);
    const reads = await readForSpeculation(this.#deps.storage, this.#chain, speculation, appends);
    if (this.#speculation !== speculation) {
      // A commit failed while we were reading: what we planned on is gone.
      this.#queue.requeue(pendings);
      return true;
    }
    const outcomes = planBatch(appends, reads.stored, reads.states);
    const number = ++this.#batches;
    const sessions = [this.#introducedSession, speculation.introducing];
    const span = batchSpan(this.#chain, pendings);
    const sealed = withSpan(span, () =>
      sealPlanned(
        this.#deps.signer,
        speculation.head,
        appends,
        outcomes,
        this.#nowMs(),
        this.#newId,
        sessions,
        this.#deps.onHeadHashed,
      ),
    );
    span?.setAttribute('chainbook.batch.size', sealed.unsigned.length);
    const batch: SpeculativeBatch = {
      ...sealed,
      number,
      pendings,
      events: pendings.reduce((sum, pending) => sum + pending.append.events.length, 0),
      streams: reads.streams,
      keys: reads.keys,
      invalid: false,
      committed: Promise.resolve(),
      span,
    };
    advance(speculation, batch, reads.states);
    this.#inflight.push(batch);
    // Nothing ahead of this batch: its tiles grow the committed tree.
    if (this.#inflight.length === 1) this.#treeAhead.held = this.#tree.held;
    const issued = this.#sendTail.then(() => this.#send(batch));
    this.#sendTail = issued;
    batch.committed = this.#commitTail = this.#commitTail.then(async () => {
      await issued;
      await this.#finish(batch);
    });
    return true;
  }

  /**
   * Sends a speculative batch's statement once it is signed and the batch
   * before it has sent its own, without waiting for that one's commit: the
   * compare-and-set on the head waits at the server for the row lock of the
   * batch before and then checks the head it moved to, so the statement runs
   * as soon as that one commits, and writes nothing if it did not. Never
   * rejects: the outcome is in `batch.sent`.
   */
  async #send(batch: SpeculativeBatch): Promise<void> {
    if (batch.invalid) return;
    try {
      const ready = await readyToCommit(
        this.#deps,
        this.#chain,
        batch,
        this.#deps.storage.unlocked,
        this.#treeAhead.held,
      );
      // Checked again just before the statement goes out: a batch invalidated while it was signed never sends one.
      if (batch.invalid) return;
      if (ready === undefined) {
        batch.sent = Promise.resolve({ kind: 'moved' });
      } else if (Array.isArray(ready)) {
        batch.sent = Promise.resolve({ kind: 'settled', settlements: ready, wrote: false, after: undefined });
      } else {
        this.#treeAhead.held = ready.after;
        const insert = (): Promise<StatementOutcome> =>
          withSpan(batch.span, () => traced('chain.commit', {}, () => insertReady(this.#deps, ready, undefined))).then(
            (inserted): StatementOutcome =>
              inserted
                ? { kind: 'settled', settlements: ready.settlements, wrote: true, after: ready.after }
                : { kind: 'moved' },
            (error: unknown): StatementOutcome => ({ kind: 'failed', error, answered: true }),
          );
        // Sent while the batch before is in flight, the statement may reach the server before that one's takes the
        // head's row lock, and then find the head not yet moved: once that one committed, it is sent again, once.
        const ahead = this.#inflight[0] !== batch;
        batch.sent = insert().then((outcome) =>
          ahead && outcome.kind === 'moved' ? { kind: 'moved', again: insert } : outcome,
        );
      }
    } catch (error) {
      batch.sent = Promise.resolve({ kind: 'failed', error, answered: false });
    }
  }

  /** Answers a speculative batch's appends from its statement's outcome, in commit order. */
  async #finish(batch: SpeculativeBatch): Promise<void> {
    try {
      // Invalidated by the failure of a batch before it, which answered or requeued its appends.
      if (batch.invalid) return;
      assert(batch.sent, 'a valid speculative batch sent its statement');
      let outcome = await batch.sent;
      // Every batch before this one committed (else it would be invalid): its head is this one's base now.
      if (outcome.kind === 'moved' && outcome.again) outcome = await outcome.again();
      if (outcome.kind === 'settled') {
        this.#settled(batch, outcome);
        return;
      }
      const error = outcome.kind === 'moved' ? new HeadMoved() : outcome.error;
      if (batch.span) failSpan(batch.span, error);
      await this.#failSpeculative(batch, error);
    } finally {
      batch.span?.end();
    }
  }

  #settled(batch: SpeculativeBatch, outcome: Extract<StatementOutcome, { kind: 'settled' }>): void {
    const index = this.#inflight.indexOf(batch);
    if (index >= 0) this.#inflight.splice(index, 1);
    forget(this.#speculation, batch);
    if (outcome.wrote) this.#tree.held = outcome.after;
    if (batch.introduces) this.#introducedSession = batch.introduces;
    this.#queue.settle(batch.pendings, outcome.settlements);
  }

  /**
   * A speculative commit failed: every later batch was sealed on its head.
   * Those whose statement is out wrote nothing, unless the failed one did
   * commit after all (its error came after the server committed it): their
   * outcome is awaited, and one that committed is answered, never appended
   * again; one whose own answer was an error that may follow a commit is
   * answered with it, as the failed one is. The others go back to the queue,
   * in order, and the next batch runs under the lock.
   */
  async #failSpeculative(batch: SpeculativeBatch, error: unknown): Promise<void> {
    this.#speculation = undefined;
    const later = this.#inflight.splice(0).filter((other) => other !== batch);
    for (const other of later) other.invalid = true;
    const requeued: Pending[] = [];
    for (const other of later) {
      const outcome = other.sent === undefined ? undefined : await other.sent;
      if (outcome?.kind === 'settled') this.#settled(other, outcome);
      else if (outcome?.kind === 'failed' && outcome.answered && !this.#deps.storage.isIsolatable(outcome.error))
        // Its statement's answer is an error that does not say nothing was written (a connection lost after the
        // commit): it may have committed, so it is answered with that error and never appended again.
        this.#queue.rejectAll(other.pendings, outcome.error);
      else requeued.push(...other.pendings);
    }
    if (error instanceof HeadMoved) {
      requeued.unshift(...batch.pendings);
    } else if (this.#deps.storage.isIsolatable(error)) {
      // Planned on speculation, so run again under the lock, each append alone: only then is a rejection its own.
      for (const pending of batch.pendings) pending.alone = true;
      requeued.unshift(...batch.pendings);
    } else {
      this.#queue.rejectAll(batch.pendings, error);
    }
    this.#queue.requeue(requeued);
  }

  /** A batch read, planned, sealed, signed and committed entirely under the head lock; it restarts speculation. */
  async #lockedBatch(): Promise<void> {
    const pendings = this.#queue.take(new Map());
    const span = batchSpan(this.#chain, pendings);
    try {
      const { settlements, head, introduces } = await withSpan(span, () =>
        this.#commitLocked(
          pendings.map((pending) => pending.append),
          span,
        ),
      );
      if (introduces) this.#introducedSession = introduces;
      if (head) this.#speculation = speculateOn(head);
      this.#queue.settle(pendings, settlements);
    } catch (error) {
      if (pendings.length > 1 && this.#deps.storage.isIsolatable(error)) {
        for (const pending of pendings) pending.alone = true;
        this.#queue.requeue(pendings);
        return;
      }
      if (span) failSpan(span, error);
      this.#queue.rejectAll(pendings, error);
    } finally {
      span?.end();
    }
  }

  #commitLocked(
    appends: readonly ValidatedAppend[],
    span: Span | undefined,
  ): Promise<{ settlements: Settlement[]; head: ChainHead | undefined; introduces: string | undefined }> {
    const { storage, signer } = this.#deps;
    const chain = this.#chain;
    return storage.transaction(async (tx) => {
      const head = await storage.lockHead(tx, chain);
      if (!head) {
        const error = new ChainError('UNKNOWN_CHAIN', `chain ${JSON.stringify(chain)} does not exist`, { chain });
        return {
          settlements: appends.map(() => ({ ok: false as const, error })),
          head: undefined,
          introduces: undefined,
        };
      }
      const keys = batchKeys(appends);
      const stored =
        keys.length > 0 ? await storage.idempotencyRecords(tx, chain, keys) : new Map<string, IdempotencyRecord>();
      const streams = await storage.streamStates(tx, batchStreams(appends));
      const outcomes = planBatch(appends, stored, streams);
      const sealed = sealPlanned(
        signer,
        head,
        appends,
        outcomes,
        this.#nowMs(),
        this.#newId,
        [this.#introducedSession],
        this.#deps.onHeadHashed,
      );
      span?.setAttribute('chainbook.batch.size', sealed.unsigned.length);
      const settlements = await traced('chain.commit', {}, () =>
        commitSealed(this.#deps, chain, sealed, { tx }, this.#tree),
      );
      assert(settlements, `the head of ${chain} moved under its lock`);
      return { settlements, head: sealed.head, introduces: sealed.introduces };
    });
  }
}

/**
 * The span of one batch, from sealing to commit: a child of the first
 * append's span, linked to the others' (one batch commits many requests).
 * Undefined when tracing is off.
 */
function batchSpan(chain: string, pendings: readonly Pending[]): Span | undefined {
  const first = pendings[0];
  if (first?.trace === undefined) return undefined;
  return startSpan(
    'chain.batch',
    { 'chainbook.chain': chain, 'chainbook.batch.appends': pendings.length },
    first.trace,
    pendings.slice(1).map((pending) => pending.trace),
  );
}
