/**
 * Every rejection the system reports to a caller carries a stable `code`.
 * The HTTP layer maps codes to statuses in one place; the CLI prints them.
 * Bugs are assertions, never CodedErrors.
 */
export class CodedError extends Error {
  readonly code: string;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: string, message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.details = details;
  }
}

/** A programmer error: the process state is not what the code assumes. */
export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`assertion failed: ${message}`);
}

export function assertNever(value: never, what: string): never {
  throw new Error(`assertion failed: unhandled ${what}: ${JSON.stringify(value)}`);
}
