/**
 * Reconciliation of a large provider report, with its peak memory: a CSV of
 * N charge lines (default 1,000,000) written to a temporary file, then read
 * as `chainbook reconcile --report FILE` reads it (a file stream through
 * reportLines and the classifier, commands/reconciliation/), against a
 * ledger of N matching payments held in memory (what
 * providerExpectations loads for a period), so that every line is checked,
 * hashed, deduplicated and matched. The database is left out: its part is
 * one query for the period and one append of the run.
 *
 * Run: node --import tsx bench/reconcile.ts [--lines 1000000]
 * Prints the RSS before, after the ledger's expectations are built and the
 * peak (getrusage maxrss), the time, and a JSON summary.
 */
import { createReadStream, createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { reportLines, type ReportDigest } from '../commands/reconciliation/providerReport.ts';
import { classifier, expectationKey, type LedgerExpectation } from '../domain/reconciliation/lineClassifier.ts';

function option(name: string, fallback: number): number {
  const index = process.argv.indexOf(name);
  return index < 0 ? fallback : Number(process.argv[index + 1]);
}

const mib = (bytes: number): string => (bytes / 1024 / 1024).toFixed(1);
const LINES = option('--lines', 1_000_000);
const directory = mkdtempSync(join(tmpdir(), 'chainbook-reconcile-bench-'));
const file = join(directory, 'report.csv');

async function writeReport(): Promise<void> {
  const out = createWriteStream(file);
  out.write('id,type,amount,fee,currency,created,reference\n');
  for (let index = 1; index <= LINES; index++) {
    const line = `txn_${index},charge,${1000 + (index % 5000)},0,EUR,2025-11-${String(1 + (index % 28)).padStart(2, '0')}T10:00:00Z,order-${index}\n`;
    if (!out.write(line)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'close');
}

try {
  await writeReport();
  const rssStart = process.memoryUsage().rss;
  const expectations = new Map<string, LedgerExpectation>();
  for (let index = 1; index <= LINES; index++)
    expectations.set(expectationKey('charge', `order-${index}`), {
      type: 'charge',
      reference: `order-${index}`,
      amountMinor: 1000 + (index % 5000),
      currency: 'EUR',
      orderIds: [`order-${index}`],
      partyIds: ['publisher-1'],
      inPeriod: true,
    });
  const rssLedger = process.memoryUsage().rss;
  const started = performance.now();
  const lines = classifier(expectations);
  const digest: Partial<ReportDigest> = {};
  let discrepancies = 0;
  for await (const line of reportLines(createReadStream(file, { highWaterMark: 256 * 1024 }), 'csv', digest))
    if (lines.add(line)) discrepancies += 1;
  discrepancies += lines.finish().length;
  const seconds = (performance.now() - started) / 1000;
  const peakRss = process.resourceUsage().maxRSS * 1024;
  const summary = {
    lines: digest.lines,
    reportMiB: Number(mib(statSync(file).size)),
    seconds: Number(seconds.toFixed(2)),
    linesPerSecond: Math.round((digest.lines ?? 0) / seconds),
    matched: lines.counts.matched,
    discrepancies,
    rssStartMiB: Number(mib(rssStart)),
    rssAfterLedgerMiB: Number(mib(rssLedger)),
    peakRssMiB: Number(mib(peakRss)),
  };
  process.stdout.write(
    `reconcile: ${summary.lines} lines (${summary.reportMiB} MiB) in ${summary.seconds} s (${summary.linesPerSecond}/s), ${summary.matched} matched, ${summary.discrepancies} discrepancies; RSS ${summary.rssStartMiB} MiB at start, ${summary.rssAfterLedgerMiB} MiB with the ledger's ${LINES} expectations, peak ${summary.peakRssMiB} MiB\n${JSON.stringify(summary)}\n`,
  );
} finally {
  rmSync(directory, { recursive: true, force: true });
}
