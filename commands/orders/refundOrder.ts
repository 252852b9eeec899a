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
  parseInput,
  type CommandContext,
  type CommandDeps,
  type CommandResult,
} from '../command.ts';
import { entityIdSchema } from '../decideStream.ts';
import { runOrderCommand } from './orderStreams.ts';

export const refundOrderInputSchema = z.strictObject({
  orderId: entityIdSchema,
  reason: textSchema,
  expectedVersion: expectedVersionSchema,
});

export function refundOrder(deps: CommandDeps, input: unknown, context: CommandContext): Promise<CommandResult> {
  const { orderId, reason, expectedVersion } = parseInput(refundOrderInputSchema, input);
  return runOrderCommand(
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
    },
  );
}
