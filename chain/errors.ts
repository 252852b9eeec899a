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
  // The Merkle tree's read side (chain/treeLog.ts): a size or leaf the stored tree does not have, no checkpoint
  // covering it yet, or a signer that cannot sign a checkpoint note.
  'TREE_SIZE_OUT_OF_RANGE',
  'CHECKPOINT_NOT_FOUND',
  'CHECKPOINT_SIGNER_UNSUPPORTED',
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
