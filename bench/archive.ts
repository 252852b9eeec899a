/**
 * Benchmark: archive export (records verified in full, and with --verify
 * hashes) and archive verification speed (events/s) to a folder and to an
 * S3-compatible server on loopback (s3rver), and the time
 * to restore the whole chain from the archive into a fresh PostgreSQL
 * database with every projection rebuilt (disaster recovery).
 *
 *   node --import tsx bench/archive.ts [--events 1000000] [--threads N] [--batch-records 10000] [--no-s3] [--keep] [--reuse]
 *
 * The chain is made first through the real append path (bench/marketplaceChain.ts);
 * --keep keeps its database (chainbook_bench_archive) and --reuse measures it
 * again without making it. Targets (issue 5): export at least 50,000 events/s;
 * restore of 1,000,000 events with all projections in under 3 minutes.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import { readIndex } from '../archive/archiveIndex.ts';
import { ArchiveReader } from '../archive/archiveReader.ts';
import { appendExported } from '../archive/exportedEvent.ts';
import { exportArchive } from '../archive/exporter.ts';
import type { ObjectStore } from '../archive/objectStore.ts';
import { FolderStore } from '../infra/adapters/objectStores/folderStore.ts';
import { zlibCompression } from '../infra/adapters/objectStores/gzip.ts';
import { S3Store, s3Client } from '../infra/adapters/objectStores/s3Store.ts';
import { databaseReader } from '../infra/adapters/sql/databaseReader.ts';
import { replay } from '../projections/replay/replay.ts';
import { sqlReplayTarget } from '../infra/adapters/sql/replayTarget.ts';
import { openPostgres } from '../infra/adapters/sql/postgres.ts';
import { migrate } from '../infra/adapters/sql/migrate.ts';
import { workerChecker } from '../infra/adapters/workers/checkPool.ts';
import { EXPORT_PAGE_RECORDS } from '../infra/entrypoints/cli/export.ts';
import { projectionDigests } from '../projections/projections.ts';
import { verify } from '../verifier/verify.ts';
import { benchApp, numberOption, parseArguments, type BenchApp } from './benchDatabase.ts';
import { benchDatabase, benchDir } from './lib.ts';
import { makeChain } from './marketplaceChain.ts';

const options = parseArguments(process.argv.slice(2));
const EVENTS = numberOption(options, 'events', 1_000_000);
const THREADS = numberOption(options, 'threads', availableParallelism());
const BATCH_RECORDS = numberOption(options, 'batch-records', 10_000);
const SERVICE = 'bench';

const rate = (count: number, ms: number): number => Math.round((count * 1000) / Math.max(1, ms));

function progress(label: string): (done: number, total: number) => void {
  let shown = 0;
  return (done, total) => {
    if (done - shown < 50_000 && done < total) return;
    shown = done;
    process.stderr.write(`\r${label}: ${done} / ${total}   `);
  };
}

async function exportTo(
  app: BenchApp,
  store: ObjectStore,
  label: string,
  signatures = true,
): Promise<{ records: number; seconds: number; eventsPerS: number; batches: number }> {
  const checker = workerChecker(app.runtime.registry, THREADS, { signatures });
  const total = (await app.runtime.store.head(app.deps.chain)).seq;
  const shown = progress(`export to ${label}`);
  let records = 0;
  const started = performance.now();
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
      onBatch: (batch) => shown((records += batch.count), total),
    },
    {
      service: SERVICE,
      env: 'bench',
      version: '0.1.0',
      piiIncluded: false,
      piiPolicyVersion: 'bench',
      lockMode: 'COMPLIANCE',
      retentionDays: 1,
      batchRecords: BATCH_RECORDS,
      batchBytes: 32 * 1024 * 1024,
      chains: [app.deps.chain],
    },
  );
  const ms = performance.now() - started;
  await checker.close();
  process.stderr.write('\n');
  if (!report.ok) throw new Error(`export failed: ${JSON.stringify(report.finding)}`);
  return {
    records: report.records,
    seconds: ms / 1000,
    eventsPerS: rate(report.records, ms),
    batches: report.chains[0]!.batches.length,
  };
}

async function reader(app: BenchApp, store: ObjectStore): Promise<ArchiveReader> {
  return new ArchiveReader({
    store,
    compression: zlibCompression,
    registry: app.runtime.registry,
    index: await readIndex(store, SERVICE),
  });
}

async function verifyArchive(
  app: BenchApp,
  store: ObjectStore,
): Promise<{ ok: boolean; seconds: number; eventsPerS: number }> {
  const checker = workerChecker(app.runtime.registry, THREADS);
  const started = performance.now();
  const report = await verify(await reader(app, store), checker);
  const ms = performance.now() - started;
  await checker.close();
  if (!report.ok) throw new Error(`archive verification failed: ${JSON.stringify(report.finding)}`);
  return { ok: report.ok, seconds: ms / 1000, eventsPerS: rate(report.records, ms) };
}

/** Disaster recovery: the archive into a fresh PostgreSQL database, every projection rebuilt, digests compared with the live ones. */
async function restore(
  app: BenchApp,
  store: ObjectStore,
): Promise<{ records: number; seconds: number; eventsPerS: number; digestsMatchLive: boolean }> {
  const fresh = await benchDatabase('restore');
  const db = openPostgres(fresh.url, { poolSize: 2, applicationName: 'chainbook-bench' });
  try {
    await migrate(db);
    const checker = workerChecker(app.runtime.registry, THREADS);
    const shown = progress('restore from the archive');
    const started = performance.now();
    const report = await replay({
      target: sqlReplayTarget(db),
      source: { reader: await reader(app, store), digests: () => projectionDigests(app.runtime.db) },
      checker,
      compare: true,
      onProgress: ({ checked, total }) => shown(checked, total),
    });
    const ms = performance.now() - started;
    await checker.close();
    process.stderr.write('\n');
    if (!report.committed) throw new Error(`restore failed: ${JSON.stringify(report.finding)}`);
    return {
      records: report.records,
      seconds: ms / 1000,
      eventsPerS: rate(report.records, ms),
      digestsMatchLive: report.differences.length === 0,
    };
  } finally {
    await db.close();
    await fresh.drop();
  }
}

