/**
 * `chainbook replay`: drops and rebuilds every projection from the chain,
 * verifying each record as it folds it; or, with --from-database,
 * --from-data-dir or --from-archive, restores a fresh database from another
 * one or from the archive (disaster recovery), ledger proof documents
 * included (rebuilt from the chain). Prints the
 * projection digests; --compare checks them against the live projections
 * (exit 1 on any difference) and, in place, is a pure check: the rebuild is
 * rolled back unless --rebuild asks to keep it.
 */
import { availableParallelism } from 'node:os';
import type { Command } from 'commander';
import { projectionDigests } from '../../../projections/projections.ts';
import { inProcessChecker } from '../../../verifier/inProcessChecker.ts';
import { loadConfig } from '../../wiring/config.ts';
import { openDatabase } from '../../wiring/runtime.ts';
import type { SignerRegistry } from '../../../chain/registry.ts';
import { openArchiveReader } from '../../wiring/archiveTargets.ts';
import { databaseReader } from '../../adapters/sql/databaseReader.ts';
import { replay, type ReplayReport, type ReplaySource } from '../../../projections/replay/replay.ts';
import type { ProofDocumentsReport } from '../../../projections/replay/proofDocuments.ts';
import { sqlReplayTarget } from '../../adapters/sql/replayTarget.ts';
import { workerChecker } from '../../adapters/workers/checkPool.ts';
import { registryFor } from './auditVerify.ts';
import { EXIT, formatCount, parseCount, progressLine, UsageError } from './io.ts';
import { openDatabaseSource } from './sources.ts';

interface ReplayCommandOptions {
  databaseUrl?: string;
  dataDir?: string;
  fromDatabase?: string;
  fromDataDir?: string;
  fromArchive?: string;
  service?: string;
  compareDatabase?: string;
  force?: boolean;
  signers?: string;
  compare?: boolean;
  rebuild?: boolean;
  dryRun?: boolean;
  threads?: string;
  json?: boolean;
  progress: boolean;
}

/** What became of the ledger proof documents; a proof not rebuilt is not a failure (the chain holds it). */
function proofDocumentLines(documents: ProofDocumentsReport): string[] {
  const { kept, rebuilt, notRebuilt, problems } = documents;
  if (kept + rebuilt + notRebuilt === 0) return [];
  const lines = [
    `ledger proof documents: ${formatCount(rebuilt)} rebuilt from the chain, ${formatCount(kept)} kept already, ${formatCount(notRebuilt)} not rebuildable`,
  ];
  for (const problem of problems)
    lines.push(`  proof ${problem.proofId} (chain ${problem.chain} seq ${problem.seq}): ${problem.reason}`);
  if (notRebuilt > problems.length) lines.push(`  and ${formatCount(notRebuilt - problems.length)} more`);
  return lines;
}

function describe(report: ReplayReport, copying: boolean): string {
  const lines: string[] = [];
  const rate = report.elapsedMs > 0 ? Math.round((report.records * 1000) / report.elapsedMs) : report.records;
  const status = report.finding
    ? 'FAILED: nothing was rebuilt'
    : report.committed
      ? copying
        ? 'restored and rebuilt'
        : 'rebuilt'
      : 'dry run, rolled back';
  lines.push(`replay: ${report.ok ? 'OK' : 'FAILED'} (${status})`);
  if (report.finding)
    lines.push(
      `  chain ${report.finding.chain} seq ${report.finding.seq}: ${report.finding.reason}: ${report.finding.message}`,
    );
  for (const chain of report.chains)
    lines.push(
      `  ${chain.chain}: ${formatCount(chain.records)} records${chain.records > 0 ? ` (seq ${chain.fromSeq}..${chain.toSeq}), last hash ${chain.lastHash}` : ''}`,
    );
  lines.push(
    `  ${formatCount(report.records)} records verified and folded in ${(report.elapsedMs / 1000).toFixed(2)} s (${formatCount(rate)} records/s), from ${report.source}`,
  );
  if (Object.keys(report.digests).length > 0) lines.push('projection digests:');
  for (const [name, digest] of Object.entries(report.digests)) {
    const against = report.compared?.[name];
    const verdict = against === undefined ? '' : against === digest ? '  = live' : `  DIFFERS from live ${against}`;
    lines.push(`  ${name.padEnd(10)} ${digest}${verdict}`);
  }
  for (const line of report.trialBalance)
    lines.push(
      `trial balance ${line.currency}: debits ${line.debitMinor}, credits ${line.creditMinor}, total ${line.totalMinor}`,
    );
  lines.push(...proofDocumentLines(report.proofDocuments));
  return `${lines.join('\n')}\n`;
}

interface OpenedReplaySource {
  source: ReplaySource;
  close(): Promise<void>;
}

/** A database given as a PostgreSQL URL or as the data folder of an embedded one. */
function databaseOption(value: string): { databaseUrl: string } | { dataDir: string } {
  return /^postgres(ql)?:\/\//.test(value) ? { databaseUrl: value } : { dataDir: value };
}

async function openReplaySource(
  options: ReplayCommandOptions,
  config: ReturnType<typeof loadConfig>,
  registry: SignerRegistry,
): Promise<OpenedReplaySource | undefined> {
  const given = [options.fromDatabase, options.fromDataDir, options.fromArchive].filter(
    (value) => value !== undefined,
  ).length;
  if (given > 1) throw new UsageError('give one of --from-database, --from-data-dir or --from-archive');
  if ((options.service !== undefined || options.compareDatabase !== undefined) && options.fromArchive === undefined)
    throw new UsageError('--service and --compare-database go with --from-archive');
  if (options.fromArchive !== undefined) return openArchiveSource(options.fromArchive, options, config, registry);
  if (given === 0) return undefined;
  const db = await openDatabaseSource(
    options.fromDatabase !== undefined ? { databaseUrl: options.fromDatabase } : { dataDir: options.fromDataDir! },
    config,
  );
  return { source: { reader: databaseReader(db), digests: () => projectionDigests(db) }, close: () => db.close() };
}

