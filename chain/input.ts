/**
 * Validation of what callers ask the writer to append. Everything here runs
 * before an append is queued: bad input never reaches a transaction.
 */
import type { JsonObject, JsonValue } from '../domain/json.ts';
import { jcs } from './canonical.ts';
import { ChainError } from './errors.ts';
import { sha256Hex } from './hash.ts';
import { MAX_DATA_DEPTH, MAX_EVENT_DATA_BYTES, MAX_EVENTS_PER_APPEND, MAX_LABEL_LENGTH } from './limits.ts';
import {
  CHAIN_NAME_PATTERN,
  EVENT_TYPE_PATTERN,
  META_KEYS,
  STREAM_PATTERN,
  type Actor,
  type EventMeta,
  type MetaKey,
} from './record.ts';

export interface AppendEventInput {
  stream: string;
  type: string;
  data: JsonObject;
  actor: Actor;
  /** The stream's version before this event; 0 for a new stream; absent for no check. */
  expectedVersion?: number | undefined;
  meta?: EventMeta | undefined;
}

export interface AppendOptions {
  idempotencyKey?: string | undefined;
  /**
   * With a key: the request's identity, 64 hex digits, when the caller has one
   * of its own (a command: its operation and input); by default the hash of
   * what is appended. A repeated key must come with the same identity.
   */
  requestHash?: string | undefined;
  /** With a key: what the caller answers besides the appended events (JSON), kept with the key for a retry to read back. */
  response?: object | undefined;
}

export interface ValidatedEvent {
  stream: string;
  type: string;
  data: JsonObject;
  dataJcs: string;
  actor: Actor;
  meta: EventMeta;
  metaJcs: string;
  expectedVersion: number | undefined;
  dataBytes: number;
}

export interface ValidatedAppend {
  chain: string;
  events: ValidatedEvent[];
  idempotencyKey: string | undefined;
  /** The request's identity: the caller's, else SHA-256 of the request without meta; compared when a key is reused. */
  requestHash: string | undefined;
  /** The caller's response as JSON text, stored with the key. */
  response: string | undefined;
  dataBytes: number;
}

const REQUEST_HASH_PATTERN = /^[0-9a-f]{64}$/;

function invalid(message: string, details: Record<string, unknown>): ChainError {
  return new ChainError('INVALID_EVENT', message, details);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const prototype = Object.getPrototypeOf(value) as unknown;
  return prototype === Object.prototype || prototype === null;
}

/** Why a value cannot be recorded, with its JSON path; undefined when it can. */
export function dataProblem(value: unknown, path: string, depth: number): string | undefined {
  if (value === null || typeof value === 'boolean') return undefined;
  if (typeof value === 'number') {
    if (Number.isSafeInteger(value)) return undefined;
    return `${path}: ${value} is not an integer within ±(2^53 − 1); money is an integer count of minor units`;
  }
  if (typeof value === 'string') return value.isWellFormed() ? undefined : `${path}: string has a lone surrogate`;
  if (depth >= MAX_DATA_DEPTH) return `${path}: nested deeper than ${MAX_DATA_DEPTH}`;
  if (Array.isArray(value)) {
    for (let index = 0; index < value.length; index++) {
      const problem = dataProblem(value[index], `${path}[${index}]`, depth + 1);
      if (problem) return problem;
    }
    return undefined;
  }
  if (isPlainObject(value)) {
    for (const key of Object.keys(value)) {
      if (!key.isWellFormed()) return `${path}: a key has a lone surrogate`;
      const problem = dataProblem(value[key], `${path}.${key}`, depth + 1);
      if (problem) return problem;
    }
    return undefined;
  }
  return `${path}: ${typeof value} is not a JSON value`;
}

function checkLabel(value: unknown, field: string, index: number): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_LABEL_LENGTH || !value.isWellFormed()) {
    throw invalid(`events[${index}].${field} must be a non-empty string of at most ${MAX_LABEL_LENGTH} characters`, {
      index,
      field,
    });
  }
  return value;
}

function validateActor(actor: unknown, index: number): Actor {
  if (!isPlainObject(actor))
    throw invalid(`events[${index}].actor must be an object {id, role}`, { index, field: 'actor' });
  const extra = Object.keys(actor).filter((key) => key !== 'id' && key !== 'role');
  if (extra.length > 0)
    throw invalid(`events[${index}].actor has unknown members: ${extra.join(', ')}`, { index, field: 'actor' });
  return { id: checkLabel(actor['id'], 'actor.id', index), role: checkLabel(actor['role'], 'actor.role', index) };
}

function validateMeta(meta: unknown, index: number, idempotencyKey: string | undefined): EventMeta {
  if (meta !== undefined && !isPlainObject(meta))
    throw invalid(`events[${index}].meta must be an object`, { index, field: 'meta' });
  const result: EventMeta = {};
  for (const [key, value] of Object.entries(meta ?? {})) {
    if (!(META_KEYS as readonly string[]).includes(key)) {
      throw invalid(`events[${index}].meta.${key} is not one of ${META_KEYS.join(', ')}`, {
        index,
        field: `meta.${key}`,
      });
    }
    result[key as MetaKey] = checkLabel(value, `meta.${key}`, index);
  }
  if (idempotencyKey !== undefined) {
    if (result.idempotencyKey !== undefined && result.idempotencyKey !== idempotencyKey) {
      throw invalid(`events[${index}].meta.idempotencyKey differs from the append's idempotency key`, {
        index,
        field: 'meta',
      });
    }
    result.idempotencyKey = idempotencyKey;
  }
  return result;
}

