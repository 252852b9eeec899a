/**
 * A marketplace chain for the benchmarks, made through the real append path
 * (group commit, signatures, inline projections): per order order.created,
 * order.paid, ledger.posted, order.finalized, ledger.posted, decided by the
 * domain as the handlers would.
 */
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
import {
  deliveryKey,
  demoArtifactFields,
  listProduct,
  PAYMENT_WEBHOOK,
  type ListedProduct,
} from '../commands/demo/marketplaceFlow.ts';

const ORDERS_PER_APPEND = 20;
const APPENDS_IN_FLIGHT = 4;

const buyer = { id: 'bench-buyer', role: 'Buyer' };

/** The five events of one order, decided by the domain as the handlers would, with their streams and expected versions. */
function eventsOf(
  orderId: string,
  listingState: ReturnType<typeof fold>,
  key: string,
  index: number,
): AppendEventInput[] {
  const decide = (command: OrderCommand, events: DomainEvent[]) =>
    orderDecider.decide(command, fold(orderDecider, events as never) as never) as DomainEvent[];
  const created = decide(
    {
      type: 'CreateOrder',
      actor: buyer,
      orderId,
      listing: listingState as never,
      deliveryPublicKey: key,
      platformFeeBasisPoints: PLATFORM_FEE_BASIS_POINTS,
    },
    [],
  );
  const order = (created[0] as Extract<DomainEvent, { type: 'order.created' }>).data;
  const paid = decide(
    {
      type: 'RecordPayment',
      actor: PAYMENT_WEBHOOK,
      providerPaymentId: `bench-pay-${index}`,
      amountMinor: order.priceMinor,
      currency: order.currency,
      outcome: 'succeeded',
    },
    created,
  );
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
    return {
      stream,
      type: event.type,
      data: event.data as unknown as JsonObject,
      actor: PAYMENT_WEBHOOK,
      expectedVersion,
    };
  });
}

/** Appends about `events` events (whole orders of five) to the deps' chain. */
export async function makeChain(deps: CommandDeps, events: number): Promise<void> {
  const publisher = { id: 'bench-publisher', role: 'Publisher' };
  const listed: ListedProduct[] = [];
  for (let index = 0; index < 10; index++) {
    listed.push(
      await listProduct(deps, publisher, {
        name: `product ${index}`,
        version: '1',
        priceMinor: 700 + index * 13,
        currency: 'EUR',
        ...demoArtifactFields(1),
        royaltySplits: [
          { partyId: publisher.id, basisPoints: 7000 },
          { partyId: `artist-${index}`, basisPoints: 3000 },
        ],
      }),
    );
  }
  const listings = await Promise.all(
    listed.map(
      async (l) =>
        (await loadStream(deps.store, streams.listing(l.listingId), listingDecider, LISTING_EVENT_TYPES)).state,
    ),
  );
  const key = deliveryKey();
  const orders = Math.ceil(events / 5);
  let next = 0;
  const started = performance.now();
  const lane = async (): Promise<void> => {
    while (next < orders) {
      const first = next;
      next = Math.min(orders, next + ORDERS_PER_APPEND);
      const events: AppendEventInput[] = [];
      for (let index = first; index < next; index++)
        events.push(...eventsOf(`bench-order-${index}`, listings[index % listings.length]! as never, key, index));
      await deps.store.append(deps.chain, events);
      if (first % 20_000 < ORDERS_PER_APPEND)
        process.stderr.write(
          `\rmaking the chain: ${next * 5} / ${orders * 5} events, ${Math.round((next * 5 * 1000) / (performance.now() - started))} events/s`,
        );
    }
  };
  await Promise.all(Array.from({ length: APPENDS_IN_FLIGHT }, lane));
  process.stderr.write('\n');
}
