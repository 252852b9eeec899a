/**
 * Runs the benchmarks and prints figures with ratios measured in the same run.
 *   npm run bench                 every benchmark
 *   npm run bench -- append       any of: crypto, append, tree, verify, notify, proofs, stream, sandbox,
 *                                 browser-verify, inspect, tracing, chains, latency, tail, curve, http, append-cpu,
 *                                 export, replay
 * It ends with issue 19's table, each figure as a ratio to its limit or peer measured in this run, with
 * the rows of the sections that ran: all of them with
 *   npm run bench -- crypto append verify export replay http
 */
import { appendBenchmark, notifyBenchmark, treeCost } from './append.ts';
import { appendCpuBenchmark } from './appendCpu.ts';
import { cryptoBenchmark } from './crypto.ts';
import { verifyBenchmark } from './verify.ts';
import { exportBenchmark } from './export.ts';
import { streamBenchmark } from './stream.ts';
import { sandboxBenchmark } from './sandbox.ts';
import { proofBenchmark } from './proofs.ts';
import { browserVerifyBenchmark } from './browserVerify.ts';
import { availableParallelism, loadavg } from 'node:os';
import { format, ratio } from './lib.ts';
import { inspectBenchmark } from './inspect.ts';
import { tracingCost } from './tracing.ts';
import { chainsBenchmark, costCurveBenchmark, latencyBenchmark } from './scaling.ts';
import { httpBenchmark, httpRatios, README_CHECKOUT_CEILING } from './httpCeiling.ts';
import { tailBenchmark } from './tail.ts';
import { replayBenchmark, REPLAY_EVENTS } from './replayRatios.ts';
import type { AppendFigures } from './append.ts';
import type { CryptoFigures } from './crypto.ts';
import type { VerifyFigures } from './verify.ts';

const selected = new Set(process.argv.slice(2));
const wanted = (name: string): boolean => selected.size === 0 || selected.has(name);
const log = (line: string): void => void process.stdout.write(`${line}\n`);

/** The machine's load, printed at the start and the end: figures from a loaded machine are ratios, not absolutes. */
const loadAverage = (): string =>
  loadavg()
    .map((value) => value.toFixed(2))
    .join(' ');
log(`# ${new Date().toISOString()}, load average ${loadAverage()} (1, 5, 15 min), ${availableParallelism()} cores`);

/** Issue 19's rows, in the issue's order; those of the sections that ran are printed at the end. */
const TABLE_ORDER = [
  'append64',
  'append8',
  'p99',
  'verify',
  'replay',
  'restore',
  'exportFull',
  'exportHashes',
  'httpCeiling',
  'httpP95',
  'pglite',
] as const;
/** Each row: a figure and its limit or peer, this run. */
const table = new Map<(typeof TABLE_ORDER)[number], string>();
let cryptoFigures: CryptoFigures | undefined;
let appendFigures: AppendFigures | undefined;
let verifyFigures: VerifyFigures | undefined;

if (wanted('crypto')) {
  log('# Ed25519: node:crypto against @noble/ed25519, one core');
  const f = cryptoBenchmark(log);
  cryptoFigures = f;
  log(
    `node:crypto is ${format(f.nodeSign / f.nobleSign)}x @noble to sign, ${format(f.nodeVerify / f.nobleVerify)}x to verify; ${ratio(f.nodeSign, f.opensslSign)} of openssl sign, ${ratio(f.nodeVerify, f.opensslVerify)} of openssl verify`,
  );
}

if (wanted('append')) {
  log('# append (PostgreSQL, single-event appends)');
  const f = await appendBenchmark(log);
  appendFigures = f;
  log(
    `ratio to raw INSERT (the limit): ${ratio(f.chainbook64, f.raw)} at 64 in flight, ${ratio(f.chainbook8, f.raw)} at 8`,
  );
  if (f.emmett64 !== undefined && f.emmett8 !== undefined) {
    log(
      `ratio to Emmett: ${format(f.chainbook64 / f.emmett64)}x at 64 in flight, ${format(f.chainbook8 / f.emmett8)}x at 8`,
    );
  }
}

if (wanted('tree')) {
  log('# append with and without the Merkle tree (PostgreSQL, single-event appends)');
  const f = await treeCost(log);
  log(`ratio with the tree to without: ${ratio(f.withTree, f.withoutTree)}`);
}

if (selected.has('append-cpu')) {
  log("# where an append's CPU goes: main thread, other threads, PostgreSQL backends (single-event appends)");
  await appendCpuBenchmark(log);
}

