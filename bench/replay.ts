/**
 * Benchmark: replay speed (events/s to verify and rebuild every projection
 * from the chain) against chain-only verify speed, in the same run, on
 * PostgreSQL.
 *
 *   node --import tsx bench/replay.ts [--events 1000000] [--threads N] [--keep] [--reuse]
 *
 * The chain is made first through the real append path (group commit,
 * signatures, inline projections) from marketplace events: per order
 * order.created, order.paid, ledger.posted, order.finalized, ledger.posted.
 * --keep keeps the database (chainbook_bench_replay) and --reuse measures it
 * again without making it. Target (issue 3): 1,000,000 events in under 2 minutes.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { databaseReader } from '../infra/adapters/sql/databaseReader.ts';
import { replay } from '../projections/replay/replay.ts';
import { sqlReplayTarget } from '../infra/adapters/sql/replayTarget.ts';
import { workerChecker } from '../infra/adapters/workers/checkPool.ts';
import { verify } from '../verifier/verify.ts';
import { benchApp, numberOption, parseArguments } from './benchDatabase.ts';
import { makeChain } from './marketplaceChain.ts';

const options = parseArguments(process.argv.slice(2));
const EVENTS = numberOption(options, 'events', 1_000_000);
const THREADS = numberOption(options, 'threads', availableParallelism());
async function main(): Promise<void> {
  const app = await benchApp('chainbook_bench_replay', {
    keep: options.has('keep') || options.has('reuse'),
    reuse: options.has('reuse'),
    poolSize: 8,
  });
  try {
    if ((await app.runtime.store.head(app.deps.chain)).seq === 0) await makeChain(app.deps, EVENTS);
    const records = (await app.runtime.store.head(app.deps.chain)).seq;
    const registry = app.runtime.registry;
    let checker = workerChecker(registry, THREADS);
    const verified = await verify(databaseReader(app.runtime.db), checker, { chains: [app.deps.chain] });
    await checker.close();
    checker = workerChecker(registry, THREADS);
    const replayed = await replay({
      target: sqlReplayTarget(app.runtime.db),
      checker,
      compare: true,
      onProgress: ({ checked, total }) => {
        if (checked % 50_000 < 1000 || checked === total) process.stderr.write(`\rreplaying: ${checked} / ${total}`);
      },
    });
    await checker.close();
    process.stderr.write('\n');
    const rate = (count: number, ms: number) => Math.round((count * 1000) / Math.max(1, ms));
    const result = {
      benchmark: 'replay',
      engine: 'postgres',
      records,
      threads: THREADS,
      verifyOnly: {
        ok: verified.ok,
        seconds: verified.elapsedMs / 1000,
        eventsPerS: rate(verified.records, verified.elapsedMs),
      },
      replay: {
        ok: replayed.ok,
        seconds: replayed.elapsedMs / 1000,
        eventsPerS: rate(replayed.records, replayed.elapsedMs),
        digestsMatchLive: replayed.differences.length === 0,
      },
    };
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    mkdirSync('bench/results', { recursive: true });
    writeFileSync(`bench/results/replay-${Date.now()}.json`, `${JSON.stringify(result, null, 2)}\n`);
  } finally {
    await app.dispose();
  }
}

await main();
