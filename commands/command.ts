/**
 * What every command handler shares. A handler is a plain function
 * `(deps, input, context) → result`: it validates the input (zod, schemas
 * exported for the HTTP API's OpenAPI), loads the streams it needs, decides,
 * and appends every resulting event in one chain transaction with the
 * expected version of each stream and the command's idempotency key.
 */
import { z } from 'zod';
import { ChainError, isChainError } from '../chain/errors.ts';
import { sha256Hex } from '../chain/hash.ts';
import type { AppendEventInput } from '../chain/input.ts';
import type { EventMeta } from '../chain/record.ts';
import type { Signer } from '../chain/signer.ts';
import type { AppendedEvent, AppendResult, EventStore } from '../chain/store.ts';
import { MAX_PAGE_RECORDS } from '../chain/limits.ts';
import type { Actor } from '../domain/actor.ts';
import type { Decider } from '../domain/decider.ts';
import { eventsOf, type DomainEvent } from '../domain/domainEvents.ts';
import { CodedError } from '../domain/errors.ts';
import type { JsonObject } from '../domain/json.ts';

/** Events of one stream a handler folds before deciding; a longer stream is a modelling error. */
export const MAX_STREAM_EVENTS = 10_000;
/** Times a handler re-reads and decides again after another command won a stream version race. */
export const MAX_CONFLICT_RETRIES = 3;

export interface CommandContext {
  /** The authenticated caller. */
  actor: Actor;
  /** The command's time, RFC 3339 UTC with milliseconds: decisions use it, event data does not. */
  now: string;
  /** The client's key: a retried command returns the first result and appends nothing. */
  idempotencyKey?: string | undefined;
  /** A fresh id (UUID v7 in production) for entities the command creates. */
  newId: () => string;
  correlationId?: string | undefined;
  traceId?: string | undefined;
}

/** Finds what an idempotency key already produced (the event log's idempotency records). */
export interface IdempotencyLookup {
  find(chain: string, key: string): Promise<AppendResult | undefined>;
}

/** Where a time range falls in a chain (the event log's ts index). */
export interface ChainIndex {
  /** First and last seq whose commit time is within [fromTs, toTs]; undefined when none is. */
  seqRange(chain: string, fromTs: string, toTs: string): Promise<{ fromSeq: number; toSeq: number } | undefined>;
}

export interface CommandDeps {
  store: EventStore;
  chainIndex: ChainIndex;
  /** The chain commands append to. */
  chain: string;
  idempotency: IdempotencyLookup;
  /** The kernel's signer: manifest approvals and ledger proofs are signed with it. */
  signer: Pick<Signer, 'kid' | 'algorithm' | 'signMessage'>;
}

export interface CommandResult {
  chain: string;
  /** Seqs of the appended records, in order; empty when the command changed nothing. */
  seqs: number[];
  events: AppendedEvent[];
  /** Version of each stream the command decided on, after it. */
  versions: Record<string, number>;
  /** True when an earlier command with the same idempotency key is returned instead. */
  replayed: boolean;
}

export const expectedVersionSchema = z.number().int().nonnegative().optional();

/** Parses command input; INVALID_INPUT names every field that does not fit. */
export function parseInput<Schema extends z.ZodType>(schema: Schema, input: unknown): z.infer<Schema> {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || 'input'}: ${issue.message}`);
  throw new CodedError('INVALID_INPUT', `invalid input: ${problems.join('; ')}`, { problems });
}

/**
 * The id of an entity a command creates: the client's when given; else, when
 * the command has an idempotency key, derived from it (so a retry names the
 * same entity and is recognised as the same request); else a fresh one.
 */
export function entityId(context: CommandContext, given: string | undefined, purpose: string): string {
  if (given !== undefined) return given;
  if (context.idempotencyKey === undefined) return context.newId();
  const hex = sha256Hex(`${purpose}\n${context.actor.id}\n${context.idempotencyKey}`);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${((Number.parseInt(hex.slice(16, 18), 16) & 0x3f) | 0x80).toString(16)}${hex.slice(18, 20)}-${hex.slice(20, 32)}`;
}

export interface LoadedStream<State> {
  stream: string;
  /** 0 when the stream does not exist. */
  version: number;
  state: State;
}

