/**
 * Subscriptions to a chain: every record from a seq on, in seq order, the
 * ones already there first and then each one as it is appended, for as long
 * as the subscriber reads (docs/DESIGN.md, "The audit stream").
 *
 * A record becomes visible only with every record before it (the chain's
 * head row is locked by each append until it commits, so seqs commit in
 * order): reading `seq > position` in order never skips one. The subscriber
 * does not take that on trust. Each record must carry the next seq and, as
 * its prevHash, the hash of the record before it; a record that does not is
 * never delivered past. A gap is waited out briefly (a read racing a commit
 * on a replica), then reported as STREAM_DISCONTINUITY with its seq; a link
 * that does not match is reported at once.
 *
 * Pull-based: a page is read only when the one before has been taken, so a
 * slow subscriber holds one page (at most `pageRecords` records), never a
 * backlog. Woken by AppendWakeups (LISTEN/NOTIFY where the database offers
 * it) and, whatever happens to those, by a poll every `pollMs`.
 */
import { CodedError } from '../domain/errors.ts';
import { MAX_PAGE_RECORDS } from './limits.ts';
import { ZERO_HASH, type StoredRecord } from './record.ts';
import type { EventStore } from './store.ts';

/**
 * Where a subscription waits for appends (infra/adapters/sql/appendWakeups.ts).
 * A generation per chain counts the appends announced: a subscriber takes it
 * before it reads, and waits "until it moves", so that an append announced
 * between its read and its wait is not missed.
 */
export interface AppendWakeups {
  generation(chain: string): number;
  /** Resolves once `chain`'s generation is not `seen`, after `timeoutMs` at the latest, or at once when `signal` aborts. */
  wait(chain: string, seen: number, timeoutMs: number, signal?: AbortSignal): Promise<void>;
}

/** What a subscription reads of the store: an EventStore, or a reader without a writer (sqlChainReader). */
export type ChainReader = Pick<EventStore, 'head' | 'readChain'>;

export interface FollowOptions {
  /** The first seq delivered (≥ 1). */
  fromSeq: number;
  /** Ends the subscription: the generator returns. */
  signal?: AbortSignal | undefined;
  /** Records read at once; default 200, at most MAX_PAGE_RECORDS. */
  pageRecords?: number | undefined;
  /** The longest wait without a wakeup before reading again; default 1000 ms. */
  pollMs?: number | undefined;
  /** How long a gap in the seqs is waited out before it is reported; default 5000 ms. */
  gapToleranceMs?: number | undefined;
}

export const DEFAULT_SUBSCRIPTION_PAGE_RECORDS = 200;
export const DEFAULT_SUBSCRIPTION_POLL_MS = 1000;
export const DEFAULT_GAP_TOLERANCE_MS = 5000;

/** What a consumer checks of each record it is given: the next seq, linked to the one before. */
export class ChainContinuity {
  #nextSeq: number;
  #prevHash: string | undefined;

  /** `prevHash`: the hash of record `fromSeq - 1` (ZERO_HASH for seq 1); undefined to take the first record's word for it. */
  constructor(
    readonly chain: string,
    fromSeq: number,
    prevHash: string | undefined,
  ) {
    this.#nextSeq = fromSeq;
    this.#prevHash = fromSeq === 1 ? ZERO_HASH : prevHash;
  }

  get nextSeq(): number {
    return this.#nextSeq;
  }

  /** The hash of the last record accepted (or the anchor); undefined before the first when there was none. */
  get lastHash(): string | undefined {
    return this.#prevHash;
  }

