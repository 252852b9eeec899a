/**
 * The append path (DESIGN.md, "Chain writer rules"): one writer per chain per
 * process, group commit of concurrent appends into one transaction and one
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
 * The writer does no I/O itself: it drives a WriterStorage (infra/adapters/sql) and a
 * Signer (infra/adapters/signers).
 */
import { newEventId } from './ids.ts';
import { CodedError } from '../domain/errors.ts';
import { SIGNER_EVENT_TYPES } from './delegation.ts';
import { ChainError } from './errors.ts';
import { validateAppend, type AppendEventInput, type AppendOptions, type ValidatedAppend } from './input.ts';
import { MAX_BATCH_DATA_BYTES, MAX_BATCH_EVENTS, MAX_PENDING_EVENTS, MAX_PIPELINE_BATCHES } from './limits.ts';
import { planBatch, type IdempotencyRecord, type PlanOutcome, type StreamState } from './plan.ts';
import type { ChainHead, RecordSignature, StoredRecord } from './record.ts';
import { attachSignatures, commitTime, sealBatch, type EventToSeal, type UnsignedRecord } from './seal.ts';
import type { SessionKey, Signer } from './signer.ts';
import type { AppendResult } from './store.ts';

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
  /** The head before the batch, as locked. */
  previousHead: ChainHead;
  /** The head after the batch. */
  head: ChainHead;
}

export interface WriterStorage<Tx> {
  transaction<T>(work: (tx: Tx) => Promise<T>): Promise<T>;
  /** Reads outside any transaction, for planning a speculative batch. */
  readonly unlocked: Tx;
  /** Locks the chain's head row until the transaction ends; undefined for an unknown chain. */
  lockHead(tx: Tx, chain: string): Promise<ChainHead | undefined>;
  /** Current version and chain of each stream that exists. */
  streamStates(tx: Tx, streams: readonly string[]): Promise<Map<string, StreamState>>;
  idempotencyRecords(tx: Tx, chain: string, keys: readonly string[]): Promise<Map<string, IdempotencyRecord>>;
  /**
   * Inserts the batch and moves the head, only if the head is still
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
}

interface Pending {
  append: ValidatedAppend;
  resolve: (result: AppendResult) => void;
  reject: (error: unknown) => void;
  /** Set after a batch failed in a way one append may have caused: this append then commits on its own. */
  alone: boolean;
}

type Settlement = { ok: true; result: AppendResult } | { ok: false; error: unknown };

/** A batch planned and sealed, waiting for its signatures and its commit. */
interface Batch {
  number: number;
  pendings: Pending[];
  /** The head the batch was sealed on; the commit checks it under the lock. */
  base: ChainHead;
  head: ChainHead;
  outcomes: PlanOutcome[];
  unsigned: UnsignedRecord[];
  signatures: Promise<RecordSignature[]> | undefined;
  /** The session kid whose signer.delegated record leads this batch (spec 4b). */
  introduces: string | undefined;
  streams: string[];
  keys: string[];
  /** Set when an earlier batch failed: this one went back to the queue. */
  invalid: boolean;
  committed: Promise<void>;
}

/** What the prepared, uncommitted batches will have done once committed. */
interface Speculation {
  head: ChainHead;
  /** Stream states set by uncommitted batches, with the number of the last batch that set each. */
  streams: Map<string, { state: StreamState; batch: number }>;
  /** Idempotency keys of uncommitted batches: a new append with one of them waits for that batch. */
  keys: Map<string, number>;
  /** A session kid an uncommitted batch introduces: later batches must not introduce it again. */
  introducing: string | undefined;
}

/** The head moved between planning a speculative batch and locking the head: plan it again. */
class HeadMoved extends Error {}

function signingUnavailable(signer: Pick<Signer, 'kid'>, error: unknown): ChainError {
  if (error instanceof ChainError && error.code === 'SIGNING_UNAVAILABLE') return error;
  const reason = error instanceof Error ? error.message : String(error);
  return new ChainError('SIGNING_UNAVAILABLE', `signer ${signer.kid} could not sign: ${reason}`, { kid: signer.kid, reason });
}

async function signAll(signer: Pick<Signer, 'kid' | 'signBatch'>, unsigned: readonly UnsignedRecord[]): Promise<RecordSignature[]> {
  let signatures: RecordSignature[];
  try {
    signatures = await signer.signBatch(unsigned.map((u) => ({ hash: u.hash, preimage: u.preimage })));
  } catch (error) {
    throw signingUnavailable(signer, error);
  }
  if (signatures.length !== unsigned.length) {
    throw signingUnavailable(signer, new Error(`returned ${signatures.length} signatures for ${unsigned.length} records`));
  }
  return signatures;
}

