/** ReleaseOrderHold: a finance role releases an order's payout hold with a reason; the next payout run pays what it held. */
import { holdDecider } from '../../domain/holds/holdDecider.ts';
import { streams } from '../../domain/streams.ts';
import { execute, parseInput, type CommandContext, type CommandDeps, type CommandResult } from '../command.ts';
import { decideStream } from '../decideStream.ts';
import { HOLD_EVENT_TYPES, orderHoldInputSchema, requireOrder } from './placeOrderHold.ts';

export async function releaseOrderHold(
  deps: CommandDeps,
  input: unknown,
  context: CommandContext,
): Promise<CommandResult> {
  const { orderId, reason } = parseInput(orderHoldInputSchema, input);
  await requireOrder(deps, orderId);
  return execute(deps, context, { operation: 'releaseOrderHold', input }, async () => [
    await decideStream(deps.store, streams.hold(orderId), holdDecider, HOLD_EVENT_TYPES, {
      type: 'ReleaseOrderHold',
      actor: context.actor,
      orderId,
      reason,
    }),
  ]);
}
