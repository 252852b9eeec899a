/** RefundOrder: a paid or finalized order is refunded; the ledger posts the reversal, then the payout. */
import { z } from 'zod';
import { textSchema } from '../../domain/schemas.ts';
import { refundPostings } from '../../domain/orders/orderPostings.ts';
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
      postings: (state) => (state.status === 'absent' ? [] : refundPostings(state.order, state.status === 'finalized')),
    },
  );
}
