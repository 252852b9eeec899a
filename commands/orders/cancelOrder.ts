/** CancelOrder: the buyer (or an operator) cancels an order that was not paid. */
import { z } from 'zod';
import { textSchema } from '../../domain/schemas.ts';
import {
  expectedVersionSchema,
  parseInput,
  type CommandContext,
  type CommandDeps,
  type CommandResult,
} from '../command.ts';
import { entityIdSchema } from '../decideStream.ts';
import { runOrderCommand } from './orderStreams.ts';

export const cancelOrderInputSchema = z.strictObject({
  orderId: entityIdSchema,
  reason: textSchema,
  expectedVersion: expectedVersionSchema,
});

export function cancelOrder(deps: CommandDeps, input: unknown, context: CommandContext): Promise<CommandResult> {
  const { orderId, reason, expectedVersion } = parseInput(cancelOrderInputSchema, input);
  return runOrderCommand(
    deps,
    context,
    { operation: 'cancelOrder', input },
    orderId,
    { type: 'CancelOrder', actor: context.actor, reason },
    { expectedVersion },
  );
}
