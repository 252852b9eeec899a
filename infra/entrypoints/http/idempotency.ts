/**
 * Idempotency-Key for commands (draft-ietf-httpapi-idempotency-key-header):
 * the first successful response is stored with a digest of the request; a
 * retry with the same request gets it back (header Idempotent-Replayed: true)
 * and appends nothing; the same key with another request is 422
 * IDEMPOTENCY_KEY_REUSED. Failed requests are not stored, so a retry after
 * a 503 runs again. Concurrent retries are safe because the key also goes to
 * the chain (scoped to the caller), which appends at most once per key.
 */
import { createHash } from 'node:crypto';
import { jcs } from '../../../chain/canonical.ts';
import { ChainError } from '../../../chain/errors.ts';
import type { JsonValue } from '../../../domain/json.ts';
import type { SqlExecutor } from '../../adapters/sql/sql.ts';
import { HttpError } from './errors.ts';

/** Idempotency-Key: printable ASCII, at most this long. */
export const MAX_IDEMPOTENCY_KEY_LENGTH = 200;
const KEY_PATTERN = /^[\x21-\x7e]{1,200}$/;

export interface StoredResponse {
  status: number;
  body: unknown;
}

export interface IdempotencyStore {
  /** The stored response for this caller and key; IDEMPOTENCY_KEY_REUSED when it answered another request. */
  find(actorId: string, key: string, operation: string, requestSha256: string): Promise<StoredResponse | undefined>;
  save(actorId: string, key: string, operation: string, requestSha256: string, response: StoredResponse): Promise<void>;
}

export function parseIdempotencyKey(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  if (!KEY_PATTERN.test(header)) {
    throw new HttpError('INVALID_HEADER', `Idempotency-Key must be 1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} printable ASCII characters`, { header: 'Idempotency-Key' });
  }
  return header;
}

/** The digest a retry must match: the operation and its whole input, canonical. */
export function requestDigest(operation: string, input: JsonValue): string {
  return createHash('sha256').update(jcs({ operation, input })).digest('hex');
}

/** The key the chain records: per caller (two callers may pick the same key), of fixed length. */
export function chainIdempotencyKey(actorId: string, key: string): string {
  return `http-${createHash('sha256').update(`${actorId}\n${key}`).digest('hex')}`;
}

export function sqlIdempotencyStore(db: SqlExecutor): IdempotencyStore {
  return {
    async find(actorId, key, operation, requestSha256) {
      const { rows } = await db.query<{ operation: string; request_sha256: string; status: number; response: string }>(
        'SELECT operation, request_sha256, status, response FROM http_idempotency WHERE actor_id = $1 AND key = $2',
        [actorId, key],
      );
      const row = rows[0];
      if (!row) return undefined;
      if (row.operation !== operation || row.request_sha256 !== requestSha256) {
        throw new ChainError('IDEMPOTENCY_KEY_REUSED', `Idempotency-Key ${JSON.stringify(key)} was used for another request (${row.operation})`, { operation: row.operation });
      }
      return { status: row.status, body: JSON.parse(row.response) as unknown };
    },
    async save(actorId, key, operation, requestSha256, response) {
      await db.query(
        `INSERT INTO http_idempotency (actor_id, key, operation, request_sha256, status, response) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (actor_id, key) DO NOTHING`,
        [actorId, key, operation, requestSha256, response.status, JSON.stringify(response.body)],
      );
    },
  };
}
