/**
 * Benchmark of the HTTP API on loopback against PostgreSQL: `chainbook serve`
 * in a process of its own, an open-loop client in this one (requests sent on
 * schedule at a fixed offered rate, latency from when each was due). Two phases:
 * checkout (POST /orders), then finalize (POST /orders/:id/finalize) of orders
 * paid in between. Prints requests/s and latency p50/p95/p99 with the ratio
 * to the targets: the marketplace runbook's checkout p95 < 500 ms, and ours,
 * p95 < 25 ms at 1,000 requests/s. The ceiling and the latency at half of it
 * are `npm run bench -- http` (bench/httpCeiling.ts).
 *
 *   node --import tsx bench/http.ts [--rate 1000] [--duration 20] [--connections 32] [--products 20] [--warmup 3]
 *
 * The first --warmup seconds of checkouts at the offered rate are not measured.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { numberOption, parseArguments } from './benchDatabase.ts';
import { format } from './lib.ts';
import {
  checkouts,
  createdOrders,
  finalization,
  listProducts,
  openLoop,
  payAll,
  startBenchServer,
  type PhaseFigures,
} from './httpLoad.ts';

const options = parseArguments(process.argv.slice(2));
const RATE = numberOption(options, 'rate', 1000);
const DURATION_SECONDS = numberOption(options, 'duration', 20);
const CONNECTIONS = numberOption(options, 'connections', 32);
const PRODUCTS = numberOption(options, 'products', 20);
/** Seconds of checkouts at the offered rate before measuring (JIT, pools, prepared statements). */
const WARMUP_SECONDS = numberOption(options, 'warmup', 3);
const TARGET_P95_MS = 25;
const RUNBOOK_P95_MS = 500;

function report(phases: readonly PhaseFigures[]): void {
  process.stdout.write(
    `\nHTTP API on loopback, PostgreSQL, offered ${format(RATE)} requests/s, ${CONNECTIONS} connections\n`,
  );
  for (const p of phases) {
    process.stdout.write(
      `  ${p.name.padEnd(9)} ${format(p.requests)} requests (${p.non2xx} not 2xx${p.non2xx > 0 ? `: ${JSON.stringify(p.failures)}` : ''}), ${format(p.requestsPerSecond)}/s (${((p.requestsPerSecond / RATE) * 100).toFixed(0)}% of offered); ` +
        `p50 ${format(p.p50Ms)} ms, p95 ${format(p.p95Ms)} ms, p99 ${format(p.p99Ms)} ms; p95 is ${((p.p95Ms / TARGET_P95_MS) * 100).toFixed(0)}% of our ${TARGET_P95_MS} ms target, ` +
        `${((p.p95Ms / RUNBOOK_P95_MS) * 100).toFixed(1)}% of the runbook's ${RUNBOOK_P95_MS} ms\n`,
    );
  }
}

async function main(): Promise<void> {
  const server = await startBenchServer('http');
  try {
    const listings = await listProducts(server, PRODUCTS);
    const checkout = checkouts(listings, 'bench');
    const at = (name: string, total: number) => ({ name, rate: RATE, total, connections: CONNECTIONS });
    if (WARMUP_SECONDS > 0)
      await openLoop(server, { ...at('warm-up', RATE * WARMUP_SECONDS), as: 'buyer' }, checkout.next);
    const checkedOut = await openLoop(
      server,
      { ...at('checkout', RATE * DURATION_SECONDS), as: 'buyer' },
      checkout.next,
    );
    const created = createdOrders(checkedOut.succeeded, listings);
    await payAll(server, created);
    let finalized = 0;
    const finalize = await openLoop(
      server,
      { ...at('finalize', Math.min(created.length, RATE * DURATION_SECONDS)), as: 'service' },
      () => {
        const order = created[finalized++];
        return order && finalization(order);
      },
    );
    report([checkedOut, finalize]);
    mkdirSync('bench/results', { recursive: true });
    writeFileSync(
      `bench/results/http-${new Date().toISOString().replaceAll(':', '-')}.json`,
      `${JSON.stringify({ rate: RATE, connections: CONNECTIONS, durationSeconds: DURATION_SECONDS, phases: [checkedOut, finalize].map(({ succeeded: _, ...figures }) => figures) }, null, 2)}\n`,
    );
  } finally {
    await server.stop();
  }
}

await main();