async function withS3<T>(work: (store: S3Store) => Promise<T>): Promise<T> {
  const directory = benchDir('s3rver');
  const server = new S3rver({ port: 0, address: '127.0.0.1', directory, silent: true });
  const { port } = await server.run();
  const client = s3Client({
    endpoint: `http://127.0.0.1:${port}`,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  });
  try {
    await client.send(new CreateBucketCommand({ Bucket: 'bench-archive' }));
    return await work(new S3Store(client, { bucket: 'bench-archive', prefix: 'audit' }));
  } finally {
    client.destroy();
    await server.close();
    rmSync(directory, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const app = await benchApp('chainbook_bench_archive', {
    keep: options.has('keep') || options.has('reuse'),
    reuse: options.has('reuse'),
    poolSize: 8,
  });
  const folder = benchDir('archive');
  try {
    if ((await app.runtime.store.head(app.deps.chain)).seq === 0) await makeChain(app.deps, EVENTS);
    const records = (await app.runtime.store.head(app.deps.chain)).seq;
    const store = new FolderStore(folder);
    const folderExport = await exportTo(app, store, 'a folder');
    const folderVerify = await verifyArchive(app, store);
    const hashesFolder = benchDir('archive-hashes');
    const hashesExport = await exportTo(app, new FolderStore(hashesFolder), 'a folder, --verify hashes', false).finally(
      () => rmSync(hashesFolder, { recursive: true, force: true }),
    );
    const s3 = options.has('no-s3')
      ? undefined
      : await withS3(async (s3Store) => ({
          export: await exportTo(app, s3Store, 'S3 (s3rver on loopback)'),
          verify: await verifyArchive(app, s3Store),
        }));
    const restored = await restore(app, store);
    const result = {
      benchmark: 'archive',
      engine: 'postgres',
      records,
      threads: THREADS,
      batchRecords: BATCH_RECORDS,
      folder: { export: folderExport, exportVerifyHashes: hashesExport, verify: folderVerify },
      ...(s3 ? { s3 } : {}),
      restoreFromFolder: restored,
    };
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    mkdirSync('bench/results', { recursive: true });
    writeFileSync(`bench/results/archive-${Date.now()}.json`, `${JSON.stringify(result, null, 2)}\n`);
  } finally {
    rmSync(folder, { recursive: true, force: true });
    await app.dispose();
  }
}

await main();