function validateEvent(input: unknown, index: number, idempotencyKey: string | undefined): ValidatedEvent {
  if (!isPlainObject(input)) throw invalid(`events[${index}] must be an object`, { index });
  const known = new Set(['stream', 'type', 'data', 'actor', 'expectedVersion', 'meta']);
  const extra = Object.keys(input).filter((key) => !known.has(key));
  if (extra.length > 0) throw invalid(`events[${index}] has unknown members: ${extra.join(', ')}`, { index });
  const { stream, type, data, expectedVersion } = input;
  if (typeof stream !== 'string' || !STREAM_PATTERN.test(stream)) {
    throw invalid(`events[${index}].stream must look like <category>-<id> (${STREAM_PATTERN.source})`, {
      index,
      field: 'stream',
    });
  }
  if (typeof type !== 'string' || type.length > 128 || !EVENT_TYPE_PATTERN.test(type)) {
    throw invalid(`events[${index}].type must be dot-namespaced lower case, e.g. order.created`, {
      index,
      field: 'type',
    });
  }
  if (!isPlainObject(data)) throw invalid(`events[${index}].data must be a JSON object`, { index, field: 'data' });
  const problem = dataProblem(data, 'data', 0);
  if (problem) throw invalid(`events[${index}].${problem}`, { index, field: 'data' });
  if (expectedVersion !== undefined && !(Number.isSafeInteger(expectedVersion) && (expectedVersion as number) >= 0)) {
    throw invalid(`events[${index}].expectedVersion must be a non-negative integer`, {
      index,
      field: 'expectedVersion',
    });
  }
  const actor = validateActor(input['actor'], index);
  const meta = validateMeta(input['meta'], index, idempotencyKey);
  const dataJcs = jcs(data as JsonValue);
  const dataBytes = Buffer.byteLength(dataJcs, 'utf8');
  if (dataBytes > MAX_EVENT_DATA_BYTES) {
    throw new ChainError(
      'EVENT_TOO_LARGE',
      `events[${index}].data is ${dataBytes} bytes as JCS, at most ${MAX_EVENT_DATA_BYTES}`,
      {
        index,
        dataBytes,
        maxBytes: MAX_EVENT_DATA_BYTES,
      },
    );
  }
  return {
    stream,
    type,
    data: data as JsonObject,
    dataJcs,
    actor,
    meta,
    metaJcs: jcs(meta),
    expectedVersion: expectedVersion as number | undefined,
    dataBytes,
  };
}

export function validateChainName(chain: unknown): string {
  if (typeof chain !== 'string' || !CHAIN_NAME_PATTERN.test(chain)) {
    throw new ChainError(
      'INVALID_CHAIN_NAME',
      `chain name must match ${CHAIN_NAME_PATTERN.source} (got ${JSON.stringify(chain)})`,
      {
        chain,
      },
    );
  }
  return chain;
}

/** Validates an append request completely, or throws a ChainError saying which field and why. */
export function validateAppend(chain: unknown, events: unknown, options: AppendOptions = {}): ValidatedAppend {
  const chainName = validateChainName(chain);
  if (!Array.isArray(events) || events.length === 0) throw invalid('events must be a non-empty array', {});
  if (events.length > MAX_EVENTS_PER_APPEND) {
    throw new ChainError(
      'TOO_MANY_EVENTS',
      `at most ${MAX_EVENTS_PER_APPEND} events per append (got ${events.length})`,
      {
        count: events.length,
        max: MAX_EVENTS_PER_APPEND,
      },
    );
  }
  const key = options.idempotencyKey;
  if (key !== undefined) checkLabel(key, 'idempotencyKey', 0);
  if (options.requestHash !== undefined && !REQUEST_HASH_PATTERN.test(options.requestHash)) {
    throw invalid('requestHash must be 64 lower-case hex digits', { field: 'requestHash' });
  }
  const validated = events.map((event, index) => validateEvent(event, index, key));
  // The caller's identity of the request when it gives one; else what the
  // request asks for, meta excluded (a retry may carry another traceId and is
  // still the same request). Deterministic, not a format.
  const requestHash =
    key === undefined
      ? undefined
      : (options.requestHash ??
        sha256Hex(
          JSON.stringify([
            chainName,
            validated.map((e) => [e.stream, e.type, e.actor.id, e.actor.role, e.expectedVersion ?? null, e.dataJcs]),
          ]),
        ));
  return {
    chain: chainName,
    events: validated,
    idempotencyKey: key,
    requestHash,
    response: key === undefined || options.response === undefined ? undefined : JSON.stringify(options.response),
    dataBytes: validated.reduce((sum, event) => sum + event.dataBytes, 0),
  };
}