  /** Why `record` cannot be the next one, or undefined (and then it is taken as the next one). */
  problem(record: StoredRecord['record']): string | undefined {
    if (record.chain !== this.chain) return `a record of chain ${record.chain} in a stream of ${this.chain}`;
    if (record.seq !== this.#nextSeq) return `seq ${record.seq} where ${this.#nextSeq} was next`;
    if (this.#prevHash !== undefined && record.prevHash !== this.#prevHash)
      return `seq ${record.seq} links to ${record.prevHash}, but seq ${record.seq - 1} is ${this.#prevHash}`;
    this.#nextSeq += 1;
    this.#prevHash = record.hash;
    return undefined;
  }
}

function discontinuity(chain: string, seq: number, reason: string): CodedError {
  return new CodedError('STREAM_DISCONTINUITY', `chain ${chain} at seq ${seq}: ${reason}`, { chain, seq, reason });
}

async function anchorOf(store: ChainReader, chain: string, fromSeq: number): Promise<string | undefined> {
  if (fromSeq <= 1) return ZERO_HASH;
  const [before] = await store.readChain(chain, { fromSeq: fromSeq - 1, toSeq: fromSeq - 1, limit: 1 });
  return before?.record.hash;
}

/**
 * The chain from `fromSeq` on, a page at a time: each page the records that
 * follow the last one given, checked; an empty page each time a wait ended
 * with nothing new (a caller may send a keep-alive then). Ends when the
 * signal aborts; throws STREAM_DISCONTINUITY, UNKNOWN_CHAIN or a read error.
 */
export async function* followChain(
  store: ChainReader,
  wakeups: AppendWakeups,
  chain: string,
  options: FollowOptions,
): AsyncGenerator<readonly StoredRecord[], void, undefined> {
  const pageRecords = Math.min(options.pageRecords ?? DEFAULT_SUBSCRIPTION_PAGE_RECORDS, MAX_PAGE_RECORDS);
  const pollMs = options.pollMs ?? DEFAULT_SUBSCRIPTION_POLL_MS;
  const gapToleranceMs = options.gapToleranceMs ?? DEFAULT_GAP_TOLERANCE_MS;
  const { signal } = options;
  await store.head(chain); // UNKNOWN_CHAIN before anything is given
  // The record before fromSeq anchors the first link; a subscriber ahead of the head waits for it.
  let anchor = await anchorOf(store, chain, options.fromSeq);
  while (anchor === undefined) {
    await wakeups.wait(chain, wakeups.generation(chain), pollMs, signal);
    if (signal?.aborted) return;
    yield [];
    anchor = await anchorOf(store, chain, options.fromSeq);
  }
  const continuity = new ChainContinuity(chain, options.fromSeq, anchor);
  let gapSinceMs: number | undefined;
  while (!signal?.aborted) {
    const seen = wakeups.generation(chain);
    const page = await store.readChain(chain, { fromSeq: continuity.nextSeq, limit: pageRecords });
    const taken: StoredRecord[] = [];
    let gap: string | undefined;
    let broken: CodedError | undefined;
    for (const stored of page) {
      const problem = continuity.problem(stored.record);
      if (problem === undefined) {
        taken.push(stored);
        continue;
      }
      // A later seq than the next: not visible yet, or missing; anything else is a broken chain.
      if (stored.record.seq > continuity.nextSeq) gap = problem;
      else broken = discontinuity(chain, stored.record.seq, problem);
      break;
    }
    if (broken !== undefined) {
      // What came before the break is good: given, then the stream ends on it.
      if (taken.length > 0) yield taken;
      throw broken;
    }
    if (gap !== undefined && taken.length === 0) {
      gapSinceMs ??= Date.now();
      if (Date.now() - gapSinceMs > gapToleranceMs) throw discontinuity(chain, continuity.nextSeq, gap);
    } else gapSinceMs = undefined;
    if (taken.length > 0) {
      yield taken;
      if (taken.length === pageRecords) continue; // more is there: read on without waiting
    }
    await wakeups.wait(chain, seen, gap === undefined ? pollMs : Math.min(pollMs, 100), signal);
    if (taken.length === 0 && !signal?.aborted) yield [];
  }
}

/** The records of `chain` from `fromSeq` on, one by one, as followChain gives them: the library's subscription. */
export async function* subscribeChain(
  store: ChainReader,
  wakeups: AppendWakeups,
  chain: string,
  options: FollowOptions,
): AsyncGenerator<StoredRecord, void, undefined> {
  for await (const page of followChain(store, wakeups, chain, options)) yield* page;
}
