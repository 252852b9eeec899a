/**
 * The payout provider's answer for one payout. RecordPayoutOutcome is finance
 * recording it by hand, or the sandbox provider's webhook: settled or failed,
 * and what does not fit the payout is refused. RecordProviderAnswer is a
 * provider's own webhook (Stripe), which names what it made (its transfer):
 * what fits is the payout's outcome, what does not opens a discrepancy that
 * holds the party (domain/payouts/payoutDecider.ts).
 *
 * The postings, in the same append: settled, in transit → the provider
 * balance (the money left it); failed, the initiation reversed, the money
 * owed to the party again; reversed after settling, the provider balance →
 * owed again. The same answer again is a no-op.
 */
import { z } from 'zod';
import { payoutDecider, type ProviderAnswer } from '../../domain/payouts/payoutDecider.ts';
import { providerReferenceSchema } from '../../domain/payouts/payoutEvents.ts';
import { failurePosting, reversalPosting, settlementPosting } from '../../domain/payouts/payoutPostings.ts';
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

export const providerAnswerInputSchema = recordPayoutOutcomeInputSchema.extend({
  outcome: z.enum(['settled', 'failed', 'reversed', 'partially_reversed']),
  providerReference: providerReferenceSchema,
  partyId: idSchema.optional(),
  mismatch: textSchema.optional(),
  amountReversedMinor: amountSchema.optional(),
});

/** The answer, and the discrepancies it opened (kind by id; none when it was an earlier request's answer). */
export type ProviderAnswerResult = CommandResult & { discrepancies: { discrepancyId: string; kind: string }[] };

async function record(
  deps: CommandDeps,
  input: unknown,
  context: CommandContext,
  answer: Omit<ProviderAnswer, 'type' | 'actor'> & { payoutId: string },
): Promise<ProviderAnswerResult> {
  const { payoutId, ...fields } = answer;
  let discrepancies: ProviderAnswerResult['discrepancies'] = [];
  const result = await execute(deps, context, { operation: 'recordPayoutOutcome', input }, async (attempt) => {
    const payout = await decideStream(deps.store, streams.payout(payoutId), payoutDecider, PAYOUT_EVENT_TYPES, {
      type: 'RecordPayoutOutcome',
      actor: context.actor,
      ...fields,
    });
    discrepancies = payout.events.flatMap((event) =>
      event.type === 'payout.discrepancy_opened'
        ? [{ discrepancyId: event.data.discrepancyId, kind: event.data.kind }]
        : [],
    );
    if (payout.state.status === 'absent') return [payout];
    const decided = payout.events.find((event) => event.type !== 'payout.discrepancy_opened');
    if (decided === undefined) return [payout];
    const posting =
      decided.type === 'payout.settled'
        ? settlementPosting(payout.state.payout)
        : decided.type === 'payout.failed'
          ? failurePosting(payout.state.payout)
          : reversalPosting(payout.state.payout);
    return [payout, await decidePosting(deps, context.actor, posting, { assumeNew: attempt === 0 })];
  });
  return { ...result, discrepancies: result.replayed ? [] : discrepancies };
}

export async function recordPayoutOutcome(
  deps: CommandDeps,
  input: unknown,
  context: CommandContext,
): Promise<CommandResult> {
  const { discrepancies: _none, ...result } = await record(
    deps,
    input,
    context,
    parseInput(recordPayoutOutcomeInputSchema, input),
  );
  return result;
}

export function recordProviderAnswer(
  deps: CommandDeps,
  input: unknown,
  context: CommandContext,
): Promise<ProviderAnswerResult> {
  const answer = parseInput(providerAnswerInputSchema, input);
  // The request's identity under its idempotency key (the provider's event) leaves out `mismatch`, which the adapter
  // derives from configuration: a redelivery after the configuration changed is the same request, answered again.
  const { mismatch: _derived, ...identity } = answer;
  return record(deps, identity, context, answer);
}
