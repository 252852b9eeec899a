/**
 * What every command handler shares. A handler is a plain function
 * `(deps, input, context) → result`: it validates the input (zod, schemas
 * exported for the HTTP API's OpenAPI), loads the streams it needs, decides,
 * and appends every resulting event in one chain transaction with the
 * expected version of each stream and the command's idempotency key.
 *
 * With an idempotency key, the first result under the key is the answer
 * (commands/idempotency.ts says how the key, the request and the record
 * meet).
 */
import type { ArtifactStorage } from './blobStore.ts';
import type { ContentDeps } from './content/screenContent.ts';
import { z } from 'zod';
import { ChainError, isChainError } from '../chain/errors.ts';
import { sha256Hex } from '../chain/hash.ts';
import type { AppendEventInput } from '../chain/input.ts';
import type { ChainRecord, EventMeta } from '../chain/record.ts';
import type { SignedProof } from '../chain/proof.ts';
import type { Signer } from '../chain/signer.ts';
import type { AppendedEvent, EventStore } from '../chain/store.ts';
import { MAX_PAGE_RECORDS } from '../chain/limits.ts';
import type { Actor } from '../domain/actor.ts';
import type { Decider } from '../domain/decider.ts';
import { eventsOf, type DomainEvent } from '../domain/domainEvents.ts';
import { CodedError } from '../domain/errors.ts';
import type { JsonObject } from '../domain/json.ts';
import type { PayeeBalance } from '../domain/payouts/payoutPlan.ts';
import type { LedgerExpectation } from '../domain/reconciliation/lineClassifier.ts';
import type { DeliveryDeps } from './delivery/deliverOrder.ts';
import type { PayoutProvider } from './payouts/payoutProvider.ts';
import {
  firstAnswer,
  idempotencyOf,
  versionsOf,
  type CommandRequest,
  type CommandResponse,
  type Idempotency,
  type IdempotencyLookup,
} from './idempotency.ts';

/** Events of one stream a handler folds before deciding; a longer stream is a modelling error. */
export const MAX_STREAM_EVENTS = 10_000;
/** Times a handler re-reads and decides again after another command won a stream version race. */
export const MAX_CONFLICT_RETRIES = 3;

export interface CommandContext {
  /** The authenticated caller. */
  actor: Actor;
  /** The command's time, RFC 3339 UTC with milliseconds: decisions use it, event data does not. */
  now: string;
  /**
   * The caller's key as given (an Idempotency-Key header, a webhook's event
   * id…): a retry with the same key and request returns the first result and
   * appends nothing. Keys are the caller's own: scoped by `actor` here.
   */
  idempotencyKey?: string | undefined;
  /** A fresh id (UUID v7 in production) for entities the command creates. */
  newId: () => string;
  correlationId?: string | undefined;
  traceId?: string | undefined;
}

/** Where a time range falls in a chain (the event log's ts index). */
export interface ChainIndex {
  /** First and last seq whose commit time is within [fromTs, toTs] (a bound left out: unbounded); undefined when none is. */
  seqRange(
    chain: string,
    fromTs: string | undefined,
    toTs: string | undefined,
  ): Promise<{ fromSeq: number; toSeq: number } | undefined>;
}

/**
 * What handlers read from the ledger's balances (projections/payouts,
 * payoutQueries.ts), outside the append: a decision made on a balance that
 * moved since is still checked where balances are current, in the append
 * transaction (the must-not-go-negative rule).
 */
export interface LedgerReader {
  /** Normal-side balances of these accounts in one currency; 0 for an account never posted to. */
  balances(accounts: readonly string[], currency: string): Promise<Map<string, number>>;
  /** Each party and currency with a positive payable, in (party, currency) order after `after`, at most `limit`. */
  payees(filter: { currency?: string | undefined; after?: string | undefined; limit: number }): Promise<PayeeBalance[]>;
  /** Parties whose payouts open reconciliation discrepancies hold. */
  heldParties(): Promise<Set<string>>;
  /** What orders on payout hold put in each payable, by payableKey (domain/payouts/payoutPlan.ts). */
  heldOrderPayables(): Promise<Map<string, number>>;
  /** What the ledger expects a payment provider's report of the period to show, by type and reference. */
  providerExpectations(period: {
    fromTs: string;
    toTs: string;
    marginMs: number;
  }): Promise<Map<string, LedgerExpectation>>;
}

