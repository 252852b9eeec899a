/**
 * Runs the benchmarks and prints figures with ratios measured in the same run.
 *   npm run bench                 every benchmark
 *   npm run bench -- append       any of: crypto, append, tree, verify, notify, inspect
 */
import { appendBenchmark, notifyBenchmark, treeCost } from './append.ts';
import { cryptoBenchmark } from './crypto.ts';
import { verifyBenchmark } from './verify.ts';
import { format, ratio } from './lib.ts';
import { inspectBenchmark } from './inspect.ts';

const selected = new Set(process.argv.slice(2));
const wanted = (name: string): boolean => selected.size === 0 || selected.has(name);
const log = (line: string): void => void process.stdout.write(`${line}\n`);

if (wanted('crypto')) {
  log('# Ed25519: node:crypto against @noble/ed25519, one core');
  const f = cryptoBenchmark(log);
  log(
    `node:crypto is ${format(f.nodeSign / f.nobleSign)}x @noble to sign, ${format(f.nodeVerify / f.nobleVerify)}x to verify; ${ratio(f.nodeSign, f.opensslSign)} of openssl sign, ${ratio(f.nodeVerify, f.opensslVerify)} of openssl verify`,
  );
}

if (wanted('append')) {
  log('# append (PostgreSQL, single-event appends)');
  const f = await appendBenchmark(log);
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

if (selected.has('notify')) {
  log("# the subscriptions' append NOTIFY (PostgreSQL, single-event appends)");
  const f = await notifyBenchmark(log);
  log(`with it: ${ratio(f.withNotify, f.without)} of the rate without it`);
}

if (wanted('verify')) {
  log('# audit-verify (PostgreSQL)');
  const f = await verifyBenchmark(log);
  log(`ratio to openssl verify/s × cores (the limit): ${ratio(f.recordsPerSecond, f.limit)}`);
}

if (selected.has('inspect')) {
  log('# content inspection, every built-in plugin on (yara through the yara command)');
  const f = await inspectBenchmark(log);
  log(`inspection is ${format(f.sharePercent)}% of a manifest submission's latency (p50)`);
}
