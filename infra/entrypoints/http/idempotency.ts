/**
 * Idempotency-Key for commands (draft-ietf-httpapi-idempotency-key-header).
 * The HTTP API only reads the header: the key goes as given, with the caller,
 * to the command, whose first result under it the chain keeps
 * (commands/command.ts). A retry with the same request gets the first
 * response again (header Idempotent-Replayed: true) and appends nothing; the
 * same key with another request is 422 IDEMPOTENCY_KEY_REUSED. Failed
 * requests leave no record, so a retry after a 503 runs again.
 */
import { HttpError } from './errors.ts';

/** Idempotency-Key: printable ASCII, at most this long. */
export const MAX_IDEMPOTENCY_KEY_LENGTH = 200;
const KEY_PATTERN = /^[\x21-\x7e]{1,200}$/;

export function parseIdempotencyKey(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  if (!KEY_PATTERN.test(header)) {
    throw new HttpError(
      'INVALID_HEADER',
      `Idempotency-Key must be 1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} printable ASCII characters`,
      { header: 'Idempotency-Key' },
    );
  }
  return header;
}