/** Reads a stream in bounded pages and folds it. */
export async function loadStream<Command, Event extends DomainEvent, State>(
  store: EventStore,
  stream: string,
  decider: Decider<Command, Event, State>,
  types: readonly Event['type'][],
): Promise<LoadedStream<State>> {
  let state = decider.initialState;
  let version = 0;
  for (;;) {
    const page = await store.readStream(stream, { fromVersion: version + 1 });
    for (const event of eventsOf<Event>(page.map((stored) => stored.record), types)) state = decider.evolve(state, event);
    version += page.length;
    // A short page is the end: no second read to find nothing.
    if (page.length < MAX_PAGE_RECORDS || version >= MAX_STREAM_EVENTS) break;
  }
  if (version >= MAX_STREAM_EVENTS) throw new CodedError('STREAM_TOO_LONG', `stream ${stream} has more than ${MAX_STREAM_EVENTS} events`, { stream });
  return { stream, version, state };
}

/** The client's expected version, when it sent one, must be the stream's: otherwise it decided on a stale read. */
export function checkExpectedVersion(loaded: LoadedStream<unknown>, expected: number | undefined): void {
  if (expected === undefined || expected === loaded.version) return;
  throw new ChainError('STREAM_VERSION_CONFLICT', `stream ${loaded.stream} is at version ${loaded.version}, expected ${expected}`, {
    stream: loaded.stream,
    expectedVersion: expected,
    actualVersion: loaded.version,
  });
}

/** Events a command appends to one stream, decided on the stream at `expectedVersion`. */
export interface StreamAppend {
  stream: string;
  expectedVersion: number;
  events: readonly DomainEvent[];
}

function metaOf(context: CommandContext): EventMeta {
  const meta: EventMeta = {};
  if (context.correlationId !== undefined) meta.correlationId = context.correlationId;
  if (context.traceId !== undefined) meta.traceId = context.traceId;
  return meta;
}

function appendInputs(appends: readonly StreamAppend[], context: CommandContext): AppendEventInput[] {
  return appends.flatMap(({ stream, expectedVersion, events }) =>
    events.map((event, index) => ({
      stream,
      type: event.type,
      data: event.data as unknown as JsonObject,
      actor: { id: context.actor.id, role: context.actor.role },
      expectedVersion: expectedVersion + index,
      meta: metaOf(context),
    })),
  );
}

function resultOf(chain: string, appended: AppendResult | undefined, appends: readonly StreamAppend[]): CommandResult {
  const versions: Record<string, number> = {};
  for (const { stream, expectedVersion, events } of appends) versions[stream] = expectedVersion + events.length;
  for (const event of appended?.events ?? []) versions[event.stream] = Math.max(versions[event.stream] ?? 0, event.version);
  const events = appended?.events ?? [];
  return { chain, seqs: events.map((event) => event.seq), events, versions, replayed: appended?.replayed ?? false };
}

/**
 * Decides and appends. `decide` loads what it needs and returns the appends;
 * on its first attempt it may assume that a stream it creates is new without
 * reading it (the expected version 0 guards that); it runs again (at most MAX_CONFLICT_RETRIES times) when another command
 * moved one of its streams in between, unless the client pinned a version.
 * A rejected retry of a command that already succeeded under the same
 * idempotency key returns that first result.
 */
export async function execute(
  deps: CommandDeps,
  context: CommandContext,
  decide: (attempt: number) => Promise<StreamAppend[]>,
  pinned = false,
): Promise<CommandResult> {
  for (let attempt = 0; ; attempt++) {
    let appends: StreamAppend[];
    try {
      appends = await decide(attempt);
    } catch (error) {
      const first = await earlierResult(deps, context, error);
      if (first) return first;
      throw error;
    }
    const events = appendInputs(appends, context);
    if (events.length === 0) return resultOf(deps.chain, undefined, appends);
    try {
      const appended = await deps.store.append(deps.chain, events, { idempotencyKey: context.idempotencyKey });
      return resultOf(deps.chain, appended, appends);
    } catch (error) {
      if (pinned || attempt >= MAX_CONFLICT_RETRIES || !isChainError(error, 'STREAM_VERSION_CONFLICT')) throw error;
    }
  }
}

/**
 * The first result under the command's idempotency key, when the same actor
 * appended it: keys are per chain, and another caller's key must never
 * answer with that caller's result.
 */
async function earlierResult(deps: CommandDeps, context: CommandContext, error: unknown): Promise<CommandResult | undefined> {
  if (context.idempotencyKey === undefined || !(error instanceof CodedError) || error instanceof ChainError) return undefined;
  const first = await deps.idempotency.find(deps.chain, context.idempotencyKey);
  const seq = first?.events[0]?.seq;
  if (!first || seq === undefined) return undefined;
  const [stored] = await deps.store.readChain(deps.chain, { fromSeq: seq, toSeq: seq });
  if (stored?.record.actor.id !== context.actor.id) return undefined;
  return resultOf(deps.chain, { ...first, replayed: true }, []);
}