/** Actor of the records the writer adds itself (signer.delegated). */
export const WRITER_ACTOR = { id: 'service:chainbook-writer', role: 'Service' } as const;

/** The signer.delegated event introducing `session` in `chain` (spec 4b), on a stream of its own. */
function delegationEvent(chain: string, session: SessionKey): EventToSeal {
  const [event] = validateAppend(chain, [
    { stream: `delegation-${chain}.${session.kid}`, type: SIGNER_EVENT_TYPES.delegated, actor: WRITER_ACTOR, data: { ...session.delegation } },
  ]).events;
  return { event: event!, version: 1 };
}

/**
 * Signatures for a sealed batch: by the signer itself, or in delegated mode
 * the introducing signer.delegated record (when `introduces`) by the
 * registry signer and every other record by the session key. Started when
 * the batch is sealed and awaited at its commit.
 */
function startSigning(signer: Signer, session: SessionKey | undefined, introduces: boolean, unsigned: readonly UnsignedRecord[]): Promise<RecordSignature[]> {
  const signing = (async () => {
    if (!session) return signAll(signer, unsigned);
    const delegation = introduces ? await signAll(signer, unsigned.slice(0, 1)) : [];
    const rest = unsigned.slice(delegation.length);
    return [...delegation, ...(rest.length > 0 ? await signAll(session, rest) : [])];
  })();
  // A batch invalidated before its commit never awaits its signatures.
  signing.catch(() => undefined);
  return signing;
}

/**
 * Seals `toSeal` on `head` at the clock's commit time, led in delegated mode
 * by the signer.delegated record of a session this chain has not seen, and
 * starts signing.
 */
function sealAndSign(
  signer: Signer,
  head: ChainHead,
  toSeal: readonly EventToSeal[],
  nowMs: number,
  newId: () => string,
  knownSessions: readonly (string | undefined)[],
): { unsigned: UnsignedRecord[]; signatures: Promise<RecordSignature[]> | undefined; introduces: string | undefined } {
  if (toSeal.length === 0) return { unsigned: [], signatures: undefined, introduces: undefined };
  const ts = commitTime(nowMs, head);
  const session = signer.session?.(Date.parse(ts));
  const introduces = session !== undefined && !knownSessions.includes(session.kid) ? session.kid : undefined;
  const unsigned = sealBatch(head, introduces ? [delegationEvent(head.chain, session!), ...toSeal] : toSeal, ts, newId);
  return { unsigned, signatures: startSigning(signer, session, introduces !== undefined, unsigned), introduces };
}

/** Settlements for a planned batch; `records` holds the sealed records of accepted appends in order. */
function settle(chain: string, outcomes: readonly PlanOutcome[], records: readonly StoredRecord[]): Settlement[] {
  const settlements: Settlement[] = [];
  let offset = 0;
  for (const outcome of outcomes) {
    switch (outcome.kind) {
      case 'accepted': {
        const mine = records.slice(offset, offset + outcome.versions.length);
        offset += outcome.versions.length;
        const events = mine.map(({ record: r }) => ({ seq: r.seq, id: r.id, stream: r.stream, version: r.version, type: r.type, hash: r.hash }));
        settlements.push({ ok: true, result: { chain, events, replayed: false } });
        break;
      }
      case 'rejected':
        settlements.push({ ok: false, error: outcome.error });
        break;
      case 'replayed':
        settlements.push({ ok: true, result: { ...(JSON.parse(outcome.result) as AppendResult), replayed: true } });
        break;
      case 'duplicate': {
        const first = settlements[outcome.of];
        if (!first?.ok) throw new Error('assertion failed: a duplicate refers to an accepted append');
        settlements.push({ ok: true, result: { ...first.result, replayed: true } });
        break;
      }
    }
  }
  return settlements;
}

function idempotencyRows(chain: string, appends: readonly ValidatedAppend[], outcomes: readonly PlanOutcome[], settlements: readonly Settlement[]): IdempotencyRow[] {
  const rows: IdempotencyRow[] = [];
  outcomes.forEach((outcome, index) => {
    const { idempotencyKey, requestHash, response } = appends[index]!;
    const settlement = settlements[index]!;
    if (outcome.kind === 'accepted' && idempotencyKey !== undefined && settlement.ok) {
      rows.push({ key: idempotencyKey, requestHash: requestHash!, result: JSON.stringify({ chain, events: settlement.result.events }), response });
    }
  });
  return rows;
}

