/**
 * Entity ids (manifests, listings, orders, upgrades, ledger transactions,
 * proofs). They end up in stream names `<category>-<id>`, so they use the
 * characters a stream id allows and leave room for the category.
 */
import { CodedError } from './errors.ts';

export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$/;
/** Lowercase hex SHA-256. */
export const SHA256_PATTERN = /^[0-9a-f]{64}$/;
/** Length of free text (reasons, descriptions, names), in UTF-16 units. */
export const MAX_TEXT_LENGTH = 1000;

export function requireId(value: string, what: string): void {
  if (!ID_PATTERN.test(value))
    throw new CodedError('INVALID_ID', `${what} must match ${ID_PATTERN.source} (got ${JSON.stringify(value)})`, {
      what,
      value,
    });
}

export function requireText(value: string, code: string, what: string): void {
  if (value.trim().length === 0 || value.length > MAX_TEXT_LENGTH) {
    throw new CodedError(code, `${what} must be non-empty text of at most ${MAX_TEXT_LENGTH} characters`, { what });
  }
}
