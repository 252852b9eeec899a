/**
 * The appends waiting for one chain's writer (chain/writer.ts), the batches
 * taken from them, and their settlement. Every append's events count against
 * MAX_PENDING_EVENTS from the moment it is queued until it is settled.
 */
import type { ValidatedAppend } from './input.ts';
import { MAX_BATCH_DATA_BYTES, MAX_BATCH_EVENTS } from './limits.ts';
import type { AppendResult } from './store.ts';
import type { Context } from './tracing.ts';

export interface Pending {
  append: ValidatedAppend;
  resolve: (result: AppendResult) => void;
  reject: (error: unknown) => void;
  /** Set after a batch failed in a way one append may have caused: this append then commits on its own. */
  alone: boolean;
  /** The trace context the append was made in (its batch's span is a child of the first one's); undefined when tracing is off. */
  trace: Context | undefined;
}

export type Settlement = { ok: true; result: AppendResult } | { ok: false; error: unknown };

/** The streams a batch's appends touch, each once. */
export function batchStreams(appends: readonly ValidatedAppend[]): string[] {
  return [...new Set(appends.flatMap((append) => append.events.map((event) => event.stream)))];
}

/** The idempotency keys a batch's appends carry. */
export function batchKeys(appends: readonly ValidatedAppend[]): string[] {
  return appends.flatMap((append) => (append.idempotencyKey === undefined ? [] : [append.idempotencyKey]));
}

/**
 * Below this many queued events a speculative batch is not split in two
 * (speculativeBatchEvents): each half is then at least as large as the
 * smallest batch the local signer sends to its thread
 * (infra/adapters/signers/local.ts), so the second half is sealed while the
 * first is signed.
 */
const MIN_SPLIT_EVENTS = 8;

/**
 * How many events the next speculative batch takes (chain/writer.ts,
 * "Pipelining"), from the events queued and those in the batches sealed and
 * not yet committed. Batches of about equal size keep the pipeline full: the
 * main thread seals one while the signer signs the other and the database
 * commits. Taking whatever is queued instead locks into a pattern of one
 * large batch and a tiny one (63 and 1 at 64 in flight: a commit, a read and
 * a statement for one event, and the large batch sealed, signed and
 * committed one step after the other). So with nothing in flight half of a
 * large queue is taken, leaving the other half to the batch behind it; and
 * while a batch is in flight, a queue less than half its size waits for its
 * commit (0), to go into the next batch with the appends that commit
 * answers.
 */
export function speculativeBatchEvents(queuedEvents: number, inFlightEvents: number): number {
  if (inFlightEvents === 0) return queuedEvents < MIN_SPLIT_EVENTS ? queuedEvents : Math.ceil(queuedEvents / 2);
  return queuedEvents * 2 >= inFlightEvents ? queuedEvents : 0;
}

export class WriterQueue {
  #pendings: Pending[] = [];
  #events = 0;
  #queuedEvents = 0;

  /** Appends waiting to be taken into a batch. */
  get length(): number {
    return this.#pendings.length;
  }

  /** Events of appends not yet settled, whether queued or in a batch. */
  get events(): number {
    return this.#events;
  }

  /** Events of appends waiting to be taken into a batch. */
  get queuedEvents(): number {
    return this.#queuedEvents;
  }

  push(
    append: ValidatedAppend,
    resolve: Pending['resolve'],
    reject: Pending['reject'],
    trace: Context | undefined = undefined,
  ): void {
    this.#pendings.push({ append, resolve, reject, alone: false, trace });
    this.#events += append.events.length;
    this.#queuedEvents += append.events.length;
  }

  /** Puts appends taken into a batch back at the front of the queue, in their order. */
  requeue(pendings: readonly Pending[]): void {
    this.#pendings.unshift(...pendings);
    for (const pending of pendings) this.#queuedEvents += pending.append.events.length;
  }

  /**
   * The next batch from the front of the queue: at most MAX_BATCH_EVENTS
   * events (and `maxEvents`, unless its first append alone has more) and
   * MAX_BATCH_DATA_BYTES, an `alone` append by itself, and no append whose
   * idempotency key an uncommitted batch holds (it waits).
   */
  take(waiting: ReadonlyMap<string, number>, maxEvents = MAX_BATCH_EVENTS): Pending[] {
    const eventBound = Math.min(maxEvents, MAX_BATCH_EVENTS);
    const taken: Pending[] = [];
    const left: Pending[] = [];
    let events = 0;
    let bytes = 0;
    let index = 0;
    for (; index < this.#pendings.length; index++) {
      const pending = this.#pendings[index]!;
      const key = pending.append.idempotencyKey;
      if (key !== undefined && waiting.has(key)) {
        left.push(pending);
        continue;
      }
      const over =
        events + pending.append.events.length > eventBound || bytes + pending.append.dataBytes > MAX_BATCH_DATA_BYTES;
      if (taken.length > 0 && (pending.alone || over)) break;
      taken.push(pending);
      events += pending.append.events.length;
      bytes += pending.append.dataBytes;
      if (pending.alone) {
        index += 1;
        break;
      }
    }
    this.#pendings = left.concat(this.#pendings.slice(index));
    this.#queuedEvents -= events;
    return taken;
  }

  /** Resolves or rejects each append of a batch with its settlement, in order. */
  settle(pendings: readonly Pending[], settlements: readonly Settlement[]): void {
    pendings.forEach((pending, index) => {
      const settlement = settlements[index]!;
      this.#events -= pending.append.events.length;
      if (settlement.ok) pending.resolve(settlement.result);
      else pending.reject(settlement.error);
    });
  }

  rejectAll(pendings: readonly Pending[], error: unknown): void {
    this.settle(
      pendings,
      pendings.map(() => ({ ok: false, error })),
    );
  }
}
