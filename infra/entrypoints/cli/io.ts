/** Terminal output shared by CLI commands: errors, progress, writing with backpressure. */
import { ChainError } from '../../../chain/errors.ts';
import { CodedError } from '../../../domain/errors.ts';

/** Exit codes of every command (audit-verify's are those of docs/FORMAT.md section 5). */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

export class UsageError extends CodedError {
  constructor(message: string) {
    super('USAGE', message);
  }
}

/**
 * Codes that mean the command could not run (exit 2): its arguments, the
 * configuration, the environment (data folder, database version, keys,
 * signer start-up, HSM). Other coded errors are rejections of what was asked
 * (exit 1): a chain or business rule said no.
 */
const COULD_NOT_RUN = new Set([
  'USAGE',
  'INVALID_ARGUMENT',
  'INVALID_CONFIGURATION',
  'ARCHIVE_EMPTY',
  'INVALID_SIGNER_REGISTRY',
  'SIGNER_REGISTRY_UNREADABLE',
  'SOURCE_UNREADABLE',
  'SOURCE_TOO_LARGE',
  'UNKNOWN_CHAIN',
  'DATA_DIR_IN_USE',
  'DATABASE_NEWER_THAN_SOFTWARE',
  'MIGRATION_CHANGED',
  'PROJECTIONS_STALE',
  'LOCAL_SIGNER_REFUSED',
  'LOCAL_KEY_EXPOSED',
  'SIGNER_KEY_MISMATCH',
  'SIGNER_NOT_REGISTERED',
  'SIGNER_NOT_YET_DEPLOYED',
  'SIGNER_RETIRED',
  'SIGNER_EXISTS',
  'DEPLOYED_AT_NOT_IN_FUTURE',
  'RETIRED_AT_IN_PAST',
  'BREAKGLASS_KEY_UNREADABLE',
  'HSM_UNAVAILABLE',
  'HSM_TOKEN_NOT_FOUND',
  'HSM_LOGIN_FAILED',
  'HSM_KEY_NOT_FOUND',
  'HSM_KEY_AMBIGUOUS',
  'HSM_KEY_UNSUPPORTED',
  'HSM_KEY_EXISTS',
  'REPLAY_TARGET_NOT_EMPTY',
]);

export function exitCodeFor(error: unknown): number {
  if (error instanceof ChainError) return EXIT.failed;
  if (error instanceof CodedError) return COULD_NOT_RUN.has(error.code) ? EXIT.usage : EXIT.failed;
  // Not ours: a connection refused, a file system error. The command could not run.
  return EXIT.usage;
}

export function describeError(error: unknown): string {
  if (error instanceof CodedError) return `${error.code}: ${error.message}`;
  if (error instanceof Error) return error.message;
  return String(error);
}

/** One progress line on stderr, rewritten in place; silent when stderr is not a terminal. */
export function progressLine(enabled = process.stderr.isTTY === true): { update(text: string): void; done(): void } {
  let last = 0;
  let shown = false;
  return {
    update(text) {
      const now = Date.now();
      if (!enabled || now - last < 100) return;
      last = now;
      shown = true;
      process.stderr.write(`\r\x1b[2K${text}`);
    },
    done() {
      if (shown) process.stderr.write('\r\x1b[2K');
    },
  };
}

/** Writes to stdout, waiting when the pipe is full, so a large dump is never buffered whole. */
export async function writeOut(text: string): Promise<void> {
  if (process.stdout.write(text)) return;
  await new Promise<void>((resolve) => process.stdout.once('drain', resolve));
}

export function parseCount(value: string, name: string, minimum = 0): number {
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value)) || Number(value) < minimum) {
    throw new UsageError(`${name} must be an integer of at least ${minimum} (got ${JSON.stringify(value)})`);
  }
  return Number(value);
}

export function formatCount(value: number): string {
  return value.toLocaleString('en-US');
}
