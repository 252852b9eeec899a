/** Terminal output shared by CLI commands: errors, progress, writing with backpressure. */
import { CodedError } from '../../../domain/errors.ts';

/** Exit codes of every command (audit-verify's are those of docs/FORMAT.md section 5). */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

export class UsageError extends CodedError {
  constructor(message: string) {
    super('USAGE', message);
  }
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
