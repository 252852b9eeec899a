/**
 * Benchmark: the full checkout → paid → finalize flow (3 commands, 5 events:
 * order.created; order.paid + ledger.posted; order.finalized + ledger.posted)
 * with concurrent clients on PostgreSQL, through the command handlers and the
 * inline projections, exactly as the HTTP API will run them.
 *
 *   node --import tsx bench/checkoutFlow.ts [--orders 20000] [--clients 8] [--rate 500] [--keep]
 *
 * --rate paces the clients to that many orders per second in total (open
 * loop: latency is measured at that load); without it they go flat out.
 * Target (issue 3): p99 finalize under 50 ms at 500 orders/s.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Actor } from '../domain/actor.ts';
import {
  deliveryKey,
  demoArtifactFields,
  listProduct,
  purchase,
  type ListedProduct,
  type Purchase,
} from '../commands/demo/marketplaceFlow.ts';
import { benchApp, numberOption, parseArguments, percentile } from './benchDatabase.ts';

const options = parseArguments(process.argv.slice(2));
const ORDERS = numberOption(options, 'orders', 20_000);
const CLIENTS = numberOption(options, 'clients', 8);
const RATE = numberOption(options, 'rate', 0);
const PRODUCTS = 20;

function summary(values: number[]): { p50: number; p99: number; max: number } {
  const sorted = [...values].sort((a, b) => a - b);
  const round = (value: number) => Math.round(value * 100) / 100;
  return {
    p50: round(percentile(sorted, 0.5)),
    p99: round(percentile(sorted, 0.99)),
    max: round(sorted[sorted.length - 1] ?? 0),
  };
}

async function main(): Promise<void> {
  const app = await benchApp('chainbook_bench_flow', {
    keep: options.has('keep'),
    reuse: false,
    poolSize: CLIENTS + 4,
  });
  try {
    const publishers: Actor[] = Array.from({ length: 5 }, (_, index) => ({
      id: `publisher-${index}`,
      role: 'Publisher',
    }));
    const listings: ListedProduct[] = [];
    for (let index = 0; index < PRODUCTS; index++) {
      const publisher = publishers[index % publishers.length]!;
      listings.push(
        await listProduct(app.deps, publisher, {
          name: `product ${index}`,
          version: '1.0.0',
          priceMinor: 500 + index * 37,
          currency: 'EUR',
          ...demoArtifactFields(1024),
          royaltySplits: [
            { partyId: publisher.id, basisPoints: 8000 },
            { partyId: `artist-${index % 3}`, basisPoints: 2000 },
          ],
        }),
      );
    }
    const keys = Array.from({ length: 16 }, () => deliveryKey());
    const purchases: Purchase[] = [];
    let next = 0;
    const started = performance.now();
    const intervalMs = RATE > 0 ? 1000 / RATE : 0;
    const client = async (clientIndex: number): Promise<void> => {
      const buyer: Actor = { id: `buyer-${clientIndex}`, role: 'Buyer' };
      while (next < ORDERS) {
        const index = next++;
        const due = started + index * intervalMs;
        if (intervalMs > 0 && performance.now() < due) await sleep(due - performance.now());
        purchases.push(
          await purchase(
            app.deps,
            buyer,
            listings[index % listings.length]!,
            `bench-pay-${index}`,
            keys[index % keys.length]!,
          ),
        );
      }
    };
    await Promise.all(Array.from({ length: CLIENTS }, (_, index) => client(index)));
    const elapsedS = (performance.now() - started) / 1000;
    const events = purchases.reduce(
      (sum, p) => sum + p.results.checkout.seqs.length + p.results.paid.seqs.length + p.results.finalized.seqs.length,
      0,
    );
    const result = {
      benchmark: 'checkout-flow',
      engine: 'postgres',
      orders: purchases.length,
      clients: CLIENTS,
      targetRate: RATE || 'unpaced',
      elapsedS: Math.round(elapsedS * 100) / 100,
      ordersPerS: Math.round(purchases.length / elapsedS),
      commandsPerS: Math.round((purchases.length * 3) / elapsedS),
      eventsPerS: Math.round(events / elapsedS),
      latencyMs: {
        checkout: summary(purchases.map((p) => p.latencyMs.checkout)),
        paid: summary(purchases.map((p) => p.latencyMs.paid)),
        finalize: summary(purchases.map((p) => p.latencyMs.finalized)),
      },
    };
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    mkdirSync('bench/results', { recursive: true });
    writeFileSync(`bench/results/checkoutFlow-${Date.now()}.json`, `${JSON.stringify(result, null, 2)}\n`);
  } finally {
    await app.dispose();
  }
}

await main();
