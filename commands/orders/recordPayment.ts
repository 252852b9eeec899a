/**
 * RecordPayment: the payment provider's webhook. A success pays the order and
 * posts the money to buyer clearing; the same payment id again is a no-op; a
 * failure is recorded and the order keeps waiting.
 */
import { z } from 'zod';
import { amountSchema, currencySchema, idSchema, textSchema } from '../../domain/schemas.ts';
import { paymentPosting } from '../../domain/orders/orderPostings.ts';
import {
  expectedVersionSchema,
  parseInput,
  type CommandContext,
  type CommandDeps,
  type CommandResult,
} from '../command.ts';
import { entityIdSchema } from '../decideStream.ts';
import { runOrderCommand } from './orderStreams.ts';

export const recordPaymentInputSchema = z.strictObject({
  orderId: entityIdSchema,
  providerPaymentId: idSchema,
  amountMinor: amountSchema,
  currency: currencySchema,
  outcome: z.enum(['succeeded', 'failed']),
  failureReason: textSchema.optional(),
  expectedVersion: expectedVersionSchema,
});

export function recordPayment(deps: CommandDeps, input: unknown, context: CommandContext): Promise<CommandResult> {
  const { orderId, expectedVersion, ...payment } = parseInput(recordPaymentInputSchema, input);
  const command = { type: 'RecordPayment' as const, actor: context.actor, ...payment };
  return runOrderCommand(deps, context, { operation: 'recordPayment', input }, orderId, command, {
    expectedVersion,
    postings: (state) =>
      state.status === 'absent' || payment.outcome === 'failed'
        ? []
        : [paymentPosting(state.order, payment.providerPaymentId)],
  });
}
