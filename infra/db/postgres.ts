import pg from 'pg';
import { INT8_OID, NUMERIC_OID, parseNumeric, parseSafeInteger, redactUrl, type SqlDatabase, type SqlExecutor, type SqlRows } from './sql.ts';

/** Connections per process; the writer uses one at a time per chain, reads the rest. */
export const DEFAULT_POOL_SIZE = 10;

const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === INT8_OID) return parseSafeInteger;
    if (oid === NUMERIC_OID) return parseNumeric;
    return pg.types.getTypeParser(oid, format);
  },
} as pg.CustomTypesConfig;

function executor(client: pg.Pool | pg.PoolClient): SqlExecutor {
  return {
    async query<Row>(text: string, params?: readonly unknown[]): Promise<SqlRows<Row>> {
      const result = await client.query(text, params as unknown[] | undefined);
      return { rows: result.rows as Row[] };
    },
    async exec(text: string): Promise<void> {
      await client.query(text);
    },
  };
}

export interface PostgresOptions {
  poolSize?: number;
  applicationName?: string;
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
  const pooled = executor(pool);
  return {
    engine: 'postgres',
    location: redactUrl(url),
    query: pooled.query,
    exec: pooled.exec,
    async transaction<T>(work: (tx: SqlExecutor) => Promise<T>): Promise<T> {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const result = await work(executor(client));
        await client.query('COMMIT');
        client.release();
        return result;
      } catch (error) {
        try {
          await client.query('ROLLBACK');
          client.release();
        } catch (rollbackError) {
          client.release(rollbackError as Error);
        }
        throw error;
      }
    },
    async close(): Promise<void> {
      await pool.end();
    },
  };
}