/** The archive, verified as it is read; --compare-database names the live database whose digests the restore must reproduce. */
async function openArchiveSource(
  target: string,
  options: ReplayCommandOptions,
  config: ReturnType<typeof loadConfig>,
  registry: SignerRegistry,
): Promise<OpenedReplaySource> {
  const live =
    options.compareDatabase === undefined
      ? undefined
      : await openDatabaseSource(databaseOption(options.compareDatabase), config);
  try {
    const archive = await openArchiveReader(target, config.archive, registry, options.service);
    return {
      source: { reader: archive.reader, ...(live ? { digests: () => projectionDigests(live) } : {}) },
      async close() {
        archive.close();
        await live?.close();
      },
    };
  } catch (error) {
    await live?.close();
    throw error;
  }
}

async function run(options: ReplayCommandOptions): Promise<number> {
  const config = loadConfig();
  const registry = registryFor(options.signers);
  if (options.fromArchive !== undefined && options.compare === true && options.compareDatabase === undefined) {
    throw new UsageError(
      '--compare with --from-archive needs --compare-database <url|dir>: the live database whose digests the restore must reproduce',
    );
  }
  if (options.databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(options.databaseUrl))
    throw new UsageError('--database-url must be a postgres:// or postgresql:// URL');
  if (options.rebuild === true && (options.compare !== true || options.dryRun === true))
    throw new UsageError('--rebuild goes with --compare, and not with --dry-run');
  const from = await openReplaySource(options, config, registry);
  // In place, --compare only checks: the projections are left as they were unless --rebuild says otherwise.
  const checkOnly = from === undefined && options.compare === true && options.rebuild !== true;
  const target = await openDatabase({
    databaseUrl: options.databaseUrl ?? (options.dataDir ? undefined : config.databaseUrl),
    dataDir: options.dataDir ?? config.dataDir,
    preparedStatements: config.preparedStatements,
  }).catch(async (error: unknown) => {
    await from?.close();
    throw error;
  });
  const threads = options.threads !== undefined ? parseCount(options.threads, '--threads', 0) : availableParallelism();
  const checker = threads === 0 ? inProcessChecker(registry) : workerChecker(registry, threads);
  const progress = progressLine(options.progress && !options.json && process.stderr.isTTY === true);
  const started = Date.now();
  try {
    const report = await replay({
      target: sqlReplayTarget(target),
      source: from?.source,
      checker,
      compare: options.compare === true || options.compareDatabase !== undefined,
      replaceExisting: options.force === true,
      dryRun: options.dryRun === true || checkOnly,
      onProgress: ({ chain, checked, total }) => {
        const rate = Math.round((checked * 1000) / Math.max(1, Date.now() - started));
        progress.update(
          `replaying ${chain}: ${formatCount(checked)} / ${formatCount(total)} (${Math.floor((checked * 100) / Math.max(1, total))}%), ${formatCount(rate)} records/s`,
        );
      },
    });
    progress.done();
    process.stdout.write(options.json ? `${JSON.stringify(report)}\n` : describe(report, from !== undefined));
    return report.ok ? EXIT.ok : EXIT.failed;
  } finally {
    progress.done();
    await checker.close();
    await target.close();
    await from?.close();
  }
}

export function registerReplay(program: Command, exit: (code: number) => void): void {
  program
    .command('replay')
    .description(
      'drop and rebuild every projection from the chain, verifying each record; or restore a fresh database from another (exit 0 ok, 1 verification failure or digest difference, 2 could not run)',
    )
    .option('-d, --database-url <url>', 'the database to rebuild (default: DATABASE_URL, else the embedded database)')
    .option(
      '--data-dir <dir>',
      'data folder of the embedded database to rebuild (default: CHAINBOOK_DATA_DIR or ./.chainbook)',
    )
    .option('--from-database <url>', 'restore from this PostgreSQL database into the (empty) target')
    .option('--from-data-dir <dir>', 'restore from the embedded database of this data folder into the (empty) target')
    .option(
      '--from-archive <target>',
      'disaster recovery from the archive (a folder or s3://bucket/prefix): every batch, manifest and record verified, into the (empty) target',
    )
    .option('--service <name>', "with --from-archive: the archive's service (default: its only one)")
    .option(
      '--compare-database <url|dir>',
      'with --from-archive: compare the rebuilt digests with this live database (PostgreSQL URL or data folder); exit 1 on any difference',
    )
    .option(
      '--force',
      'restore into a target whose event log is not empty: empty it first, in the same transaction (needs a superuser)',
    )
    .option('-s, --signers <file>', 'signer registry to verify records against (default: the registry in use)')
    .option(
      '--compare',
      "compare the rebuilt digests with the live projections' (the target's, or the source's); exit 1 on any difference; in place a pure check, rolled back (the projection tables are locked while it runs)",
    )
    .option(
      '--rebuild',
      'with --compare in place: keep the rebuilt projections (without it, --compare changes nothing)',
    )
    .option('--dry-run', 'roll back at the end: verify, rebuild and compare without changing anything')
    .option('--threads <n>', 'worker threads for signature checks (default: one per core; 0 checks on the main thread)')
    .option('--json', 'print the report as JSON')
    .option('--no-progress', 'no progress line on the terminal')
    .action(async (options: ReplayCommandOptions) => exit(await run(options)));
}
