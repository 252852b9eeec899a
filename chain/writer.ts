/**
 * The append path (DESIGN.md, "Chain writer rules"): one writer per chain per
 * process, group commit of concurrent appends into one transaction and one
 * signing round, the chain's head row locked for the whole transaction so any
 * number of processes keep the chain linear.
 *
 * The writer does no I/O itself: it drives a WriterStorage (infra/store) and a
 * Signer (infra/signers).
 */
import { v7 as uuidv7 } from 'uuid';
import { CodedError } from '../domain/errors.ts';
import { SIGNER_EVENT_TYPES } from './delegation.ts';
import { ChainError } from './errors.ts';
import { validateAppend, type AppendEventInput, type AppendOptions, type ValidatedAppend } from './input.ts';
import { MAX_BATCH_DATA_BYTES, MAX_BATCH_EVENTS, MAX_PENDING_EVENTS } from './limits.ts';
import { planBatch, type IdempotencyRecord, type PlanOutcome, type StreamState } from './plan.ts';
import type { ChainHead, RecordSignature, StoredRecord } from './record.ts';
import { attachSignatures, commitTime, sealBatch, type EventToSeal, type UnsignedRecord } from './seal.ts';
import type { SessionKey, Signer } from './signer.ts';
import type { AppendResult } from './store.ts';

export interface IdempotencyRow {
  key: string;
  requestHash: string;
  result: string;
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
  /** Locks the chain's head row until the transaction ends; undefined for an unknown chain. */
  lockHead(tx: Tx, chain: string): Promise<ChainHead | undefined>;
  /** Current version and chain of each stream that exists. */
  streamStates(tx: Tx, streams: readonly string[]): Promise<Map<string, StreamState>>;
  idempotencyRecords(tx: Tx, chain: string, keys: readonly string[]): Promise<Map<string, IdempotencyRecord>>;
  insertBatch(tx: Tx, batch: CommitBatch): Promise<void>;
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
}

type Settlement = { ok: true; result: AppendResult } | { ok: false; error: unknown };

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
 * registry signer and every other record by the session key.
 */
async function signSealed(signer: Signer, session: SessionKey | undefined, introduces: boolean, unsigned: readonly UnsignedRecord[]): Promise<RecordSignature[]> {
  if (!session) return signAll(signer, unsigned);
  const delegation = introduces ? await signAll(signer, unsigned.slice(0, 1)) : [];
  const rest = unsigned.slice(delegation.length);
  return [...delegation, ...(rest.length > 0 ? await signAll(session, rest) : [])];
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
  /** The session kid this writer has introduced in its chain with a committed signer.delegated record. */
  #introducedSession: string | undefined;

  constructor(chain: string, deps: WriterDeps<Tx>) {
    this.#chain = chain;
    this.#deps = deps;
    this.#nowMs = deps.nowMs ?? Date.now;
    this.#newId = deps.newId ?? uuidv7;
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
      this.#queue.push({ append, resolve, reject });
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
      while (this.#queue.length > 0) {
        const batch = this.#take();
        await this.#commitOrIsolate(batch);
        for (const pending of batch) this.#queuedEvents -= pending.append.events.length;
      }
    } finally {
      this.#draining = undefined;
    }
  }

  /** The next batch: at least one append, at most MAX_BATCH_EVENTS events and MAX_BATCH_DATA_BYTES. */
  #take(): Pending[] {
    let events = 0;
    let bytes = 0;
    let count = 0;
    for (const pending of this.#queue) {
      events += pending.append.events.length;
      bytes += pending.append.dataBytes;
      if (count > 0 && (events > MAX_BATCH_EVENTS || bytes > MAX_BATCH_DATA_BYTES)) break;
      count += 1;
    }
    return this.#queue.splice(0, count);
  }

  async #commitOrIsolate(batch: readonly Pending[]): Promise<void> {
    let settlements: Settlement[];
    try {
      settlements = await this.#commit(batch.map((pending) => pending.append));
    } catch (error) {
      if (batch.length > 1 && this.#deps.storage.isIsolatable(error)) {
        for (const pending of batch) await this.#commitOrIsolate([pending]);
        return;
      }
      for (const pending of batch) pending.reject(error);
      return;
    }
    batch.forEach((pending, index) => {
      const settlement = settlements[index]!;
      if (settlement.ok) pending.resolve(settlement.result);
      else pending.reject(settlement.error);
    });
  }

  async #commit(appends: readonly ValidatedAppend[]): Promise<Settlement[]> {
    const { storage, signer, inline } = this.#deps;
    const chain = this.#chain;
    /** The session this batch introduces (spec 4b); the writer knows it as introduced only once committed. */
    let introduced: string | undefined;
    const settlements = await storage.transaction(async (tx) => {
      const head = await storage.lockHead(tx, chain);
      if (!head) {
        const error = new ChainError('UNKNOWN_CHAIN', `chain ${JSON.stringify(chain)} does not exist`, { chain });
        return appends.map(() => ({ ok: false as const, error }));
      }
      const keys = appends.flatMap((append) => (append.idempotencyKey === undefined ? [] : [append.idempotencyKey]));
      const stored = keys.length > 0 ? await storage.idempotencyRecords(tx, chain, keys) : new Map<string, IdempotencyRecord>();
      const streamNames = [...new Set(appends.flatMap((append) => append.events.map((event) => event.stream)))];
      const streams: Map<string, StreamState> = await storage.streamStates(tx, streamNames);
      const outcomes = planBatch(appends, stored, streams);

      const toSeal: EventToSeal[] = [];
      outcomes.forEach((outcome, index) => {
        if (outcome.kind !== 'accepted') return;
        appends[index]!.events.forEach((event, eventIndex) => toSeal.push({ event, version: outcome.versions[eventIndex]! }));
      });
      if (toSeal.length === 0) return settle(chain, outcomes, []);

      const ts = commitTime(this.#nowMs(), head);
      const session = signer.session?.(Date.parse(ts));
      const introduces = session !== undefined && session.kid !== this.#introducedSession;
      const unsigned = sealBatch(head, introduces ? [delegationEvent(chain, session), ...toSeal] : toSeal, ts, this.#newId);
      const sealed = attachSignatures(unsigned, await signSealed(signer, session, introduces, unsigned));
      const records = introduces ? sealed.slice(1) : sealed;
      const settlements = settle(chain, outcomes, records);
      const idempotency: IdempotencyRow[] = [];
      outcomes.forEach((outcome, index) => {
        const { idempotencyKey, requestHash } = appends[index]!;
        const settlement = settlements[index]!;
        if (outcome.kind === 'accepted' && idempotencyKey !== undefined && settlement.ok) {
          idempotency.push({ key: idempotencyKey, requestHash: requestHash!, result: JSON.stringify({ chain, events: settlement.result.events }) });
        }
      });
      const last = sealed[sealed.length - 1]!.record;
      const newHead: ChainHead = { chain, seq: last.seq, hash: last.hash, ts: last.ts };
      await storage.insertBatch(tx, { chain, records: sealed, idempotency, previousHead: head, head: newHead });
      if (inline) await inline(tx, sealed);
      if (introduces) introduced = session.kid;
      return settlements;
    });
    if (introduced !== undefined) this.#introducedSession = introduced;
    return settlements;
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
