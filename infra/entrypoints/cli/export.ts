/**
 * `chainbook export`: writes the chain's records after the archive's newest
 * batch as gzip JSON Lines batches with signed manifests (docs/FORMAT.md
 * section 8) to a folder or to S3 with Object Lock, and records each batch
 * as `archive.exported`. `--every 5m` runs it on a schedule beside the
 * service. Exit 0 ok, 1 an integrity failure (the database or the archive
 * failed a check), 2 could not run.
 */
import { CodedError } from '../../../domain/errors.ts';
import { reportError } from '../errorReporting.ts';
import { withMetricsPort } from './metricsPort.ts';
import { availableParallelism } from 'node:os';
import type { Command } from 'commander';
import { appendExported } from '../../../archive/exportedEvent.ts';
import { ExportConfigurationError } from '../../../archive/batchPipeline.ts';
import {
  clampBatchRecords,
  exportArchive,
  type ExportDependencies,
  type ExportReport,
  type ExportSettings,
} from '../../../archive/exporter.ts';
import type { ObjectStore } from '../../../archive/objectStore.ts';
import type { LineChecker } from '../../../verifier/reader.ts';
import { runExportSchedule } from '../../../archive/exportSchedule.ts';
import { MAX_ARCHIVE_BATCH_BYTES, MAX_ARCHIVE_BATCH_RECORDS } from '../../../archive/limits.ts';
import { inProcessChecker } from '../../../verifier/inProcessChecker.ts';
import { zlibCompression } from '../../adapters/objectStores/gzip.ts';
import { S3Store } from '../../adapters/objectStores/s3Store.ts';
import { closeStore, openArchiveStore } from '../../wiring/archiveTargets.ts';
import { loadConfig, type Config } from '../../wiring/config.ts';
import {
  archiveExportBatchesTotal,
  archiveExportLastSuccessSeconds,
  archiveExportRecordsTotal,
  auditExportFailuresTotal,
  auditExportSuccessTotal,
  verificationFailuresTotal,
} from '../../adapters/metrics.ts';
import { databaseReader } from '../../adapters/sql/databaseReader.ts';
import { openRuntime, type Runtime } from '../../wiring/runtime.ts';
import { VERSION } from '../../wiring/version.ts';
import { workerChecker } from '../../adapters/workers/checkPool.ts';
import { treeRootReader } from '../../adapters/sql/treeLog.ts';
import { EXIT, formatCount, parseCount, progressLine, UsageError, describeError } from './io.ts';

interface ExportOptions {
  to?: string;
  service?: string;
  chain?: string[];
  databaseUrl?: string;
  dataDir?: string;
  batchRecords?: string;
  batchMib?: string;
  every?: string;
  runs?: string;
  threads?: string;
  verify: string;
  json?: boolean;
  progress: boolean;
}

/** What export checks before a record goes into a batch (docs/FORMAT.md section 5): everything, or all but signatures. */
const VERIFY_MODES = ['full', 'hashes'] as const;

/**
 * Records per read of the event log while exporting: fewer, larger reads
 * (1000-record pages cost about twice as much per record on PostgreSQL).
 * A page is also what goes into a batch once all of it verified.
 */
export const EXPORT_PAGE_RECORDS = 5000;

/** Shortest --every: a schedule tighter than this is a loop, not a schedule. */
const MIN_INTERVAL_MS = 1000;

export function parseDuration(text: string): number {
  const match = /^(\d+)(ms|s|m|h)$/.exec(text);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;
  const value = match ? Number(match[1]) * unit[match[2] as keyof typeof unit] : Number.NaN;
  if (!Number.isSafeInteger(value) || value < MIN_INTERVAL_MS)
    throw new UsageError(`--every must be a duration of at least 1s, like 30s, 5m or 1h (got ${JSON.stringify(text)})`);
  return value;
}

function settingsFrom(options: ExportOptions, config: Config): ExportSettings {
  const batchRecords =
    options.batchRecords === undefined
      ? MAX_ARCHIVE_BATCH_RECORDS
      : parseCount(options.batchRecords, '--batch-records', 1);
  if (batchRecords > MAX_ARCHIVE_BATCH_RECORDS)
    throw new UsageError(`--batch-records is at most ${MAX_ARCHIVE_BATCH_RECORDS}`);
  const batchBytes =
    options.batchMib === undefined
      ? MAX_ARCHIVE_BATCH_BYTES
      : parseCount(options.batchMib, '--batch-mib', 1) * 1024 * 1024;
  if (batchBytes > MAX_ARCHIVE_BATCH_BYTES)
    throw new UsageError(`--batch-mib is at most ${MAX_ARCHIVE_BATCH_BYTES / 1024 / 1024}`);
  const service = options.service ?? config.archive.service;
  if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(service))
    throw new UsageError('--service must match ^[a-z0-9][a-z0-9-]{0,62}$');
  if (config.production && config.archive.piiPolicyVersion === undefined)
    throw new UsageError('ARCHIVE_PII_POLICY_VERSION must be set to export in production: manifests declare it');
  return {
    service,
    env: config.archive.env,
    version: VERSION,
    piiIncluded: config.archive.piiIncluded,
    piiPolicyVersion: config.archive.piiPolicyVersion ?? 'undeclared',
    lockMode: config.archive.lockMode,
    retentionDays: config.archive.retentionDays,
    batchRecords: clampBatchRecords(batchRecords),
    batchBytes,
    ...(options.chain ? { chains: options.chain } : {}),
  };
}

