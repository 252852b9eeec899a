/** FinalizeOrder: a paid order is settled; buyer clearing goes to the fee, the seller and the royalty parties. */
import { z } from 'zod';
import { finalizePosting } from '../../domain/orders/orderPostings.ts';
import {
  expectedVersionSchema,
  parseInput,
  type CommandContext,
  type CommandDeps,
  type CommandResult,
} from '../command.ts';
import { entityIdSchema } from '../decideStream.ts';
import { runOrderCommand } from './orderStreams.ts';

export const finalizeOrderInputSchema = z.strictObject({
  orderId: entityIdSchema,
  expectedVersion: expectedVersionSchema,
});

export function finalizeOrder(deps: CommandDeps, input: unknown, context: CommandContext): Promise<CommandResult> {
  const { orderId, expectedVersion } = parseInput(finalizeOrderInputSchema, input);
  return runOrderCommand(
    deps,
    context,
    { operation: 'finalizeOrder', input },
    orderId,
    { type: 'FinalizeOrder', actor: context.actor },
    {
      expectedVersion,
      postings: (state) => (state.status === 'absent' ? [] : [finalizePosting(state.order)]),
    },
  );
}
