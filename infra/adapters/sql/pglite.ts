import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { PGlite, type Transaction } from '@electric-sql/pglite';
import { assert, CodedError } from '../../../domain/errors.ts';
import {
  CHANNEL_PATTERN,
  INT8_OID,
  NUMERIC_OID,
  parseNumeric,
  parseSafeInteger,
  type SqlDatabase,
  type SqlExecutor,
  type SqlRows,
} from './sql.ts';

const LOCK_FILE = 'pglite.lock';

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * PGlite is one process's database: two processes opening the same folder
 * would corrupt it. A lock file holding the owner's pid keeps a second one
 * out; a lock left by a dead process is taken over.
 */
function acquireLock(directory: string): () => void {
  const path = join(directory, LOCK_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(path, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = Number.parseInt(readFileSync(path, 'utf8'), 10);
      if (Number.isInteger(owner) && owner !== process.pid && processAlive(owner)) {
        throw new CodedError(
          'DATA_DIR_IN_USE',
          `the embedded database in ${directory} is open in process ${owner}; stop it, or point DATABASE_URL at PostgreSQL to share a database between processes`,
          { directory, pid: owner },
        );
      }
      rmSync(path, { force: true });
    }
  }
  assert(false, `could not take ${path}`);
}

function executor(db: PGlite | Transaction): SqlExecutor {
  return {
    async query<Row>(text: string, params?: readonly unknown[]): Promise<SqlRows<Row>> {
      const result = await db.query<Row>(text, params as unknown[] | undefined);
      return { rows: result.rows };
    },
    async exec(text: string): Promise<void> {
      await db.exec(text);
    },
  };
}

/** Opens (creating when absent) the embedded database in `directory`. */
export async function openPglite(directory: string): Promise<SqlDatabase> {
  mkdirSync(directory, { recursive: true, mode: 0o700 });
  const release = acquireLock(directory);
  let db: PGlite;
  try {
    db = await PGlite.create(join(directory, 'pgdata'), {
      parsers: { [INT8_OID]: parseSafeInteger, [NUMERIC_OID]: parseNumeric },
    });
  } catch (error) {
    release();
    throw error;
  }
  const direct = executor(db);
  return {
    engine: 'pglite',
    location: directory,
    query: direct.query,
    exec: direct.exec,
    transaction: <T>(work: (tx: SqlExecutor) => Promise<T>): Promise<T> => db.transaction((tx) => work(executor(tx))),
    // In process: the embedded database has no connection to lose.
    async listen(channel, onNotify) {
      assert(CHANNEL_PATTERN.test(channel), `LISTEN channel ${channel}`);
      const unsubscribe = await db.listen(channel, onNotify);
      return async () => {
        await unsubscribe();
      };
    },
    async close(): Promise<void> {
      try {
        await db.close();
      } finally {
        release();
      }
    },
  };
}