/** S3 must have Object Lock: refused in production without it, a warning elsewhere. A folder is read-only files, not WORM storage. */
export async function checkTarget(store: ReturnType<typeof openArchiveStore>, config: Config): Promise<void> {
  if (!(store instanceof S3Store)) {
    if (config.production)
      process.stderr.write(
        `export: warning: ${store.description} is a folder: files are made read-only, but only S3 with Object Lock is immutable storage\n`,
      );
    return;
  }
  const lock = await store.objectLockEnabled();
  if (lock.enabled) return;
  if (config.production) throw new UsageError(`refusing to export in production: ${lock.reason}`);
  process.stderr.write(
    `export: warning: ${lock.reason}; objects are written with Object Lock parameters all the same (refused when NODE_ENV=production)\n`,
  );
}

function describe(report: ExportReport, service: string, verify: string): string {
  const lines = [
    `export: ${report.ok ? 'OK' : 'FAILED'} to ${report.target} (service ${service}; records verified: ${verify})`,
  ];
  if (report.finding)
    lines.push(
      `  FAILED at chain ${report.finding.chain} seq ${report.finding.seq}: ${report.finding.reason}: ${report.finding.message}`,
    );
  for (const chain of report.chains) {
    const first = chain.batches[0];
    const last = chain.batches.at(-1);
    const what =
      first && last
        ? `seq ${first.fromSeq}..${last.toSeq} in ${chain.batches.length} batches`
        : `nothing exported (${chain.skipped ?? 'stopped'})`;
    lines.push(
      `  ${chain.chain}: ${what}; the archive was at seq ${chain.archivedSeq}, the database at ${chain.databaseSeq}`,
    );
  }
  const rate = report.elapsedMs > 0 ? Math.round((report.records * 1000) / report.elapsedMs) : report.records;
  lines.push(
    `  ${formatCount(report.records)} records in ${(report.elapsedMs / 1000).toFixed(2)} s (${formatCount(rate)} records/s)`,
  );
  return `${lines.join('\n')}\n`;
}

/** What an export of `runtime`'s database to `store` runs on, checking records with `checker` (the benchmark's too). */
export function exportDependencies(runtime: Runtime, store: ObjectStore, checker: LineChecker): ExportDependencies {
  return {
    store,
    compression: zlibCompression,
    database: databaseReader(runtime.db, EXPORT_PAGE_RECORDS),
    checker,
    registry: runtime.registry,
    signer: runtime.signer,
    nowMs: Date.now,
    recordExport: appendExported(runtime.store),
    treeRoot: treeRootReader(runtime.db),
  };
}

async function exportOnce(
  runtime: Runtime,
  store: ReturnType<typeof openArchiveStore>,
  settings: ExportSettings,
  options: ExportOptions,
): Promise<ExportReport> {
  const threads = options.threads !== undefined ? parseCount(options.threads, '--threads', 0) : availableParallelism();
  const checks = { signatures: options.verify === 'full' };
  const checker =
    threads === 0 ? inProcessChecker(runtime.registry, checks) : workerChecker(runtime.registry, threads, checks);
  const progress = progressLine(options.progress && !options.json && process.stderr.isTTY === true);
  const started = Date.now();
  let records = 0;
  try {
    return await exportArchive(
      {
        ...exportDependencies(runtime, store, checker),
        onBatch: (batch) => {
          records += batch.count;
          archiveExportBatchesTotal.inc({ service: settings.service, chain: batch.chain });
          archiveExportRecordsTotal.inc({ service: settings.service, chain: batch.chain }, batch.count);
          progress.update(
            `exporting ${batch.chain}: seq ${batch.toSeq}, ${formatCount(records)} records, ${formatCount(Math.round((records * 1000) / Math.max(1, Date.now() - started)))} records/s`,
          );
        },
      },
      settings,
    );
  } finally {
    progress.done();
    await checker.close();
  }
}

function recordOutcome(report: ExportReport, service: string): void {
  if (report.ok) {
    auditExportSuccessTotal.inc({ service });
    archiveExportLastSuccessSeconds.set({ service }, Date.now() / 1000);
  } else {
    auditExportFailuresTotal.inc({ service, reason: 'integrity' });
    if (report.finding) verificationFailuresTotal.inc({ source: 'export', reason: report.finding.reason });
  }
}

