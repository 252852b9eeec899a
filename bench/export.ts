/**
 * Export throughput against audit-verify of the same chain (issue 19): one
 * chain of BENCH_EXPORT_RECORDS (default 200,000) records on PostgreSQL,
 * then, in this order, audit-verify with worker threads on every core, an
 * export to a fresh folder with records verified in full, and an export with
 * `--verify hashes`, wired as `chainbook export` wires them
 * (infra/entrypoints/cli/export.ts).
 *
 * BENCH_EXPORT_DATABASE=name keeps the chain in that database (made when it
 * is empty) and measures it again in later runs; the registry's key is kept
 * beside it in the temporary folder.
 */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { exportArchive } from '../archive/exporter.ts';
import { FolderStore } from '../infra/adapters/objectStores/folderStore.ts';
import { databaseReader } from '../infra/adapters/sql/databaseReader.ts';
import { migrate } from '../infra/adapters/sql/migrate.ts';
import { openPostgres } from '../infra/adapters/sql/postgres.ts';
import { workerChecker } from '../infra/adapters/workers/checkPool.ts';
import { exportDependencies } from '../infra/entrypoints/cli/export.ts';
import { loadConfig } from '../infra/wiring/config.ts';
import { openRuntime, type Runtime } from '../infra/wiring/runtime.ts';
import { verify } from '../verifier/verify.ts';
import { BENCH_DATABASE_URL, benchDatabase, benchDir, format, inFlight, perSecond, orderEvent } from './lib.ts';

export const EXPORT_RECORDS = Number(process.env['BENCH_EXPORT_RECORDS'] ?? 200_000);
const KEPT_DATABASE = process.env['BENCH_EXPORT_DATABASE'];
/** Events per append while filling the chain: filling is not what is measured. */
const FILL_EVENTS_PER_APPEND = 50;
const CHAIN = 'main';

/** Events/s by the wall clock, and the CPU time of this process (every thread, not PostgreSQL's) per event: the load of a shared machine moves the first far more than the second. */
export interface Rate {
  perSecond: number;
  cpuMicrosecondsPerEvent: number;
}

export interface ExportFigures {
  records: number;
  workers: number;
  auditVerify: Rate;
  exportFull: Rate;
  exportHashes: Rate;
}

async function measured(work: () => Promise<number>): Promise<Rate> {
  const cpu = process.cpuUsage();
  const started = performance.now();
  const events = await work();
  const elapsed = performance.now() - started;
  const used = process.cpuUsage(cpu);
  return { perSecond: perSecond(events, elapsed), cpuMicrosecondsPerEvent: (used.user + used.system) / events };
}

const shown = (rate: Rate): string =>
  `${format(rate.perSecond)} events/s, ${format(rate.cpuMicrosecondsPerEvent)} µs of CPU an event`;

async function fill(runtime: Runtime, records: number): Promise<void> {
  await inFlight(Math.ceil(records / FILL_EVENTS_PER_APPEND), 8, (index) =>
    runtime.store.append(
      CHAIN,
      Array.from({ length: FILL_EVENTS_PER_APPEND }, (_, offset) =>
        orderEvent(index * FILL_EVENTS_PER_APPEND + offset),
      ),
    ),
  );
  await runtime.db.query('VACUUM ANALYZE events');
}

/** One export of the whole chain to a fresh folder, wired as the CLI wires it; the events exported. */
async function exportOnce(runtime: Runtime, signatures: boolean, workers: number): Promise<number> {
  const folder = benchDir('export');
  const checker = workerChecker(runtime.registry, workers, { signatures });
  try {
    const report = await exportArchive(exportDependencies(runtime, new FolderStore(folder), checker), {
      service: 'bench',
      env: 'bench',
      version: '0.1.0',
      piiIncluded: false,
      piiPolicyVersion: 'bench',
      lockMode: 'COMPLIANCE',
      retentionDays: 1,
      batchRecords: 10_000,
      batchBytes: 32 * 1024 * 1024,
      chains: [CHAIN],
    });
    if (!report.ok) throw new Error(`the benchmark export failed: ${JSON.stringify(report.finding)}`);
    return report.records;
  } finally {
    await checker.close();
    rmSync(folder, { recursive: true, force: true });
  }
}

/** The database BENCH_EXPORT_DATABASE names, made when it is not there; never dropped. */
async function keptDatabase(name: string): Promise<{ url: string; drop: () => Promise<void> }> {
  const client = new pg.Client({ connectionString: BENCH_DATABASE_URL });
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (found.rowCount === 0) await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`);
  } finally {
    await client.end();
  }
  const url = new URL(BENCH_DATABASE_URL);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: async () => undefined };
}

async function openChain(): Promise<{ runtime: Runtime; dispose: () => Promise<void> }> {
  const database = KEPT_DATABASE ? await keptDatabase(KEPT_DATABASE) : await benchDatabase('export');
  const dataDir = KEPT_DATABASE ? join(tmpdir(), `${KEPT_DATABASE}-data`) : benchDir('export-data');
  if (!existsSync(dataDir)) mkdirSync(dataDir, { recursive: true });
  const db = openPostgres(database.url, { poolSize: 4 });
  await migrate(db);
  const runtime = await openRuntime(loadConfig({ CHAINBOOK_DATA_DIR: dataDir }), { db, projections: false });
  return {
    runtime,
    async dispose() {
      await runtime.close();
      await db.close();
      await database.drop();
      if (!KEPT_DATABASE) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export async function exportBenchmark(log: (line: string) => void): Promise<ExportFigures> {
  const { runtime, dispose } = await openChain();
  try {
    if ((await runtime.store.head(CHAIN)).seq === 0) await fill(runtime, EXPORT_RECORDS);
    const records = (await runtime.store.head(CHAIN)).seq;
    log(`chain of ${format(records)} records`);
    const workers = availableParallelism();
    const pool = workerChecker(runtime.registry, workers);
    // Warm the workers (module load, JIT) and the table's pages outside the measured runs.
    await verify(databaseReader(runtime.db), pool, { limit: 2000 });
    const auditVerify = await measured(async () => {
      const verified = await verify(databaseReader(runtime.db), pool, { chains: [CHAIN] });
      if (!verified.ok) throw new Error(`the benchmark chain did not verify: ${JSON.stringify(verified.finding)}`);
      return verified.records;
    });
    await pool.close();
    log(`audit-verify, ${workers} worker threads: ${shown(auditVerify)}`);
    const exportFull = await measured(() => exportOnce(runtime, true, workers));
    log(`export to a folder, records verified in full: ${shown(exportFull)}`);
    const exportHashes = await measured(() => exportOnce(runtime, false, workers));
    log(`export to a folder, --verify hashes: ${shown(exportHashes)}`);
    return { records, workers, auditVerify, exportFull, exportHashes };
  } finally {
    await dispose();
  }
}
