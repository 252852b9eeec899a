/**
 * RefundOrder: a paid or finalized order is refunded; the ledger posts the
 * reversal of the split, then the money back to the buyer. A share already
 * paid out to its party is recorded as owed by the party (the reversal reads
 * the payables' current balances).
 */
import { z } from 'zod';
import { textSchema } from '../../domain/schemas.ts';
import { refundPostings, saleCredits } from '../../domain/orders/orderPostings.ts';
import {
  expectedVersionSchema,
  loadStream,
  parseInput,
  type StreamAppend,
  type CommandContext,
  type CommandDeps,
  type CommandResult,
} from '../command.ts';
import { entityIdSchema } from '../decideStream.ts';
import { DELIVERY_EVENT_TYPES } from '../delivery/deliverOrder.ts';
import { DELIVERY_OBJECT_PREFIX } from '../delivery/sweepDeliveries.ts';
import { deliveryDecider } from '../../domain/delivery/deliveryDecider.ts';
import { streams } from '../../domain/streams.ts';
import { runOrderCommand } from './orderStreams.ts';

export const refundOrderInputSchema = z.strictObject({
  orderId: entityIdSchema,
  reason: textSchema,
  expectedVersion: expectedVersionSchema,
});

export async function refundOrder(deps: CommandDeps, input: unknown, context: CommandContext): Promise<CommandResult> {
  const { orderId, reason, expectedVersion } = parseInput(refundOrderInputSchema, input);
  const result = await runOrderCommand(
    deps,
    context,
    { operation: 'refundOrder', input },
    orderId,
    { type: 'RefundOrder', actor: context.actor, reason },
    {
      expectedVersion,
      postings: async (state) => {
        if (state.status === 'absent') return [];
        if (state.status !== 'finalized') return refundPostings(state.order, false);
        const accounts = saleCredits(state.order).map((credit) => credit.account);
        const balances = await deps.ledger.balances(accounts, state.order.currency);
        return refundPostings(state.order, true, (account) => balances.get(account) ?? 0);
      },
      alongside: async () => [await revokeDelivery(deps, context, orderId, reason)],
    },
  );
  // The chain keeps the records; every ciphertext of the order goes. A failed delete is left to the store's lifetime sweep.
  if (deps.delivery && result.events.some((event) => event.type === 'delivery.revoked')) {
    const { store } = deps.delivery;
    const keys = await store.keys(`${DELIVERY_OBJECT_PREFIX}${orderId}/`).catch(() => []);
    for (const key of keys) await store.delete(key).catch(() => undefined);
  }
  return result;
}

/** The delivery's revocation, decided on its stream (nothing when nothing was delivered). */
async function revokeDelivery(
  deps: CommandDeps,
  context: CommandContext,
  orderId: string,
  reason: string,
): Promise<StreamAppend> {
  const loaded = await loadStream(deps.store, streams.delivery(orderId), deliveryDecider, DELIVERY_EVENT_TYPES);
  const events = deliveryDecider.decide({ type: 'RevokeDelivery', actor: context.actor, reason }, loaded.state);
  return { stream: loaded.stream, expectedVersion: loaded.version, events };
}
