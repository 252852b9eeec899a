/**
 * One SQL interface over two engines: PostgreSQL through `pg` and PGlite,
 * the embedded PostgreSQL. Every query in the project runs unchanged on both.
 */
import { assert } from '../../../domain/errors.ts';

export interface SqlRows<Row> {
  rows: Row[];
}

export interface SqlExecutor {
  query<Row = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<SqlRows<Row>>;
  /** Several statements without parameters (migrations). */
  exec(text: string): Promise<void>;
}

export type SqlEngine = 'postgres' | 'pglite';

export interface SqlDatabase extends SqlExecutor {
  readonly engine: SqlEngine;
  /** Where the data lives, without credentials: for messages. */
  readonly location: string;
  transaction<T>(work: (tx: SqlExecutor) => Promise<T>): Promise<T>;
  /**
   * Statements that run at the server in the order they were sent, each its
   * own transaction, each sent without waiting for the answers before it:
   * the writer's speculative batch statements (chain/writer.ts,
   * "Pipelining"). Absent where the database's own executor already runs
   * them in that order (PGlite runs one statement at a time) or cannot
   * promise it (a pooler, `preparedStatements: false`).
   */
  readonly ordered?: SqlExecutor | undefined;
  /**
   * LISTEN on `channel`: `onNotify` gets each notification's payload, and
   * `onLost` is called once if the listening connection fails (no more
   * notifications come; listen again). Resolves to the way to stop.
   */
  listen(
    channel: string,
    onNotify: (payload: string) => void,
    onLost: (error: Error) => void,
  ): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

/** A channel name LISTEN takes unquoted. */
export const CHANNEL_PATTERN = /^[a-z_][a-z0-9_]{0,62}$/;

/** PostgreSQL type ids whose text we parse ourselves, identically on both engines. */
export const INT8_OID = 20;
export const NUMERIC_OID = 1700;

/**
 * int8 and integral numeric come back as JS numbers on both engines; a value
 * outside the safe range is a bug or corruption, not something to round.
 */
export function parseSafeInteger(text: string): number {
  const value = Number(text);
  assert(Number.isSafeInteger(value), `database integer ${text} is outside ±(2^53 − 1)`);
  return value;
}

export function parseNumeric(text: string): number | string {
  return /^-?\d+$/.test(text) ? parseSafeInteger(text) : text;
}

/** A connection string with any password removed, for logs and messages. */
/** Query parameters that carry a secret in a libpq-style URL (pg-connection-string reads them). */
const SECRET_PARAMETER = /pass|secret|key|token/i;

export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    for (const name of [...parsed.searchParams.keys()])
      if (SECRET_PARAMETER.test(name)) parsed.searchParams.set(name, '***');
    return parsed.toString();
  } catch {
    return '<unparseable database URL>';
  }
}
