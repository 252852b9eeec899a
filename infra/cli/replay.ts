/**
 * `chainbook replay`: drops and rebuilds every projection from the chain,
 * verifying each record as it folds it; or, with --from-database or
 * --from-data-dir, restores a fresh database from another one. Prints the
 * projection digests; --compare checks them against the live projections
 * (exit 1 on any difference).
 */
import { availableParallelism } from 'node:os';
import type { Command } from 'commander';
import { projectionDigests } from '../../projections/projections.ts';
import { inProcessChecker } from '../../verifier/inProcessChecker.ts';
import { loadConfig } from '../config.ts';
import { openDatabase } from '../runtime.ts';
import type { SqlDatabase } from '../db/sql.ts';
import { databaseReader } from '../readers/databaseReader.ts';
import { replay, type ReplayReport, type ReplaySource } from '../replay/replay.ts';
import { workerChecker } from '../workers/checkPool.ts';
import { registryFor } from './auditVerify.ts';
import { EXIT, formatCount, parseCount, progressLine, UsageError } from './io.ts';
import { openDatabaseSource } from './sources.ts';

interface ReplayCommandOptions {
  databaseUrl?: string;
  dataDir?: string;
  fromDatabase?: string;
  fromDataDir?: string;
  signers?: string;
  compare?: boolean;
  dryRun?: boolean;
  threads?: string;
  json?: boolean;
  progress: boolean;
}

function describe(report: ReplayReport, copying: boolean): string {
  const lines: string[] = [];
  const rate = report.elapsedMs > 0 ? Math.round((report.records * 1000) / report.elapsedMs) : report.records;
  const status = report.finding ? 'FAILED: nothing was rebuilt' : report.committed ? (copying ? 'restored and rebuilt' : 'rebuilt') : 'dry run, rolled back';
  lines.push(`replay: ${report.ok ? 'OK' : 'FAILED'} (${status})`);
  if (report.finding) lines.push(`  chain ${report.finding.chain} seq ${report.finding.seq}: ${report.finding.reason}: ${report.finding.message}`);
  for (const chain of report.chains) lines.push(`  ${chain.chain}: ${formatCount(chain.records)} records${chain.records > 0 ? ` (seq ${chain.fromSeq}..${chain.toSeq}), last hash ${chain.lastHash}` : ''}`);
  lines.push(`  ${formatCount(report.records)} records verified and folded in ${(report.elapsedMs / 1000).toFixed(2)} s (${formatCount(rate)} records/s), from ${report.source}`);
  if (Object.keys(report.digests).length > 0) lines.push('projection digests:');
  for (const [name, digest] of Object.entries(report.digests)) {
    const against = report.compared?.[name];
    const verdict = against === undefined ? '' : against === digest ? '  = live' : `  DIFFERS from live ${against}`;
    lines.push(`  ${name.padEnd(10)} ${digest}${verdict}`);
  }
  for (const line of report.trialBalance) lines.push(`trial balance ${line.currency}: debits ${line.debitMinor}, credits ${line.creditMinor}, total ${line.totalMinor}`);
  return `${lines.join('\n')}\n`;
}

async function openReplaySource(options: ReplayCommandOptions, config: ReturnType<typeof loadConfig>): Promise<{ source: ReplaySource; db: SqlDatabase } | undefined> {
  if (options.fromDatabase === undefined && options.fromDataDir === undefined) return undefined;
  if (options.fromDatabase !== undefined && options.fromDataDir !== undefined) throw new UsageError('give --from-database or --from-data-dir, not both');
  const db = await openDatabaseSource(options.fromDatabase !== undefined ? { databaseUrl: options.fromDatabase } : { dataDir: options.fromDataDir! }, config);
  return { db, source: { reader: databaseReader(db), digests: () => projectionDigests(db) } };
}

async function run(options: ReplayCommandOptions): Promise<number> {
  const config = loadConfig();
  const registry = registryFor(options.signers);
  if (options.databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(options.databaseUrl)) throw new UsageError('--database-url must be a postgres:// or postgresql:// URL');
  const from = await openReplaySource(options, config);
  const target = await openDatabase({
    databaseUrl: options.databaseUrl ?? (options.dataDir ? undefined : config.databaseUrl),
    dataDir: options.dataDir ?? config.dataDir,
  }).catch(async (error: unknown) => {
    await from?.db.close();
    throw error;
  });
  const threads = options.threads !== undefined ? parseCount(options.threads, '--threads', 0) : availableParallelism();
  const checker = threads === 0 ? inProcessChecker(registry) : workerChecker(registry, threads);
  const progress = progressLine(options.progress && !options.json && process.stderr.isTTY === true);
  const started = Date.now();
  try {
    const report = await replay({
      target,
      source: from?.source,
      checker,
      compare: options.compare === true,
      dryRun: options.dryRun === true,
      onProgress: ({ chain, checked, total }) => {
        const rate = Math.round((checked * 1000) / Math.max(1, Date.now() - started));
        progress.update(`replaying ${chain}: ${formatCount(checked)} / ${formatCount(total)} (${Math.floor((checked * 100) / Math.max(1, total))}%), ${formatCount(rate)} records/s`);
      },
    });
    progress.done();
    process.stdout.write(options.json ? `${JSON.stringify(report)}\n` : describe(report, from !== undefined));
    return report.ok ? EXIT.ok : EXIT.failed;
  } finally {
    progress.done();
    await checker.close();
    await target.close();
    await from?.db.close();
  }
}

export function registerReplay(program: Command, exit: (code: number) => void): void {
  program
    .command('replay')
    .description('drop and rebuild every projection from the chain, verifying each record; or restore a fresh database from another (exit 0 ok, 1 verification failure or digest difference, 2 could not run)')
    .option('-d, --database-url <url>', 'the database to rebuild (default: DATABASE_URL, else the embedded database)')
    .option('--data-dir <dir>', 'data folder of the embedded database to rebuild (default: CHAINBOOK_DATA_DIR or ./.chainbook)')
    .option('--from-database <url>', 'restore from this PostgreSQL database into the (empty) target')
    .option('--from-data-dir <dir>', 'restore from the embedded database of this data folder into the (empty) target')
    .option('-s, --signers <file>', 'signer registry to verify records against (default: the registry in use)')
    .option('--compare', "compare the rebuilt digests with the live projections' (the target's before, or the source's); exit 1 on any difference")
    .option('--dry-run', 'roll back at the end: verify, rebuild and compare without changing anything')
    .option('--threads <n>', 'worker threads for signature checks (default: one per core; 0 checks on the main thread)')
    .option('--json', 'print the report as JSON')
    .option('--no-progress', 'no progress line on the terminal')
    .action(async (options: ReplayCommandOptions) => exit(await run(options)));
}
