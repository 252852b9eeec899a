import { CodedError } from '../domain/errors.ts';

/** Stable codes of the chain layer; infra/entrypoints/http maps them to statuses. */
export const CHAIN_ERROR_CODES = [
  'INVALID_EVENT',
  'INVALID_CHAIN_NAME',
  'UNKNOWN_CHAIN',
  'CHAIN_EXISTS',
  'EVENT_TOO_LARGE',
  'TOO_MANY_EVENTS',
  'STREAM_VERSION_CONFLICT',
  'STREAM_IN_OTHER_CHAIN',
  'IDEMPOTENCY_KEY_REUSED',
  'SIGNING_UNAVAILABLE',
  'WRITER_OVERLOADED',
  'WRITER_CLOSED',
] as const;
export type ChainErrorCode = (typeof CHAIN_ERROR_CODES)[number];

export class ChainError extends CodedError {
  declare readonly code: ChainErrorCode;
  constructor(code: ChainErrorCode, message: string, details: Record<string, unknown> = {}) {
    super(code, message, details);
  }
}

export function isChainError(error: unknown, code?: ChainErrorCode): error is ChainError {
  return error instanceof ChainError && (code === undefined || error.code === code);
}
