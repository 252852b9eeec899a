/**
 * PlaceOrderHold and ReleaseOrderHold: a finance role holds, with a reason,
 * what one order put in its parties' payables out of payout runs (the finance
 * runbook's "pause payouts related to the discrepancy", for one order rather
 * than a party: docs/DOMAIN.md, "Payouts"), and releases it with a reason; the
 * next payout run pays what it held. The order must exist; its hold is its own
 * stream, `hold-<orderId>`, so the order's stream is not touched.
 */
import { z } from 'zod';
import { CodedError } from '../../domain/errors.ts';
import { holdDecider, type HoldCommand } from '../../domain/holds/holdDecider.ts';
import { holdEventSchemas } from '../../domain/holds/holdEvents.ts';
import { textSchema } from '../../domain/schemas.ts';
import { streams } from '../../domain/streams.ts';
import { execute, parseInput, type CommandContext, type CommandDeps, type CommandResult } from '../command.ts';
import { decideStream, entityIdSchema, typesOf } from '../decideStream.ts';

export const HOLD_EVENT_TYPES = typesOf(holdEventSchemas);

export const orderHoldInputSchema = z.strictObject({
  orderId: entityIdSchema,
  reason: textSchema,
});

/** ORDER_NOT_FOUND unless the order's stream has a record. */
async function requireOrder(deps: CommandDeps, orderId: string): Promise<void> {
  const records = await deps.store.readStream(streams.order(orderId), { limit: 1 });
  if (records.length === 0) throw new CodedError('ORDER_NOT_FOUND', `no order ${orderId}`, { orderId });
}

async function runHoldCommand(
  type: HoldCommand['type'],
  operation: string,
  deps: CommandDeps,
  input: unknown,
  context: CommandContext,
): Promise<CommandResult> {
  const { orderId, reason } = parseInput(orderHoldInputSchema, input);
  await requireOrder(deps, orderId);
  return execute(deps, context, { operation, input }, async () => [
    await decideStream(deps.store, streams.hold(orderId), holdDecider, HOLD_EVENT_TYPES, {
      type,
      actor: context.actor,
      orderId,
      reason,
    }),
  ]);
}

export function placeOrderHold(deps: CommandDeps, input: unknown, context: CommandContext): Promise<CommandResult> {
  return runHoldCommand('PlaceOrderHold', 'placeOrderHold', deps, input, context);
}

export function releaseOrderHold(deps: CommandDeps, input: unknown, context: CommandContext): Promise<CommandResult> {
  return runHoldCommand('ReleaseOrderHold', 'releaseOrderHold', deps, input, context);
}