function eventsToSeal(appends: readonly ValidatedAppend[], outcomes: readonly PlanOutcome[]): EventToSeal[] {
  const toSeal: EventToSeal[] = [];
  outcomes.forEach((outcome, index) => {
    if (outcome.kind !== 'accepted') return;
    appends[index]!.events.forEach((event, eventIndex) => toSeal.push({ event, version: outcome.versions[eventIndex]! }));
  });
  return toSeal;
}

function headAfter(base: ChainHead, unsigned: readonly UnsignedRecord[]): ChainHead {
  const last = unsigned[unsigned.length - 1];
  return last ? { chain: base.chain, seq: last.payload.seq, hash: last.hash.toString('hex'), ts: last.payload.ts } : base;
}

export class ChainWriter<Tx> {
  readonly #chain: string;
  readonly #deps: WriterDeps<Tx>;
  readonly #nowMs: () => number;
  readonly #newId: () => string;
  #queue: Pending[] = [];
  #queuedEvents = 0;
  /** Set while #drain runs; cleared in the same microtask as its last queue check, so no append is left behind. */
  #draining: Promise<void> | undefined;
  #closed = false;
  /** Batches sealed on speculation, oldest first, each committing after the one before. */
  #inflight: Batch[] = [];
  #commitTail: Promise<void> = Promise.resolve();
  /** Undefined until a batch committed under the lock, and again after any failed commit. */
  #speculation: Speculation | undefined;
  #batches = 0;
  /** The session kid this writer has introduced in its chain with a committed signer.delegated record. */
  #introducedSession: string | undefined;

  constructor(chain: string, deps: WriterDeps<Tx>) {
    this.#chain = chain;
    this.#deps = deps;
    this.#nowMs = deps.nowMs ?? Date.now;
    this.#newId = deps.newId ?? newEventId;
  }

  get queuedEvents(): number {
    return this.#queuedEvents;
  }

