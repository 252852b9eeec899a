/**
 * The Prometheus alert rules (deploy/prometheus/): `promtool check rules` accepts every rules file,
 * and `promtool test rules` passes each one's unit tests, in which every alert both fires and stays
 * quiet. Every metric a rule reads is one this code exports (infra/adapters/metrics.ts). promtool
 * comes with Debian's prometheus package (scripts/ci/install-tools.sh installs it); without it the
 * promtool tests are skipped, saying so.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { metricsRegistry } from '../../infra/adapters/metrics.ts';
import { metricNamesIn } from '../helpers/promql.ts';

const FOLDER = join(process.cwd(), 'deploy', 'prometheus');
const RULE_FILES = readdirSync(FOLDER)
  .filter((name) => name.endsWith('.rules.yml'))
  .sort();

const promtoolFound = spawnSync('promtool', ['--version'], { encoding: 'utf8' }).status === 0;
const withPromtool = promtoolFound ? test : test.skip;
if (!promtoolFound) {
  console.log(
    'promtool not found: the alert rule checks are skipped (apt-get install prometheus, or scripts/ci/install-tools.sh)',
  );
}

function promtool(args: readonly string[]): { status: number | null; output: string } {
  const result = spawnSync('promtool', args, { cwd: FOLDER, encoding: 'utf8', timeout: 60_000 });
  return { status: result.status, output: result.stdout + result.stderr };
}

function alertsIn(text: string, pattern: RegExp): string[] {
  return [...new Set([...text.matchAll(pattern)].map((match) => match[1]!))].sort();
}

test('there are rules, and each rules file has a test file that tests every one of its alerts', (t) => {
  t.true(RULE_FILES.length >= 3, RULE_FILES.join(', '));
  for (const file of RULE_FILES) {
    const alerts = alertsIn(readFileSync(join(FOLDER, file), 'utf8'), /^\s*- alert: (\w+)/gm);
    const tested = alertsIn(
      readFileSync(join(FOLDER, file.replace(/\.yml$/, '.test.yml')), 'utf8'),
      /^\s*alertname: (\w+)/gm,
    );
    t.true(alerts.length > 0, file);
    t.deepEqual(tested, alerts, file);
  }
});

/** The alerts the runbooks (kernel guide 9, finance 10, marketplace 10, signing outage 1, security pipeline) and issue 18 list, and the rule of each. */
const REQUIRED_ALERTS: Readonly<Record<string, string>> = {
  'KMS errors': 'ChainbookSigningErrors',
  'KMS latency': 'ChainbookSigningLatencyHigh',
  'signing proxy down': 'ChainbookSigningProxyDown',
  'audit append failures': 'ChainbookAuditAppendFailures',
  'export failures': 'ChainbookAuditExportFailures',
  'a stale archive': 'ChainbookArchiveStale',
  'proof generation failures': 'ChainbookProofGenerationFailures',
  'ledger imbalance': 'ChainbookLedgerImbalance',
  'failed ledger posts': 'ChainbookLedgerPostFailures',
  'signature mismatches (verification failures)': 'ChainbookVerificationFailures',
  'reconciliation discrepancies': 'ChainbookReconciliationDiscrepancies',
  'delivery encryption failures': 'ChainbookDeliveryFailureRateHigh',
  'unauthorized manifest acceptance attempts': 'ChainbookUnauthorizedManifestApproval',
  '429 share above 10%': 'ChainbookRateLimitedShareHigh',
  'inspection p95 above 500 ms': 'ChainbookContentInspectionSlow',
};

test('every alert the runbooks and the issue list has a rule', (t) => {
  const defined = new Set(
    RULE_FILES.flatMap((file) => alertsIn(readFileSync(join(FOLDER, file), 'utf8'), /^\s*- alert: (\w+)/gm)),
  );
  for (const [what, alert] of Object.entries(REQUIRED_ALERTS))
    t.true(defined.has(alert), `${what}: ${alert} is missing`);
});

test('every metric the rules read is one this code exports', async (t) => {
  const exported = new Set((await metricsRegistry.getMetricsAsJSON()).map((metric) => metric.name));
  const read = new Set<string>();
  for (const file of RULE_FILES) {
    const text = readFileSync(join(FOLDER, file), 'utf8');
    for (const match of text.matchAll(/^\s*expr: ([\s\S]*?)\n\s*(?:for|labels):/gm))
      for (const name of metricNamesIn(match[1]!)) read.add(name);
  }
  t.true(read.size >= 8, [...read].join(', '));
  for (const name of read) t.true(exported.has(name), `${name} is not exported`);
});

withPromtool('promtool check rules accepts every rules file', (t) => {
  const result = promtool(['check', 'rules', ...RULE_FILES]);
  t.is(result.status, 0, result.output);
  t.is((result.output.match(/SUCCESS/g) ?? []).length, RULE_FILES.length, result.output);
});

withPromtool('promtool test rules passes the unit tests of every rules file', (t) => {
  const result = promtool(['test', 'rules', ...RULE_FILES.map((file) => file.replace(/\.yml$/, '.test.yml'))]);
  t.is(result.status, 0, result.output);
  t.notRegex(result.output, /FAILED/);
});