if (selected.has('tracing')) {
  log('# tracing off and on (PostgreSQL, single-event appends)');
  await tracingCost(log);
}

if (selected.has('notify')) {
  log("# the subscriptions' append NOTIFY (PostgreSQL, single-event appends)");
  const f = await notifyBenchmark(log);
  log(`with it: ${ratio(f.withNotify, f.without)} of the rate without it`);
}

if (selected.has('proofs')) {
  log('# proof sizes and generation time (PostgreSQL at 1,000 and 100,000 records; in memory at 1,000,000)');
  await proofBenchmark(log);
}

if (wanted('verify')) {
  log('# audit-verify (PostgreSQL)');
  const f = await verifyBenchmark(log);
  verifyFigures = f;
  log(`ratio to openssl verify/s × cores (the limit): ${ratio(f.recordsPerSecond, f.limit)}`);
}

if (selected.has('export')) {
  log('# export to a folder against audit-verify of the same chain (PostgreSQL)');
  const f = await exportBenchmark(log);
  log(
    `export verified in full: ${ratio(f.exportFull.perSecond, f.auditVerify.perSecond)} of audit-verify's rate (target ≥ 90%), ${ratio(f.auditVerify.cpuMicrosecondsPerEvent, f.exportFull.cpuMicrosecondsPerEvent)} by CPU per event; --verify hashes: ${format(f.exportHashes.perSecond)} events/s (target ≥ 50,000), ${format(f.exportHashes.cpuMicrosecondsPerEvent)} µs of CPU an event (50,000/s on 2 cores allows 40, PostgreSQL's included)`,
  );
  table.set(
    'exportFull',
    `| export verified in full, against audit-verify of the same chain | ${format(f.exportFull.perSecond)} / ${format(f.auditVerify.perSecond)}: ${ratio(f.exportFull.perSecond, f.auditVerify.perSecond)} | ≥ 90% |`,
  );
  table.set(
    'exportHashes',
    `| export \`--verify hashes\` | ${format(f.exportHashes.perSecond)} events/s | ≥ 50,000/s |`,
  );
}

if (selected.has('stream')) {
  log('# the audit stream (PostgreSQL; chainbook serve in its own process)');
  const f = await streamBenchmark(log);
  log(
    `GET /chain/stream: ${ratio(f.httpPlain, f.dumpLessStart)} of chainbook dump's rate less its start-up (${ratio(f.httpPlain, f.dump)} of its wall-clock rate); delivery p99 is ${format(f.deliveryP99Ms - f.appendP99Ms)} ms above the appends' own p99`,
  );
}

if (selected.has('sandbox')) {
  log('# preview sandbox: bubblewrap, seccomp and prlimit around /bin/true, and the pool');
  const f = await sandboxBenchmark(log);
  log(
    `sandbox start-up overhead: +${format(f.sandboxP50Ms - f.directP50Ms)} ms at p50, +${format(f.sandboxP95Ms - f.directP95Ms)} ms at p95 over running it directly (prlimit alone: +${format(f.noCgroupsP50Ms - f.directP50Ms)} ms, +${format(f.noCgroupsP95Ms - f.directP95Ms)} ms); the pool at ${ratio(f.previewsPerSecond, f.bareSandboxPerSecond)} of bare sandboxed runs`,
  );
}

if (wanted('browser-verify')) {
  log('# an audit bundle checked in the browser (the auditor page) and in Node (audit-verify --archive)');
  const f = await browserVerifyBenchmark(log);
  log(
    `the page in Chromium: ${ratio(f.browserPerSecond, f.nodeMainThreadPerSecond)} of audit-verify on one thread, ${ratio(f.browserPerSecond, f.nodeWorkersPerSecond)} of audit-verify on ${f.workers} threads; the checker in Node: ${ratio(f.checkerNodePerSecond, f.nodeMainThreadPerSecond)} of audit-verify on one thread`,
  );
}

if (selected.has('inspect')) {
  log('# content inspection, every built-in plugin on (yara through the yara command)');
  const f = await inspectBenchmark(log);
  log(`inspection is ${format(f.sharePercent)}% of a manifest submission's latency (p50)`);
}

if (selected.has('chains')) {
  log('# several chains appended to at once (PostgreSQL, single-event appends)');
  const f = await chainsBenchmark(log);
  const one = f.rates.get(1)!;
  log(`against 1 chain: ${[...f.rates].map(([chains, rate]) => `${chains} chains ${format(rate / one)}x`).join(', ')}`);
}