  append(append: ValidatedAppend): Promise<AppendResult> {
    if (append.chain !== this.#chain) throw new Error(`assertion failed: append for ${append.chain} given to writer of ${this.#chain}`);
    if (this.#closed) return Promise.reject(new ChainError('WRITER_CLOSED', 'the writer is shutting down', {}));
    const disabled = this.#deps.signingDisabledReason?.();
    if (disabled !== undefined) {
      return Promise.reject(new ChainError('SIGNING_UNAVAILABLE', `signing is disabled: ${disabled}`, { reason: disabled, readOnly: true }));
    }
    if (this.#queuedEvents + append.events.length > MAX_PENDING_EVENTS) {
      return Promise.reject(
        new ChainError('WRITER_OVERLOADED', `more than ${MAX_PENDING_EVENTS} events are waiting for chain ${this.#chain}`, {
          maxPendingEvents: MAX_PENDING_EVENTS,
        }),
      );
    }
    return new Promise<AppendResult>((resolve, reject) => {
      this.#queue.push({ append, resolve, reject, alone: false });
      this.#queuedEvents += append.events.length;
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

  #settle(pendings: readonly Pending[], settlements: readonly Settlement[]): void {
    pendings.forEach((pending, index) => {
      const settlement = settlements[index]!;
      this.#queuedEvents -= pending.append.events.length;
      if (settlement.ok) pending.resolve(settlement.result);
      else pending.reject(settlement.error);
    });
  }

  #rejectAll(pendings: readonly Pending[], error: unknown): void {
    this.#settle(
      pendings,
      pendings.map(() => ({ ok: false, error })),
    );
  }

  /**
   * The next batch from the front of the queue: at most MAX_BATCH_EVENTS
   * events and MAX_BATCH_DATA_BYTES, an `alone` append by itself, and no
   * append whose idempotency key an uncommitted batch holds (it waits).
   */
  #take(waiting: ReadonlyMap<string, number>): Pending[] {
    const taken: Pending[] = [];
    const left: Pending[] = [];
    let events = 0;
    let bytes = 0;
    let index = 0;
    for (; index < this.#queue.length; index++) {
      const pending = this.#queue[index]!;
      const key = pending.append.idempotencyKey;
      if (key !== undefined && waiting.has(key)) {
        left.push(pending);
        continue;
      }
      const over = events + pending.append.events.length > MAX_BATCH_EVENTS || bytes + pending.append.dataBytes > MAX_BATCH_DATA_BYTES;
      if (taken.length > 0 && (pending.alone || over)) break;
      taken.push(pending);
      events += pending.append.events.length;
      bytes += pending.append.dataBytes;
      if (pending.alone) {
        index += 1;
        break;
      }
    }
    this.#queue = left.concat(this.#queue.slice(index));
    return taken;
  }

  /** Plans and seals a batch on the speculation and starts signing it. False when nothing could be taken. */
  async #prepare(speculation: Speculation): Promise<boolean> {
    const { storage, signer } = this.#deps;
    const pendings = this.#take(speculation.keys);
    if (pendings.length === 0) return false;
    const appends = pendings.map((pending) => pending.append);
    const streams = [...new Set(appends.flatMap((append) => append.events.map((event) => event.stream)))];
    const keys = appends.flatMap((append) => (append.idempotencyKey === undefined ? [] : [append.idempotencyKey]));
    // Taken before the reads: a commit during them drops its streams from the speculation.
    const known = new Map(streams.flatMap((stream) => {
      const entry = speculation.streams.get(stream);
      return entry ? [[stream, entry.state] as const] : [];
    }));
    const unknown = streams.filter((stream) => !known.has(stream));
    const [read, stored] = await Promise.all([
      unknown.length > 0 ? storage.streamStates(storage.unlocked, unknown) : new Map<string, StreamState>(),
      keys.length > 0 ? storage.idempotencyRecords(storage.unlocked, this.#chain, keys) : new Map<string, IdempotencyRecord>(),
    ]);
    if (this.#speculation !== speculation) {
      // A commit failed while we were reading: what we planned on is gone.
      this.#queue.unshift(...pendings);
      return true;
    }
    const states = new Map([...read, ...known]);
    const outcomes = planBatch(appends, stored, states);
    const number = ++this.#batches;
    const sessions = [this.#introducedSession, speculation.introducing];
    const { unsigned, signatures, introduces } = sealAndSign(signer, speculation.head, eventsToSeal(appends, outcomes), this.#nowMs(), this.#newId, sessions);
    const batch: Batch = {
      number,
      pendings,
      base: speculation.head,
      head: headAfter(speculation.head, unsigned),
      outcomes,
      unsigned,
      signatures,
      introduces,
      streams,
      keys,
      invalid: false,
      committed: Promise.resolve(),
    };
    speculation.head = batch.head;
    speculation.introducing = introduces ?? speculation.introducing;
    for (const stream of streams) {
      const state = states.get(stream);
      if (state) speculation.streams.set(stream, { state, batch: number });
    }
    for (const key of keys) speculation.keys.set(key, number);
    this.#inflight.push(batch);
    batch.committed = this.#commitTail = this.#commitTail.then(() => this.#commitSpeculative(batch));
    return true;
  }

  async #commitSpeculative(batch: Batch): Promise<void> {
    if (batch.invalid) return;
    const { storage, inline } = this.#deps;
    const chain = this.#chain;
    try {
      let settlements: Settlement[];
      if (!batch.signatures) {
        settlements = settle(chain, batch.outcomes, []);
      } else {
        // Signatures first: no lock is held while the signer works.
        const records = attachSignatures(batch.unsigned, await batch.signatures);
        const appends = batch.pendings.map((pending) => pending.append);
        settlements = settle(chain, batch.outcomes, batch.introduces ? records.slice(1) : records);
        const commit: CommitBatch = { chain, records, idempotency: idempotencyRows(chain, appends, batch.outcomes, settlements), previousHead: batch.base, head: batch.head };
        const committed = inline
          ? await storage.transaction(async (tx) => (await storage.insertBatch(tx, commit)) && (await inline(tx, records), true))
          : await storage.insertBatch(storage.unlocked, commit);
        if (!committed) throw new HeadMoved();
      }
      this.#inflight.shift();
      this.#forget(batch);
      if (batch.introduces) this.#introducedSession = batch.introduces;
      this.#settle(batch.pendings, settlements);
    } catch (error) {
      this.#failSpeculative(batch, error);
    }
  }

  /** Drops what a committed batch told the speculation: the database knows it now. */
  #forget(batch: Batch): void {
    const speculation = this.#speculation;
    if (!speculation) return;
    for (const stream of batch.streams) if (speculation.streams.get(stream)?.batch === batch.number) speculation.streams.delete(stream);
    for (const key of batch.keys) if (speculation.keys.get(key) === batch.number) speculation.keys.delete(key);
    if (batch.introduces !== undefined && speculation.introducing === batch.introduces) speculation.introducing = undefined;
  }

  /**
   * A speculative commit failed: every later batch was sealed on its head, so
   * all go back to the queue, and the next batch runs under the lock.
   */
  #failSpeculative(batch: Batch, error: unknown): void {
    this.#speculation = undefined;
    const later = this.#inflight.splice(0).filter((other) => other !== batch);
    for (const other of later) other.invalid = true;
    const requeued = later.flatMap((other) => other.pendings);
    if (error instanceof HeadMoved) {
      requeued.unshift(...batch.pendings);
    } else if (this.#deps.storage.isIsolatable(error)) {
      // Planned on speculation, so run again under the lock, each append alone: only then is a rejection its own.
      for (const pending of batch.pendings) pending.alone = true;
      requeued.unshift(...batch.pendings);
    } else {
      this.#rejectAll(batch.pendings, error);
    }
    this.#queue.unshift(...requeued);
  }

