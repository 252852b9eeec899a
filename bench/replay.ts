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
import type { AppendEventInput } from '../chain/input.ts';
import type { JsonObject } from '../domain/json.ts';
import type { DomainEvent } from '../domain/domainEvents.ts';
import { orderDecider, type OrderCommand } from '../domain/orders/orderDecider.ts';
import { finalizePosting, paymentPosting, PLATFORM_FEE_BASIS_POINTS } from '../domain/orders/orderPostings.ts';
import { listingDecider } from '../domain/catalog/listingDecider.ts';
import { fold } from '../domain/decider.ts';
import { streamOf } from '../domain/streams.ts';
import { LISTING_EVENT_TYPES } from '../commands/catalog/listingCommands.ts';
import { loadStream, type CommandDeps } from '../commands/command.ts';
import { streams } from '../domain/streams.ts';
import { deliveryKey, listProduct, PAYMENT_WEBHOOK, type ListedProduct } from '../infra/demo/marketplaceFlow.ts';
import { databaseReader } from '../infra/readers/databaseReader.ts';
import { replay } from '../infra/replay/replay.ts';
import { workerChecker } from '../infra/workers/checkPool.ts';
import { verify } from '../verifier/verify.ts';
import { benchApp, numberOption, parseArguments } from './benchDatabase.ts';

const options = parseArguments(process.argv.slice(2));
const EVENTS = numberOption(options, 'events', 1_000_000);
const THREADS = numberOption(options, 'threads', availableParallelism());
const ORDERS_PER_APPEND = 20;
const APPENDS_IN_FLIGHT = 4;

const buyer = { id: 'bench-buyer', role: 'Buyer' };

/** The five events of one order, decided by the domain as the handlers would, with their streams and expected versions. */
function eventsOf(orderId: string, listingState: ReturnType<typeof fold>, key: string, index: number): AppendEventInput[] {
  const decide = (command: OrderCommand, events: DomainEvent[]) => orderDecider.decide(command, fold(orderDecider, events as never) as never) as DomainEvent[];
  const created = decide({ type: 'CreateOrder', actor: buyer, orderId, listing: listingState as never, deliveryPublicKey: key, platformFeeBasisPoints: PLATFORM_FEE_BASIS_POINTS }, []);
  const order = (created[0] as Extract<DomainEvent, { type: 'order.created' }>).data;
  const paid = decide({ type: 'RecordPayment', actor: PAYMENT_WEBHOOK, providerPaymentId: `bench-pay-${index}`, amountMinor: order.priceMinor, currency: order.currency, outcome: 'succeeded' }, created);
  const finalized = decide({ type: 'FinalizeOrder', actor: PAYMENT_WEBHOOK }, [...created, ...paid]);
  const sequence: DomainEvent[] = [
    ...created,
    ...paid,
    { type: 'ledger.posted', data: paymentPosting(order, `bench-pay-${index}`) },
    ...finalized,
    { type: 'ledger.posted', data: finalizePosting(order) },
  ];
  const versions = new Map<string, number>();
  return sequence.map((event) => {
    const stream = streamOf(event);
    const expectedVersion = versions.get(stream) ?? 0;
    versions.set(stream, expectedVersion + 1);
    return { stream, type: event.type, data: event.data as unknown as JsonObject, actor: PAYMENT_WEBHOOK, expectedVersion };
  });
}

async function makeChain(deps: CommandDeps): Promise<void> {
  const publisher = { id: 'bench-publisher', role: 'Publisher' };
  const listed: ListedProduct[] = [];
  for (let index = 0; index < 10; index++) {
    listed.push(await listProduct(deps, publisher, {
      name: `product ${index}`, version: '1', priceMinor: 700 + index * 13, currency: 'EUR', artifactSha256: 'b'.repeat(64), sizeBytes: 1,
      royaltySplits: [{ partyId: publisher.id, basisPoints: 7000 }, { partyId: `artist-${index}`, basisPoints: 3000 }],
    }));
  }
  const listings = await Promise.all(listed.map(async (l) => (await loadStream(deps.store, streams.listing(l.listingId), listingDecider, LISTING_EVENT_TYPES)).state));
  const key = deliveryKey();
  const orders = Math.ceil(EVENTS / 5);
  let next = 0;
  const started = performance.now();
  const lane = async (): Promise<void> => {
    while (next < orders) {
      const first = next;
      next = Math.min(orders, next + ORDERS_PER_APPEND);
      const events: AppendEventInput[] = [];
      for (let index = first; index < next; index++) events.push(...eventsOf(`bench-order-${index}`, listings[index % listings.length]! as never, key, index));
      await deps.store.append(deps.chain, events);
      if (first % 20_000 < ORDERS_PER_APPEND) process.stderr.write(`\rmaking the chain: ${next * 5} / ${orders * 5} events, ${Math.round((next * 5 * 1000) / (performance.now() - started))} events/s`);
    }
  };
  await Promise.all(Array.from({ length: APPENDS_IN_FLIGHT }, lane));
  process.stderr.write('\n');
}

async function main(): Promise<void> {
  const app = await benchApp('chainbook_bench_replay', { keep: options.has('keep') || options.has('reuse'), reuse: options.has('reuse'), poolSize: 8 });
  try {
    if ((await app.runtime.store.head(app.deps.chain)).seq === 0) await makeChain(app.deps);
    const records = (await app.runtime.store.head(app.deps.chain)).seq;
    const registry = app.runtime.registry;
    let checker = workerChecker(registry, THREADS);
    const verified = await verify(databaseReader(app.runtime.db), checker, { chains: [app.deps.chain] });
    await checker.close();
    checker = workerChecker(registry, THREADS);
    const replayed = await replay({ target: app.runtime.db, checker, compare: true, onProgress: ({ checked, total }) => {
        if (checked % 50_000 < 1000 || checked === total) process.stderr.write(`\rreplaying: ${checked} / ${total}`);
      } });
    await checker.close();
    process.stderr.write('\n');
    const rate = (count: number, ms: number) => Math.round((count * 1000) / Math.max(1, ms));
    const result = {
      benchmark: 'replay', engine: 'postgres', records, threads: THREADS,
      verifyOnly: { ok: verified.ok, seconds: verified.elapsedMs / 1000, eventsPerS: rate(verified.records, verified.elapsedMs) },
      replay: { ok: replayed.ok, seconds: replayed.elapsedMs / 1000, eventsPerS: rate(replayed.records, replayed.elapsedMs), digestsMatchLive: replayed.differences.length === 0 },
    };
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    mkdirSync('bench/results', { recursive: true });
    writeFileSync(`bench/results/replay-${Date.now()}.json`, `${JSON.stringify(result, null, 2)}\n`);
  } finally {
    await app.dispose();
  }
}

await main();
