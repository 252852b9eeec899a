import pg from 'pg';
import { assert } from '../../../domain/errors.ts';
import {
  CHANNEL_PATTERN,
  INT8_OID,
  NUMERIC_OID,
  parseNumeric,
  parseSafeInteger,
  redactUrl,
  type SqlDatabase,
  type SqlExecutor,
  type SqlRows,
} from './sql.ts';

/** Connections per process; the writer uses one at a time per chain, reads the rest (besides `ordered`'s own). */
export const DEFAULT_POOL_SIZE = 10;

const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === INT8_OID) return parseSafeInteger;
    if (oid === NUMERIC_OID) return parseNumeric;
    return pg.types.getTypeParser(oid, format);
  },
} as pg.CustomTypesConfig;

/** Most distinct statement texts given a name (our SQL is a fixed set; past this, texts run unnamed). */
const MAX_NAMED_STATEMENTS = 1000;

/**
 * Names for parameterized statements, so that each connection parses and
 * plans a statement once and then only binds and executes it (the writer's
 * batch insert takes about 0.7 ms to plan, more than it takes to run).
 */
function statementNames(): (text: string) => string | undefined {
  const names = new Map<string, string>();
  return (text) => {
    let name = names.get(text);
    if (name === undefined && names.size < MAX_NAMED_STATEMENTS) {
      name = `chainbook_${names.size + 1}`;
      names.set(text, name);
    }
    return name;
  };
}

function executor(
  client: pg.Pool | pg.PoolClient,
  nameOf: ((text: string) => string | undefined) | undefined,
): SqlExecutor {
  return {
    async query<Row>(text: string, params?: readonly unknown[]): Promise<SqlRows<Row>> {
      const values = params as unknown[] | undefined;
      const name = values === undefined ? undefined : nameOf?.(text);
      const result =
        name === undefined || values === undefined
          ? await client.query(text, values)
          : await client.query({ name, text, values });
      return { rows: result.rows as Row[] };
    },
    async exec(text: string): Promise<void> {
      await client.query(text);
    },
  };
}

/**
 * SqlDatabase's `ordered`: one connection of its own in pipeline mode, so
 * that a statement is written behind the ones before it without waiting for
 * their answers and runs at the server as soon as they are done, in order.
 * Statements sent on different connections of the pool reach their backends
 * in no set order: a batch statement sent behind another could run first,
 * find the head not yet moved and have to be sent again. Each statement
 * has its own Sync, so it is its own transaction and an error in one does
 * not fail the next. A connection lost fails the statements out on it; the
 * next statement opens a new one.
 */
function orderedExecutor(
  url: string,
  applicationName: string,
  nameOf: (text: string) => string | undefined,
): { executor: SqlExecutor; close(): Promise<void> } {
  let client: pg.Client | undefined;
  const open = (): pg.Client => {
    const opened = new pg.Client({ connectionString: url, application_name: applicationName, types, pipeline: true });
    const lost = (): void => {
      if (client === opened) client = undefined;
    };
    opened.on('error', lost);
    opened.on('end', lost);
    // Statements queued meanwhile are sent once connected; a failure to connect fails them.
    opened.connect().catch(lost);
    return opened;
  };
  // A FATAL error (its backend terminated) reaches the statement that was running before the connection's end does:
  // the connection is dropped with it, so that a statement sent right after is not written on the one closing.
  const run = async <T>(work: (used: pg.Client) => Promise<T>): Promise<T> => {
    const used = (client ??= open());
    try {
      return await work(used);
    } catch (error) {
      const severity = (error as { severity?: unknown }).severity;
      if ((severity === 'FATAL' || severity === 'PANIC') && client === used) client = undefined;
      throw error;
    }
  };
  return {
    executor: {
      async query<Row>(text: string, params?: readonly unknown[]): Promise<SqlRows<Row>> {
        const values = params === undefined ? [] : (params as unknown[]);
        const name = nameOf(text);
        const result = await run((used) => used.query(name === undefined ? { text, values } : { name, text, values }));
        return { rows: result.rows as Row[] };
      },
      async exec(text: string): Promise<void> {
        await run((used) => used.query(text));
      },
    },
    async close() {
      const closing = client;
      client = undefined;
      await closing?.end().catch(() => undefined);
    },
  };
}

export interface PostgresOptions {
  poolSize?: number;
  applicationName?: string;
  /** Named (server-side prepared) statements; off for a pooler that cannot keep them (PgBouncer before 1.21 in transaction mode). Default true. */
  preparedStatements?: boolean;
}

export function openPostgres(url: string, options: PostgresOptions = {}): SqlDatabase {
  const pool = new pg.Pool({
    connectionString: url,
    max: options.poolSize ?? DEFAULT_POOL_SIZE,
    types,
    application_name: options.applicationName ?? 'chainbook',
  });
  // An idle client losing its connection must not crash the process; the next query reconnects.
  pool.on('error', () => undefined);
  const nameOf = options.preparedStatements === false ? undefined : statementNames();
  const pooled = executor(pool, nameOf);
  const ordered = nameOf && orderedExecutor(url, options.applicationName ?? 'chainbook', nameOf);
  return {
    engine: 'postgres',
    location: redactUrl(url),
    query: pooled.query,
    exec: pooled.exec,
    ordered: ordered?.executor,
    async transaction<T>(work: (tx: SqlExecutor) => Promise<T>): Promise<T> {
      const client = await pool.connect();
      // A checked-out client whose connection ends between two queries (its backend terminated, the server
      // restarted) emits 'error' with no query to fail, and the pool listens only to idle ones: unheard, it would
      // end the process. The failed query already rejected; the ROLLBACK fails and the client is discarded.
      const lost = (): undefined => undefined;
      client.on('error', lost);
      const release = (error?: Error): void => {
        client.off('error', lost);
        client.release(error);
      };
      try {
        await client.query('BEGIN');
        const result = await work(executor(client, nameOf));
        await client.query('COMMIT');
        release();
        return result;
      } catch (error) {
        try {
          await client.query('ROLLBACK');
          release();
        } catch (rollbackError) {
          release(rollbackError as Error);
        }
        throw error;
      }
    },
    // A connection of its own, outside the pool: LISTEN holds it for as long as it listens. `onLost` is called only
    // once it listened; a failure before that rejects the promise, with the connection ended, and nothing else.
    async listen(channel, onNotify, onLost) {
      assert(CHANNEL_PATTERN.test(channel), `LISTEN channel ${channel}`);
      const client = new pg.Client({ connectionString: url, application_name: options.applicationName ?? 'chainbook' });
      let state: 'starting' | 'listening' | 'stopped' = 'starting';
      const lost = (error: Error) => {
        if (state !== 'listening') return;
        state = 'stopped';
        client.end().catch(() => undefined);
        onLost(error);
      };
      client.on('error', lost);
      client.on('end', () => lost(new Error('the LISTEN connection ended')));
      client.on('notification', (message) => {
        if (message.channel === channel) onNotify(message.payload ?? '');
      });
      try {
        await client.connect();
        await client.query(`LISTEN ${channel}`);
      } catch (error) {
        state = 'stopped';
        await client.end().catch(() => undefined);
        throw error;
      }
      state = 'listening';
      return async () => {
        if (state === 'stopped') return;
        state = 'stopped';
        await client.end().catch(() => undefined);
      };
    },
    async close(): Promise<void> {
      await ordered?.close();
      await pool.end();
    },
  };
}
