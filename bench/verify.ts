/**
 * audit-verify throughput (issue 2): records/s to verify a chain of
 * BENCH_VERIFY_RECORDS (default 200,000) on PostgreSQL with worker threads on
 * every core, against the limit `openssl speed ed25519` verify/s × cores,
 * measured in the same run.
 */
import { rmSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { loadConfig } from '../infra/wiring/config.ts';
import { migrate } from '../infra/adapters/sql/migrate.ts';
import { openPostgres } from '../infra/adapters/sql/postgres.ts';
import { databaseReader } from '../infra/adapters/sql/databaseReader.ts';
import { openRuntime } from '../infra/wiring/runtime.ts';
import { workerChecker } from '../infra/adapters/workers/checkPool.ts';
import { inProcessChecker } from '../verifier/inProcessChecker.ts';
import { verify } from '../verifier/verify.ts';
import { benchDatabase, benchDir, format, inFlight, opensslEd25519, perSecond, orderEvent } from './lib.ts';

export const VERIFY_RECORDS = Number(process.env['BENCH_VERIFY_RECORDS'] ?? 200_000);
/** Events per append while filling the chain: filling is not what is measured. */
const FILL_EVENTS_PER_APPEND = 50;

export interface VerifyFigures {
  records: number;
  workers: number;
  recordsPerSecond: number;
  inProcessPerSecond: number;
  opensslVerifyPerSecondPerCore: number;
  limit: number;
}

export async function verifyBenchmark(log: (line: string) => void): Promise<VerifyFigures> {
  const database = await benchDatabase('verify');
  const db = openPostgres(database.url, { poolSize: 4 });
  const dataDir = benchDir('verify');
  try {
    await migrate(db);
    const runtime = await openRuntime(loadConfig({ CHAINBOOK_DATA_DIR: dataDir }), { db, projections: false });
    await inFlight(VERIFY_RECORDS / FILL_EVENTS_PER_APPEND, 8, (index) =>
      runtime.store.append(
        'main',
        Array.from({ length: FILL_EVENTS_PER_APPEND }, (_, offset) =>
          orderEvent(index * FILL_EVENTS_PER_APPEND + offset),
        ),
      ),
    );
    const registry = runtime.registry;
    await runtime.close();
    await db.query('VACUUM ANALYZE events');
    log(`filled ${format(VERIFY_RECORDS)} records`);

    const workers = availableParallelism();
    const pool = workerChecker(registry, workers);
    // Warm the workers (module load, JIT) outside the measured run.
    await verify(databaseReader(db), pool, { limit: 2000 });
    const started = performance.now();
    const report = await verify(databaseReader(db), pool);
    const elapsed = performance.now() - started;
    await pool.close();
    if (!report.ok || report.records !== VERIFY_RECORDS)
      throw new Error(`the benchmark chain did not verify: ${JSON.stringify(report.finding)}`);
    const recordsPerSecond = perSecond(report.records, elapsed);
    log(`audit-verify, ${workers} worker threads: ${format(recordsPerSecond)} records/s`);

    const sample = Math.min(VERIFY_RECORDS, 20_000);
    const inProcessStarted = performance.now();
    await verify(databaseReader(db), inProcessChecker(registry), { limit: sample });
    const inProcessPerSecond = perSecond(sample, performance.now() - inProcessStarted);
    log(`audit-verify on the main thread only: ${format(inProcessPerSecond)} records/s`);

    const openssl = opensslEd25519();
    const limit = openssl.verifyPerSecond * openssl.cores;
    log(
      `openssl speed ed25519: ${format(openssl.verifyPerSecond)} verify/s per core × ${openssl.cores} cores = ${format(limit)}/s`,
    );
    return {
      records: report.records,
      workers,
      recordsPerSecond,
      inProcessPerSecond,
      opensslVerifyPerSecondPerCore: openssl.verifyPerSecond,
      limit,
    };
  } finally {
    await db.close();
    await database.drop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
