/**
 * Idempotency of commands, for every caller (HTTP, CLI, library) alike: the
 * caller's key is scoped by its actor (chainKeyOf) and goes to the chain with
 * the request's identity (requestHashOf: its operation and input) and what
 * the command answers; the chain keeps the three in one record
 * (idempotency_keys), and one comparison, chain/plan.ts `reusedKey`, refuses
 * a key reused for another request, whether the planner or a lookup here
 * finds the record.
 */
import { jcs } from '../chain/canonical.ts';
import { sha256Hex } from '../chain/hash.ts';
import { MAX_LABEL_LENGTH } from '../chain/limits.ts';
import { reusedKey } from '../chain/plan.ts';
import type { AppendedEvent } from '../chain/store.ts';
import { CodedError } from '../domain/errors.ts';
import type { JsonValue } from '../domain/json.ts';

/** What a command was asked: its operation (the handler's name, the HTTP API's operationId) and its input as given. */
export interface CommandRequest {
  operation: string;
  input: unknown;
}

/** A key's record in the event log (idempotency_keys): the request it was first used for and what it answered. */
export interface IdempotencyEntry {
  requestHash: string;
  /** What the chain appended under the key. */
  result: { chain: string; events: AppendedEvent[] };
  /** What the command answered besides (CommandResponse); undefined for an append that gave none. */
  response: object | undefined;
}

/** Finds a key's record (the event log's idempotency records). */
export interface IdempotencyLookup {
  find(chain: string, key: string): Promise<IdempotencyEntry | undefined>;
}

/** What a command's idempotency record keeps besides the chain's result: the rest of the first result. */
export interface CommandResponse {
  versions: Record<string, number>;
}

/** The chain's key and the request's identity of a command with an idempotency key. */
export interface Idempotency {
  key: string;
  requestHash: string;
}

/**
 * The chain's idempotency key for a caller's key: per caller (two callers may
 * pick the same key), of fixed length; records carry it in
 * `meta.idempotencyKey`. The `http-` prefix dates from when only the HTTP API
 * scoped keys; records written since carry it, so it stays, for every caller.
 */
export function chainKeyOf(actorId: string, key: string): string {
  return `http-${sha256Hex(`${actorId}\n${key}`)}`;
}

/** The identity a retry under the same key must have: the operation and its whole input, canonical (JCS). */
export function requestHashOf(request: CommandRequest): string {
  return sha256Hex(jcs({ operation: request.operation, input: request.input as JsonValue }));
}

/** The chain's key and the request's identity of a command; undefined without a key. */
export function idempotencyOf(
  key: string | undefined,
  actorId: string,
  request: CommandRequest,
): Idempotency | undefined {
  if (key === undefined) return undefined;
  if (key.length === 0 || key.length > MAX_LABEL_LENGTH || !key.isWellFormed()) {
    throw new CodedError('INVALID_INPUT', `the idempotency key must be 1 to ${MAX_LABEL_LENGTH} characters`, {
      problems: [`idempotencyKey: 1 to ${MAX_LABEL_LENGTH} characters`],
    });
  }
  return { key: chainKeyOf(actorId, key), requestHash: requestHashOf(request) };
}

export function versionsOf(events: readonly AppendedEvent[]): Record<string, number> {
  const versions: Record<string, number> = {};
  for (const event of events) versions[event.stream] = Math.max(versions[event.stream] ?? 0, event.version);
  return versions;
}

/** What a key's record answers: the first result's chain, events, versions and the command's answer besides. */
export interface FirstAnswer<Answer extends object> {
  chain: string;
  events: AppendedEvent[];
  versions: Record<string, number>;
  answer: Partial<Answer>;
}

/**
 * The first answer under a command's key; undefined when the key is unused.
 * IDEMPOTENCY_KEY_REUSED when it was used for another request: the planner's
 * own comparison (chain/plan.ts). The key is scoped by the actor, so another
 * caller's record is never found.
 */
export async function firstAnswer<Answer extends object>(
  lookup: IdempotencyLookup,
  chain: string,
  idempotency: Idempotency,
): Promise<FirstAnswer<Answer> | undefined> {
  const entry = await lookup.find(chain, idempotency.key);
  if (!entry) return undefined;
  const reused = reusedKey(idempotency.key, idempotency.requestHash, entry);
  if (reused) throw reused;
  const { events } = entry.result;
  const { versions, ...answer } = (entry.response ?? { versions: versionsOf(events) }) as CommandResponse &
    Partial<Answer>;
  return { chain: entry.result.chain, events, versions, answer: answer as Partial<Answer> };
}