/** Where issued ledger proof documents are kept (infra/adapters/sql/proofDocuments.ts): the chain records a proof's hash, not its document. */
export interface ProofStore {
  /** Keeps the document; keeping the same proof again changes nothing. */
  save(proof: SignedProof): Promise<void>;
}

export interface CommandDeps {
  store: EventStore;
  chainIndex: ChainIndex;
  ledger: LedgerReader;
  proofs: ProofStore;
  /** Where a payout run sends its payouts (infra/adapters/payouts/), and the configured minimum (PAYOUT_MINIMUM_MINOR). */
  payouts: { provider: PayoutProvider; minimumMinor: number };
  /** The chain commands append to. */
  chain: string;
  idempotency: IdempotencyLookup;
  /** The kernel's signer: manifest approvals and ledger proofs are signed with it. */
  signer: Pick<Signer, 'kid' | 'algorithm' | 'signMessage'>;
  /** Where publishers' artifacts are stored (commands/manifests/uploadArtifact.ts). */
  artifacts: ArtifactStorage;
  /** Content inspection and the quarantine (commands/content/screenContent.ts): every submission is screened. */
  content: ContentDeps;
  /** Delivery to buyers (commands/delivery/deliverOrder.ts); absent where a process does not deliver. */
  delivery?: DeliveryDeps | undefined;
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
 * the command has an idempotency key, derived from the caller's key as given
 * and its actor, in one hash (so a retry names the same entity); else a fresh
 * one.
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

/**
 * Reads a stream in bounded pages and folds it; `onRecord` sees each event
 * with its record, for what the state does not keep (a record's seq, hash or
 * time).
 */
export async function loadStream<Command, Event extends DomainEvent, State>(
  store: EventStore,
  stream: string,
  decider: Decider<Command, Event, State>,
  types: readonly Event['type'][],
  onRecord?: (event: Event, record: ChainRecord) => void,
): Promise<LoadedStream<State>> {
  let state = decider.initialState;
  let version = 0;
  for (;;) {
    const page = await store.readStream(stream, { fromVersion: version + 1 });
    const records = page.map((stored) => stored.record);
    eventsOf<Event>(records, types).forEach((event, index) => {
      state = decider.evolve(state, event);
      onRecord?.(event, records[index]!);
    });
    version += page.length;
    // A short page is the end: no second read to find nothing.
    if (page.length < MAX_PAGE_RECORDS || version >= MAX_STREAM_EVENTS) break;
  }
  if (version >= MAX_STREAM_EVENTS)
    throw new CodedError('STREAM_TOO_LONG', `stream ${stream} has more than ${MAX_STREAM_EVENTS} events`, { stream });
  return { stream, version, state };
}

/** The client's expected version, when it sent one, must be the stream's: otherwise it decided on a stale read. */
export function checkExpectedVersion(loaded: LoadedStream<unknown>, expected: number | undefined): void {
  if (expected === undefined || expected === loaded.version) return;
  throw new ChainError(
    'STREAM_VERSION_CONFLICT',
    `stream ${loaded.stream} is at version ${loaded.version}, expected ${expected}`,
    {
      stream: loaded.stream,
      expectedVersion: expected,
      actualVersion: loaded.version,
    },
  );
}

/** Events a command appends to one stream, decided on the stream at `expectedVersion`. */
export interface StreamAppend {
  stream: string;
  expectedVersion: number;
  events: readonly DomainEvent[];
}

/** What a decision appends, and what the command answers besides (a signature id, a signed proof): kept with its idempotency key. */
export interface Decision<Answer extends object> {
  appends: StreamAppend[];
  answer: Answer;
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

/**
 * Appends one decision alone, outside `execute`: the record of a refused
 * submission (commands/content/screenContent.ts), which must be kept although
 * the command fails.
 */
export async function appendAlone(
  deps: CommandDeps,
  context: CommandContext,
  append: StreamAppend,
): Promise<AppendedEvent[]> {
  return (await deps.store.append(deps.chain, appendInputs([append], context))).events;
}

/** The version of each stream a decision leaves (each append is checked against its expected versions). */
function versionsAfter(appends: readonly StreamAppend[]): Record<string, number> {
  const versions: Record<string, number> = {};
  for (const { stream, expectedVersion, events } of appends) versions[stream] = expectedVersion + events.length;
  return versions;
}

function resultOf<Answer extends object>(
  chain: string,
  events: AppendedEvent[],
  versions: Record<string, number>,
  replayed: boolean,
  answer: Answer,
): CommandResult & Answer {
  return { chain, seqs: events.map((event) => event.seq), events, versions, replayed, ...answer };
}

/**
 * Decides and appends. `decide` loads what it needs and returns the appends
 * (with what the command answers besides, if anything); on its first attempt
 * it may assume that a stream it creates is new without reading it (the
 * expected version 0 guards that); it runs again (at most
 * MAX_CONFLICT_RETRIES times) when another command moved one of its streams
 * in between, unless the client pinned a version.
 *
 * With an idempotency key, the first result under the key is the answer: a
 * retry is answered from the key's record without deciding again, also when
 * the first request succeeded while this one was deciding (a rejection, or
 * nothing left to change) or appending (the chain replays it).
 */
export async function execute<Answer extends object = Record<never, never>>(
  deps: CommandDeps,
  context: CommandContext,
  request: CommandRequest,
  decide: (attempt: number) => Promise<StreamAppend[] | Decision<Answer>>,
  pinned = false,
): Promise<CommandResult & Partial<Answer>> {
  const idempotency = idempotencyOf(context.idempotencyKey, context.actor.id, request);
  const first = idempotency && (await firstResult<Answer>(deps, idempotency));
  if (first) return first;
  for (let attempt = 0; ; attempt++) {
    let decision: Decision<Answer>;
    try {
      const decided = await decide(attempt);
      decision = Array.isArray(decided) ? { appends: decided, answer: {} as Answer } : decided;
    } catch (error) {
      const earlier =
        idempotency && error instanceof CodedError && !(error instanceof ChainError)
          ? await firstResult<Answer>(deps, idempotency)
          : undefined;
      if (earlier) return earlier;
      throw error;
    }
    const { appends, answer } = decision;
    const versions = versionsAfter(appends);
    const events = appendInputs(appends, context);
    if (events.length === 0)
      return (
        (idempotency && (await firstResult<Answer>(deps, idempotency))) ??
        resultOf(deps.chain, [], versions, false, answer)
      );
    try {
      const response: CommandResponse = { versions, ...answer };
      const appended = await deps.store.append(
        deps.chain,
        events,
        idempotency && { idempotencyKey: idempotency.key, requestHash: idempotency.requestHash, response },
      );
      if (!appended.replayed) return resultOf(deps.chain, appended.events, versions, false, answer);
      return (
        (await firstResult<Answer>(deps, idempotency!)) ??
        resultOf(deps.chain, appended.events, versionsOf(appended.events), true, {} as Partial<Answer>)
      );
    } catch (error) {
      if (pinned || attempt >= MAX_CONFLICT_RETRIES || !isChainError(error, 'STREAM_VERSION_CONFLICT')) throw error;
    }
  }
}

/**
 * The first result under the command's key, read from the key's record
 * (commands/idempotency.ts), as it was first answered but `replayed`.
 */
/**
 * The first result of a request under the context's idempotency key, when
 * one was recorded: for handlers with side effects before their append (a
 * delivery encrypts first), so that a retry does none of them again.
 */
export async function answeredBefore<Answer extends object>(
  deps: CommandDeps,
  context: CommandContext,
  request: CommandRequest,
): Promise<(CommandResult & Partial<Answer>) | undefined> {
  const idempotency = idempotencyOf(context.idempotencyKey, context.actor.id, request);
  return idempotency && firstResult<Answer>(deps, idempotency);
}

async function firstResult<Answer extends object>(
  deps: CommandDeps,
  idempotency: Idempotency,
): Promise<(CommandResult & Partial<Answer>) | undefined> {
  const first = await firstAnswer<Answer>(deps.idempotency, deps.chain, idempotency);
  return first && resultOf(first.chain, first.events, first.versions, true, first.answer);
}
