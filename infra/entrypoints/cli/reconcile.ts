/**
 * `chainbook reconcile --report FILE`: the reconciliation `POST /reconcile`
 * runs (commands/reconciliation/reconcile.ts), from a file, on the
 * configured store, by the operator at the terminal. The run is recorded in
 * the chain as over HTTP; the report (JSON, or CSV with --csv) goes to
 * standard output. Exit 0 when every line matched, 1 when discrepancies were
 * found or the report was refused, 2 when it could not run.
 */
import { createReadStream, statSync } from 'node:fs';
import { userInfo } from 'node:os';
import type { Command } from 'commander';
import { contextFor } from '../../../commands/context.ts';
import { reconcile } from '../../../commands/reconciliation/reconcile.ts';
import { reconciliationReport } from '../../../projections/reconciliation/reconciliationQueries.ts';
import { reportCsv } from '../../../projections/reconciliation/reportCsv.ts';
import { openApp } from '../../wiring/app.ts';
import { loadConfig } from '../../wiring/config.ts';
import { EXIT, UsageError, writeOut } from './io.ts';

interface ReconcileOptions {
  report: string;
  from: string;
  to: string;
  format?: string;
  csv?: boolean;
  reconciliationId?: string;
}

function sizeOf(path: string): number {
  try {
    return statSync(path).size;
  } catch (error) {
    throw new UsageError(`cannot read the report ${path}: ${(error as Error).message}`);
  }
}

async function run(options: ReconcileOptions): Promise<number> {
  const format = options.format ?? (/\.(jsonl|ndjson)$/i.test(options.report) ? 'jsonl' : 'csv');
  const sizeBytes = sizeOf(options.report);
  const app = await openApp(loadConfig());
  try {
    const result = await reconcile(
      app.deps,
      {
        format,
        from: options.from,
        to: options.to,
        sizeBytes,
        ...(options.reconciliationId !== undefined ? { reconciliationId: options.reconciliationId } : {}),
      },
      createReadStream(options.report, { highWaterMark: 256 * 1024 }),
      contextFor({ id: `cli-${userInfo().username}`, role: 'Operator' }),
    );
    const report = (await reconciliationReport(app.runtime.db, result.reconciliationId))!;
    await writeOut(options.csv === true ? reportCsv(report) : `${JSON.stringify(report, null, 2)}\n`);
    const counts = Object.entries(result.counts)
      .filter(([, count]) => count > 0)
      .map(([kind, count]) => `${kind} ${count}`)
      .join(', ');
    process.stderr.write(
      `reconciliation ${result.reconciliationId}: report sha256 ${result.reportSha256}, ${report.lineCount} lines (${counts || 'empty'}); ${result.discrepancyCount} discrepancies recorded at seq ${result.seqs.join(', ')}\n`,
    );
    return result.discrepancyCount === 0 ? EXIT.ok : EXIT.failed;
  } finally {
    await app.close();
  }
}

export function registerReconcile(program: Command, exit: (code: number) => void): void {
  program
    .command('reconcile')
    .description(
      "reconcile the ledger with a payment provider's report of a period (docs/FORMAT.md section 12) and record the run; exit 1 when it found discrepancies",
    )
    .requiredOption('--report <file>', 'the report: CSV, or JSON Lines (.jsonl, .ndjson)')
    .requiredOption('--from <date>', 'first day of the period (2025-11-01) or an RFC 3339 UTC time')
    .requiredOption('--to <date>', 'last day of the period, inclusive, or an RFC 3339 UTC time')
    .option('--format <csv|jsonl>', 'the report format (default: from the file name)')
    .option('--csv', 'print the discrepancies as CSV instead of the JSON report')
    .option('--reconciliation-id <id>', 'the run id (default: a new UUID)')
    .action(async (options: ReconcileOptions) => exit(await run(options)));
}