if (selected.has('latency')) {
  log('# append latency at 1, 10 and 100 events per append (PostgreSQL)');
  await latencyBenchmark(log);
}

if (selected.has('tail')) {
  log('# what makes the single-append latency tail (PostgreSQL, one appender)');
  await tailBenchmark(log);
}

if (selected.has('curve')) {
  log('# the cost curve: appends and verification as the chain grows (PostgreSQL)');
  const points = await costCurveBenchmark(log);
  const first = points[0]!;
  for (const point of points.slice(1))
    log(
      `at ${format(point.records)} against ${format(first.records)} records: append ${ratio(point.appendPerSecond, first.appendPerSecond)}, p99 ${format(point.latency.p99 / first.latency.p99)}x, audit-verify ${ratio(point.verify[0]?.perSecond ?? 0, first.verify[0]?.perSecond ?? 1)}`,
    );
}

if (selected.has('http')) {
  log('# the HTTP API: the ceiling of checkout, payment and finalize (closed loop), p95 at half of it (open loop)');
  const f = await httpBenchmark(log);
  for (const line of httpRatios(f)) log(line);
  table.set(
    'httpCeiling',
    `| HTTP checkout ceiling, against the README's ${format(README_CHECKOUT_CEILING)}/s (2026-11-23) and GET /chain/head, same run | ${format(f.checkout.requestsPerSecond)}/s: ${format(f.checkout.requestsPerSecond / README_CHECKOUT_CEILING)}x; ${ratio(f.checkout.requestsPerSecond, f.headPerSecond)} of ${format(f.headPerSecond)}/s | ≥ 2x |`,
  );
  table.set(
    'httpP95',
    `| HTTP p95 at half the ceiling, checkout / finalize | ${format(f.halfCheckout.p95Ms)} / ${format(f.halfFinalize.p95Ms)} ms | < 25 ms |`,
  );
}

if (selected.has('replay')) {
  log(
    `# replay and DR restore against audit-verify of the same chain (PostgreSQL, ${format(REPLAY_EVENTS)} events: BENCH_REPLAY_EVENTS)`,
  );
  const f = await replayBenchmark(log);
  table.set(
    'replay',
    `| replay with every projection, against audit-verify of the same chain | ${format(f.replayPerSecond)} / ${format(f.verifyPerSecond)}: ${ratio(f.replayPerSecond, f.verifyPerSecond)} | ≥ 85% |`,
  );
  table.set(
    'restore',
    `| DR restore from a folder archive, against audit-verify of the same chain | ${format(f.restorePerSecond)} / ${format(f.verifyPerSecond)}: ${ratio(f.restorePerSecond, f.verifyPerSecond)} (of audit-verify of the archive ${format(f.archiveVerifyPerSecond)}: ${ratio(f.restorePerSecond, f.archiveVerifyPerSecond)}) | ≥ 85% |`,
  );
  log(table.get('replay')!);
  log(table.get('restore')!);
}

const c = cryptoFigures;
const a = appendFigures;
if (c && a)
  table.set(
    'append64',
    `| append, 64 in flight, against one core's node:crypto Ed25519 sign rate | ${format(a.chainbook64)} / ${format(c.nodeSign)}: ${ratio(a.chainbook64, c.nodeSign)} | ≥ 80% |`,
  );
if (a) {
  if (a.emmett8 !== undefined)
    table.set(
      'append8',
      `| append, 8 in flight, against Emmett at 8 | ${format(a.chainbook8)} / ${format(a.emmett8)}: ${format(a.chainbook8 / a.emmett8)}x | ≥ 3x |`,
    );
  table.set('p99', `| single append p99 (one appender, warm) | ${format(a.latencyP99Ms)} ms | ≤ 3 ms |`);
  table.set(
    'pglite',
    `| PGlite append against PostgreSQL append (64 in flight) | ${format(a.pglite64)} / ${format(a.chainbook64)}: ${ratio(a.pglite64, a.chainbook64)} | ≥ 70% |`,
  );
}
if (verifyFigures)
  table.set(
    'verify',
    `| audit-verify against openssl verify/s × cores | ${format(verifyFigures.recordsPerSecond)} / ${format(verifyFigures.limit)}: ${ratio(verifyFigures.recordsPerSecond, verifyFigures.limit)} | ≥ 90% |`,
  );
if (table.size > 0) {
  log("# issue 19's table, this run");
  log('| what | this run | target |');
  log('|---|---|---|');
  for (const key of TABLE_ORDER) if (table.has(key)) log(table.get(key)!);
}

log(`# done ${new Date().toISOString()}, load average ${loadAverage()}`);
