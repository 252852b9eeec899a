/**
 * Issue 19's replay row, in one run on one chain: audit-verify of the
 * database, replay with every projection (digests compared with the live
 * ones), and disaster recovery from a folder archive into a fresh PostgreSQL
 * database (every projection, digests compared with the live ones), each
 * against audit-verify of the same chain measured in this run.
 *
 * The chain is BENCH_REPLAY_EVENTS events (default 200,000: about 3 minutes
 * in all on a quiet 2-core machine) of the marketplace mix, made through the
 * real append path (bench/marketplaceChain.ts). The archive is exported with
 * hashes checked only: exporting is not what is measured here (bench/archive.ts
 * measures it).
 */
import { rmSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { readIndex } from '../archive/archiveIndex.ts';
import { ArchiveReader } from '../archive/archiveReader.ts';
import { appendExported } from '../archive/exportedEvent.ts';
import { exportArchive } from '../archive/exporter.ts';
import type { ObjectStore } from '../archive/objectStore.ts';
import { FolderStore } from '../infra/adapters/objectStores/folderStore.ts';
import { zlibCompression } from '../infra/adapters/objectStores/gzip.ts';
import { databaseReader } from '../infra/adapters/sql/databaseReader.ts';
import { migrate } from '../infra/adapters/sql/migrate.ts';
import { openPostgres } from '../infra/adapters/sql/postgres.ts';
import { sqlReplayTarget } from '../infra/adapters/sql/replayTarget.ts';
import { workerChecker } from '../infra/adapters/workers/checkPool.ts';
import { EXPORT_PAGE_RECORDS } from '../infra/entrypoints/cli/export.ts';
import { projectionDigests } from '../projections/projections.ts';
import { replay, type ReplaySource } from '../projections/replay/replay.ts';
import type { LineChecker, RecordReader } from '../verifier/reader.ts';
import { verify } from '../verifier/verify.ts';
import { benchApp, type BenchApp } from './benchDatabase.ts';
import { benchDatabase, benchDir, format, perSecond } from './lib.ts';
import { makeChain } from './marketplaceChain.ts';

export const REPLAY_EVENTS = Number(process.env['BENCH_REPLAY_EVENTS'] ?? 200_000);
const SERVICE = 'bench';
const ARCHIVE_BATCH_RECORDS = 10_000;

export interface ReplayFigures {
  records: number;
  threads: number;
  verifyPerSecond: number;
  replayPerSecond: number;
  archiveVerifyPerSecond: number;
  restorePerSecond: number;
  restoredRecords: number;
}

async function timed<T>(work: () => Promise<T>): Promise<{ result: T; ms: number }> {
  const started = performance.now();
  const result = await work();
  return { result, ms: performance.now() - started };
}

async function auditVerify(reader: RecordReader, checker: LineChecker): Promise<number> {
  const { result, ms } = await timed(() => verify(reader, checker));
  if (!result.ok) throw new Error(`the benchmark chain did not verify: ${JSON.stringify(result.finding)}`);
  return perSecond(result.records, ms);
}

async function replayInPlace(app: BenchApp, checker: LineChecker): Promise<number> {
  const { result, ms } = await timed(() => replay({ target: sqlReplayTarget(app.runtime.db), checker, compare: true }));
  if (!result.ok) throw new Error(`replay failed: ${JSON.stringify(result.finding ?? result.differences)}`);
  return perSecond(result.records, ms);
}

async function exportFolder(app: BenchApp, store: ObjectStore, threads: number): Promise<void> {
  const checker = workerChecker(app.runtime.registry, threads, { signatures: false });
  try {
    const report = await exportArchive(
      {
        store,
        compression: zlibCompression,
        database: databaseReader(app.runtime.db, EXPORT_PAGE_RECORDS),
        checker,
        registry: app.runtime.registry,
        signer: app.runtime.signer,
        nowMs: Date.now,
        recordExport: appendExported(app.runtime.store),
      },
      {
        service: SERVICE,
        env: 'bench',
        version: '0.1.0',
        piiIncluded: false,
        piiPolicyVersion: 'bench',
        lockMode: 'COMPLIANCE',
        retentionDays: 1,
        batchRecords: ARCHIVE_BATCH_RECORDS,
        batchBytes: 32 * 1024 * 1024,
        chains: [app.deps.chain],
      },
    );
    if (!report.ok) throw new Error(`export failed: ${JSON.stringify(report.finding)}`);
  } finally {
    await checker.close();
  }
}

async function archiveReader(app: BenchApp, store: ObjectStore): Promise<ArchiveReader> {
  return new ArchiveReader({
    store,
    compression: zlibCompression,
    registry: app.runtime.registry,
    index: await readIndex(store, SERVICE),
  });
}

/** Disaster recovery: the archive into a fresh database, every projection rebuilt, digests compared with the live ones. */
async function restore(
  app: BenchApp,
  store: ObjectStore,
  checker: LineChecker,
): Promise<{ perSecond: number; records: number }> {
  const fresh = await benchDatabase('replay_restore');
  const db = openPostgres(fresh.url, { poolSize: 2, applicationName: 'chainbook-bench' });
  try {
    await migrate(db);
    const source: ReplaySource = {
      reader: await archiveReader(app, store),
      digests: () => projectionDigests(app.runtime.db),
    };
    const { result, ms } = await timed(() => replay({ target: sqlReplayTarget(db), source, checker, compare: true }));
    if (!result.ok) throw new Error(`restore failed: ${JSON.stringify(result.finding ?? result.differences)}`);
    return { perSecond: perSecond(result.records, ms), records: result.records };
  } finally {
    await db.close();
    await fresh.drop();
  }
}

export async function replayBenchmark(log: (line: string) => void): Promise<ReplayFigures> {
  const threads = availableParallelism();
  const name = `chainbook_bench_replay_${Date.now().toString(36)}`;
  const app = await benchApp(name, { keep: false, reuse: false, poolSize: 8 });
  const folder = benchDir('replay-archive');
  // One pool of worker threads for every measurement, warmed first (module load, JIT): each is timed alike.
  const checker = workerChecker(app.runtime.registry, threads);
  try {
    await makeChain(app.deps, REPLAY_EVENTS);
    await app.runtime.db.query('VACUUM ANALYZE events');
    const records = (await app.runtime.store.head(app.deps.chain)).seq;
    log(`made a chain of ${format(records)} records (marketplace mix), ${threads} worker threads`);
    await verify(databaseReader(app.runtime.db), checker, { limit: 2000 });
    const verifyPerSecond = await auditVerify(databaseReader(app.runtime.db), checker);
    log(`audit-verify of the database: ${format(verifyPerSecond)} records/s`);
    const replayPerSecond = await replayInPlace(app, checker);
    log(`replay, every projection, digests equal to the live ones: ${format(replayPerSecond)} records/s`);
    const store = new FolderStore(folder);
    await exportFolder(app, store, threads);
    const archiveVerifyPerSecond = await auditVerify(await archiveReader(app, store), checker);
    log(`audit-verify of the folder archive: ${format(archiveVerifyPerSecond)} records/s`);
    const restored = await restore(app, store, checker);
    log(
      `DR restore from the folder archive into a fresh PostgreSQL, every projection, digests equal to the live ones: ${format(restored.perSecond)} records/s (${format(restored.records)} records)`,
    );
    return {
      records,
      threads,
      verifyPerSecond,
      replayPerSecond,
      archiveVerifyPerSecond,
      restorePerSecond: restored.perSecond,
      restoredRecords: restored.records,
    };
  } finally {
    await checker.close();
    rmSync(folder, { recursive: true, force: true });
    await app.dispose();
  }
}
