/**
 * RecordPayoutOutcome: the payout provider's answer for one payout (its
 * webhook, or finance recording it by hand). Settled: in transit → the
 * provider balance (the money left it). Failed: the initiation reversed, the
 * money owed to the party again. The same answer again is a no-op.
 */
import { z } from 'zod';
import { payoutDecider } from '../../domain/payouts/payoutDecider.ts';
import { failurePosting, settlementPosting } from '../../domain/payouts/payoutPostings.ts';
import { amountSchema, currencySchema, idSchema, textSchema } from '../../domain/schemas.ts';
import { streams } from '../../domain/streams.ts';
import { execute, parseInput, type CommandContext, type CommandDeps, type CommandResult } from '../command.ts';
import { decideStream, entityIdSchema } from '../decideStream.ts';
import { decidePosting } from '../ledger/postLedgerTransaction.ts';
import { PAYOUT_EVENT_TYPES } from './runPayouts.ts';

export const recordPayoutOutcomeInputSchema = z.strictObject({
  payoutId: entityIdSchema,
  outcome: z.enum(['settled', 'failed']),
  /** The provider's event id (a redelivery carries the same one). */
  providerEventId: idSchema,
  amountMinor: amountSchema,
  currency: currencySchema,
  reason: textSchema.optional(),
});

export function recordPayoutOutcome(
  deps: CommandDeps,
  input: unknown,
  context: CommandContext,
): Promise<CommandResult> {
  const { payoutId, outcome, providerEventId, amountMinor, currency, reason } = parseInput(
    recordPayoutOutcomeInputSchema,
    input,
  );
  return execute(deps, context, { operation: 'recordPayoutOutcome', input }, async (attempt) => {
    const payout = await decideStream(deps.store, streams.payout(payoutId), payoutDecider, PAYOUT_EVENT_TYPES, {
      type: 'RecordPayoutOutcome',
      actor: context.actor,
      outcome,
      providerEventId,
      amountMinor,
      currency,
      reason,
    });
    if (payout.events.length === 0 || payout.state.status === 'absent') return [payout];
    const posting =
      outcome === 'settled' ? settlementPosting(payout.state.payout) : failurePosting(payout.state.payout);
    return [payout, await decidePosting(deps, context.actor, posting, { assumeNew: attempt === 0 })];
  });
}
