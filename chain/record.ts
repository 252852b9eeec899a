/**
 * The record of docs/FORMAT.md section 1. This file and canonical.ts are the
 * only places that know the record's members.
 */
import type { JsonObject } from '../domain/json.ts';

export const FORMAT_VERSION = 1;

/** prevHash of seq 1: 64 zeros (docs/FORMAT.md section 1). */
export const ZERO_HASH = '0'.repeat(64);

export const CHAIN_NAME_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;
/** Dot-namespaced lower case: `order.created`, `ledger.proof_issued`. */
export const EVENT_TYPE_PATTERN = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/;
/** `<category>-<id>`: a lower-case category, a dash, then an id. */
export const STREAM_PATTERN = /^[a-z][a-z0-9_]*-[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
export const HASH_PATTERN = /^[0-9a-f]{64}$/;
export const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** RFC 3339 UTC with milliseconds, as `Date.prototype.toISOString` writes it. */
export const TIMESTAMP_PATTERN = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
export const BASE64_PATTERN = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export const META_KEYS = ['idempotencyKey', 'correlationId', 'causationId', 'traceId'] as const;
export type MetaKey = (typeof META_KEYS)[number];

export interface Actor {
  id: string;
  role: string;
}

export type EventMeta = Partial<Record<MetaKey, string>>;

export interface RecordSignature {
  kid: string;
  alg: string;
  value: string;
}

/** What is hashed: the record without hash, prevHash and sig (docs/FORMAT.md section 2). */
export interface RecordPayload {
  v: typeof FORMAT_VERSION;
  chain: string;
  seq: number;
  id: string;
  type: string;
  stream: string;
  version: number;
  ts: string;
  actor: Actor;
  data: JsonObject;
  meta: EventMeta;
}

export interface ChainRecord extends RecordPayload {
  prevHash: string;
  hash: string;
  sig: RecordSignature;
}

/** A record as stored: the parsed record and the exact JCS text that was written. */
export interface StoredRecord {
  record: ChainRecord;
  text: string;
}

export interface ChainHead {
  chain: string;
  /** 0 for an empty chain. */
  seq: number;
  /** ZERO_HASH for an empty chain. */
  hash: string;
  /** Commit time of the head record; null for an empty chain. */
  ts: string | null;
}

export function payloadOf(record: ChainRecord): RecordPayload {
  const { prevHash: _prevHash, hash: _hash, sig: _sig, ...payload } = record;
  return payload;
}

/**
 * Whether `value` is a real instant written as TIMESTAMP_PATTERN. Date.parse
 * alone is not enough: it reads 2026-02-30 as March 2 and 24:00 as the next
 * day; a real instant prints back as itself.
 */
/** The last timestamp found valid: the records of one batch share their ts, so most checks end here. */
let lastValidTimestamp = '';

export function isTimestamp(value: string): boolean {
  if (value === lastValidTimestamp) return true;
  if (!TIMESTAMP_PATTERN.test(value)) return false;
  const ms = Date.parse(value);
  if (Number.isNaN(ms) || new Date(ms).toISOString() !== value) return false;
  lastValidTimestamp = value;
  return true;
}