/** --every: one run per interval until SIGTERM or SIGINT (or --runs); archive/exportSchedule.ts decides what stops it. */
async function runScheduled(
  runtime: Runtime,
  store: ReturnType<typeof openArchiveStore>,
  settings: ExportSettings,
  options: ExportOptions,
  intervalMs: number,
): Promise<number> {
  const stopping = new AbortController();
  const stop = (): void => stopping.abort();
  process.once('SIGTERM', stop).once('SIGINT', stop);
  try {
    const ok = await runExportSchedule({
      intervalMs,
      runs: options.runs === undefined ? Number.POSITIVE_INFINITY : parseCount(options.runs, '--runs', 1),
      runOnce: () => exportOnce(runtime, store, settings, options),
      onReport(report) {
        recordOutcome(report, settings.service);
        process.stdout.write(
          options.json
            ? `${JSON.stringify(report)}\n`
            : `${new Date().toISOString()} ${describe(report, settings.service, options.verify)}`,
        );
      },
      isFatal: (error) => error instanceof ExportConfigurationError || error instanceof UsageError,
      onError(error) {
        auditExportFailuresTotal.inc({ service: settings.service, reason: 'error' });
        if (!(error instanceof CodedError)) reportError(error, { command: 'export --every' });
        process.stderr.write(
          `${new Date().toISOString()} export: run failed, retrying in ${intervalMs} ms: ${describeError(error)}\n`,
        );
      },
      signal: stopping.signal,
      nowMs: Date.now,
    });
    return ok ? EXIT.ok : EXIT.failed;
  } finally {
    process.removeListener('SIGTERM', stop).removeListener('SIGINT', stop);
  }
}

async function run(options: ExportOptions): Promise<number> {
  const loaded = loadConfig();
  if (options.databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(options.databaseUrl))
    throw new UsageError('--database-url must be a postgres:// or postgresql:// URL');
  const config: Config = {
    ...loaded,
    databaseUrl: options.databaseUrl ?? (options.dataDir ? undefined : loaded.databaseUrl),
    dataDir: options.dataDir ?? loaded.dataDir,
  };
  const settings = settingsFrom(options, config);
  if (!(VERIFY_MODES as readonly string[]).includes(options.verify))
    throw new UsageError(`--verify must be one of ${VERIFY_MODES.join(', ')}`);
  const intervalMs = options.every === undefined ? undefined : parseDuration(options.every);
  const store = openArchiveStore(options.to ?? config.archive.target, config.archive);
  try {
    await checkTarget(store, config);
    const runtime = await openRuntime(config);
    try {
      if (intervalMs !== undefined)
        return await withMetricsPort('export', () => runScheduled(runtime, store, settings, options, intervalMs));
      const report = await exportOnce(runtime, store, settings, options).catch((error: unknown) => {
        auditExportFailuresTotal.inc({ service: settings.service, reason: 'error' });
        throw error;
      });
      recordOutcome(report, settings.service);
      process.stdout.write(
        options.json ? `${JSON.stringify(report)}\n` : describe(report, settings.service, options.verify),
      );
      return report.ok ? EXIT.ok : EXIT.failed;
    } finally {
      await runtime.close();
    }
  } finally {
    closeStore(store);
  }
}

export function registerExport(program: Command, exit: (code: number) => void): void {
  program
    .command('export')
    .description(
      'archive the chain: gzip JSON Lines batches with signed manifests (docs/FORMAT.md section 8) in a folder or S3 with Object Lock, after the newest batch already there (exit 0 ok, 1 integrity failure, 2 could not run)',
    )
    .option(
      '--to <target>',
      'a folder, or s3://bucket/prefix (default: ARCHIVE_TARGET, else s3://S3_AUDIT_BUCKET, else <data dir>/archive)',
    )
    .option(
      '--service <name>',
      "the archive's top folder and the manifests' service (default: ARCHIVE_SERVICE or chainbook)",
    )
    .option('--chain <name...>', 'chains to export (default: every chain)')
    .option('-d, --database-url <url>', 'PostgreSQL to export from (default: DATABASE_URL, else the embedded database)')
    .option('--data-dir <dir>', 'data folder of the embedded database (default: CHAINBOOK_DATA_DIR or ./.chainbook)')
    .option('--batch-records <n>', `records per batch, at most ${MAX_ARCHIVE_BATCH_RECORDS} (the default)`)
    .option(
      '--batch-mib <n>',
      `uncompressed MiB per batch, at most ${MAX_ARCHIVE_BATCH_BYTES / 1024 / 1024} (the default)`,
    )
    .option('--every <duration>', 'keep running: export every 30s, 5m, 1h … until SIGTERM or SIGINT')
    .option('--runs <n>', 'with --every: stop after n runs')
    .option('--threads <n>', 'worker threads for signature checks (default: one per core; 0 checks on the main thread)')
    .option(
      '--verify <mode>',
      'full: every check of docs/FORMAT.md section 5 before a record is archived; hashes: all but signatures (faster; a forged signature is then archived for good, and found only by audit-verify)',
      'full',
    )
    .option('--json', 'print the report as JSON (one line per run)')
    .option('--no-progress', 'no progress line on the terminal')
    .action(async (options: ExportOptions) => exit(await run(options)));
}
