/**
 * Deciding which appends of a group-commit batch go in: idempotency first,
 * then expected versions, in queue order, each append all-or-nothing.
 * Pure: the writer passes what it read under the chain's head lock.
 */
import { ChainError } from './errors.ts';
import type { ValidatedAppend } from './input.ts';

export interface StreamState {
  chain: string;
  version: number;
}

export interface IdempotencyRecord {
  requestHash: string;
  /** The AppendResult of the first append, as JSON. */
  result: string;
}

export type PlanOutcome =
  | { kind: 'accepted'; versions: number[] }
  | { kind: 'rejected'; error: ChainError }
  | { kind: 'replayed'; result: string }
  /** Same key and body as an earlier append in this batch: gets its result. */
  | { kind: 'duplicate'; of: number };

/**
 * Whether a request may have what its idempotency key already answered: an
 * IDEMPOTENCY_KEY_REUSED error when the key was first used for another
 * request. The one comparison of a request with a key's record: the planner
 * below asks it for every append with a key, and the command layer for a
 * retry it answers from the record without appending (commands/command.ts).
 */
export function reusedKey(
  key: string,
  requestHash: string | undefined,
  first: { requestHash: string },
): ChainError | undefined {
  if (first.requestHash === requestHash) return undefined;
  return new ChainError(
    'IDEMPOTENCY_KEY_REUSED',
    `idempotency key ${JSON.stringify(key)} was used for a different request`,
    {
      idempotencyKey: key,
    },
  );
}

function checkIdempotency(
  append: ValidatedAppend,
  stored: ReadonlyMap<string, IdempotencyRecord>,
  inBatch: Map<string, { index: number; requestHash: string }>,
): PlanOutcome | undefined {
  const key = append.idempotencyKey;
  if (key === undefined) return undefined;
  const previous = stored.get(key);
  if (previous) {
    const error = reusedKey(key, append.requestHash, previous);
    return error ? { kind: 'rejected', error } : { kind: 'replayed', result: previous.result };
  }
  const earlier = inBatch.get(key);
  if (earlier) {
    const error = reusedKey(key, append.requestHash, earlier);
    return error ? { kind: 'rejected', error } : { kind: 'duplicate', of: earlier.index };
  }
  return undefined;
}

/** Versions for each event of one append, or the conflict that rejects it. */
function assignVersions(append: ValidatedAppend, versions: Map<string, StreamState>): PlanOutcome {
  const tentative = new Map<string, number>();
  const assigned: number[] = [];
  for (const [index, event] of append.events.entries()) {
    const state = versions.get(event.stream);
    if (state && state.chain !== append.chain) {
      return {
        kind: 'rejected',
        error: new ChainError('STREAM_IN_OTHER_CHAIN', `stream ${event.stream} belongs to chain ${state.chain}`, {
          index,
          stream: event.stream,
          chain: state.chain,
        }),
      };
    }
    const current = tentative.get(event.stream) ?? state?.version ?? 0;
    if (event.expectedVersion !== undefined && event.expectedVersion !== current) {
      return {
        kind: 'rejected',
        error: new ChainError(
          'STREAM_VERSION_CONFLICT',
          `stream ${event.stream} is at version ${current}, expected ${event.expectedVersion}`,
          { index, stream: event.stream, expectedVersion: event.expectedVersion, actualVersion: current },
        ),
      };
    }
    tentative.set(event.stream, current + 1);
    assigned.push(current + 1);
  }
  for (const [stream, version] of tentative) versions.set(stream, { chain: append.chain, version });
  return { kind: 'accepted', versions: assigned };
}

/**
 * One outcome per append, in order. `streams` holds the committed state of
 * every stream the batch touches and is advanced as appends are accepted.
 */
export function planBatch(
  appends: readonly ValidatedAppend[],
  stored: ReadonlyMap<string, IdempotencyRecord>,
  streams: Map<string, StreamState>,
): PlanOutcome[] {
  const inBatch = new Map<string, { index: number; requestHash: string }>();
  return appends.map((append, index) => {
    const idempotent = checkIdempotency(append, stored, inBatch);
    if (idempotent) return idempotent;
    const outcome = assignVersions(append, streams);
    if (outcome.kind === 'accepted' && append.idempotencyKey !== undefined) {
      inBatch.set(append.idempotencyKey, { index, requestHash: append.requestHash! });
    }
    return outcome;
  });
}
