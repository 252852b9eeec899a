/**
 * ResolvePayoutDiscrepancy: a finance role closes a payout's discrepancy (a
 * provider answer that did not fit the payout, docs/DOMAIN.md "Payouts") with
 * a reason, recorded in the chain; the hold it put on the parties' payouts
 * lifts. What the money needs (a second transfer taken back, a reversal
 * repaid) finance does at the provider, or through the ledger, before.
 */
import { z } from 'zod';
import { payoutDecider } from '../../domain/payouts/payoutDecider.ts';
import { payoutDiscrepancyIdSchema } from '../../domain/payouts/payoutEvents.ts';
import { textSchema } from '../../domain/schemas.ts';
import { streams } from '../../domain/streams.ts';
import { execute, parseInput, type CommandContext, type CommandDeps, type CommandResult } from '../command.ts';
import { decideStream, entityIdSchema } from '../decideStream.ts';
import { PAYOUT_EVENT_TYPES } from './runPayouts.ts';

export const resolvePayoutDiscrepancyInputSchema = z.strictObject({
  payoutId: entityIdSchema,
  discrepancyId: payoutDiscrepancyIdSchema,
  reason: textSchema,
});

export function resolvePayoutDiscrepancy(
  deps: CommandDeps,
  input: unknown,
  context: CommandContext,
): Promise<CommandResult> {
  const { payoutId, discrepancyId, reason } = parseInput(resolvePayoutDiscrepancyInputSchema, input);
  return execute(deps, context, { operation: 'resolvePayoutDiscrepancy', input }, async () => [
    await decideStream(deps.store, streams.payout(payoutId), payoutDecider, PAYOUT_EVENT_TYPES, {
      type: 'ResolvePayoutDiscrepancy',
      actor: context.actor,
      discrepancyId,
      reason,
    }),
  ]);
}