  /** A batch read, planned, sealed, signed and committed entirely under the head lock; it restarts speculation. */
  async #lockedBatch(): Promise<void> {
    const pendings = this.#take(new Map());
    try {
      const { settlements, head, introduces } = await this.#commitLocked(pendings.map((pending) => pending.append));
      if (introduces) this.#introducedSession = introduces;
      if (head) this.#speculation = { head, streams: new Map(), keys: new Map(), introducing: undefined };
      this.#settle(pendings, settlements);
    } catch (error) {
      if (pendings.length > 1 && this.#deps.storage.isIsolatable(error)) {
        for (const pending of pendings) pending.alone = true;
        this.#queue.unshift(...pendings);
        return;
      }
      this.#rejectAll(pendings, error);
    }
  }

  #commitLocked(appends: readonly ValidatedAppend[]): Promise<{ settlements: Settlement[]; head: ChainHead | undefined; introduces: string | undefined }> {
    const { storage, signer, inline } = this.#deps;
    const chain = this.#chain;
    return storage.transaction(async (tx) => {
      const head = await storage.lockHead(tx, chain);
      if (!head) {
        const error = new ChainError('UNKNOWN_CHAIN', `chain ${JSON.stringify(chain)} does not exist`, { chain });
        return { settlements: appends.map(() => ({ ok: false as const, error })), head: undefined, introduces: undefined };
      }
      const keys = appends.flatMap((append) => (append.idempotencyKey === undefined ? [] : [append.idempotencyKey]));
      const stored = keys.length > 0 ? await storage.idempotencyRecords(tx, chain, keys) : new Map<string, IdempotencyRecord>();
      const streams = await storage.streamStates(tx, [...new Set(appends.flatMap((append) => append.events.map((event) => event.stream)))]);
      const outcomes = planBatch(appends, stored, streams);
      const sealed = sealAndSign(signer, head, eventsToSeal(appends, outcomes), this.#nowMs(), this.#newId, [this.#introducedSession]);
      if (!sealed.signatures) return { settlements: settle(chain, outcomes, []), head, introduces: undefined };
      const records = attachSignatures(sealed.unsigned, await sealed.signatures);
      const settlements = settle(chain, outcomes, sealed.introduces ? records.slice(1) : records);
      const after = headAfter(head, sealed.unsigned);
      const inserted = await storage.insertBatch(tx, { chain, records, idempotency: idempotencyRows(chain, appends, outcomes, settlements), previousHead: head, head: after });
      if (!inserted) throw new Error(`assertion failed: the head of ${chain} moved under its lock`);
      if (inline) await inline(tx, records);
      return { settlements, head: after, introduces: sealed.introduces };
    });
  }
}

/** Writers for every chain of one store, created on first use. */
export class Appender<Tx> {
  readonly #deps: WriterDeps<Tx>;
  readonly #writers = new Map<string, ChainWriter<Tx>>();
  #closed = false;

  constructor(deps: WriterDeps<Tx>) {
    this.#deps = deps;
  }

  async append(chain: string, events: readonly AppendEventInput[], options: AppendOptions = {}): Promise<AppendResult> {
    const validated = validateAppend(chain, events, options);
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
      if (error instanceof CodedError && error.code === 'UNKNOWN_CHAIN' && writer.queuedEvents === 0) this.#writers.delete(validated.chain);
      throw error;
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#writers.values()].map((writer) => writer.close()));
  }
}
