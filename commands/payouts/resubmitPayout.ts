/**
 * ResubmitPayout: finance hands a payout the provider never accepted (its run
 * could not reach the provider, or the provider refused it) to the provider
 * again. The provider is called with the recorded payout itself, so with the
 * same payout id, which it takes as its idempotency key: a payout is never
 * paid twice, however often it is resubmitted. Accepted, it is recorded once
 * (`payout.submitted`); a payout already recorded as accepted is answered
 * with nothing appended and the provider is not called; a settled or failed
 * one is refused (`PAYOUT_ALREADY_DECIDED`). A provider that still refuses
 * leaves it as it was (`PAYOUT_PROVIDER_UNAVAILABLE`, retry later).
 */
import { z } from 'zod';
import { assert, CodedError } from '../../domain/errors.ts';
import { payoutDecider } from '../../domain/payouts/payoutDecider.ts';
import { streams } from '../../domain/streams.ts';
import {
  execute,
  loadStream,
  parseInput,
  type CommandContext,
  type CommandDeps,
  type CommandResult,
} from '../command.ts';
import { decideStream, entityIdSchema } from '../decideStream.ts';
import { PAYOUT_EVENT_TYPES, type PayoutSummary } from './runPayouts.ts';

export const resubmitPayoutInputSchema = z.strictObject({
  payoutId: entityIdSchema,
});

/** The payout, in the shape of a run's answer (one payout, `submitted` true). */
export type ResubmitPayoutResult = CommandResult & { payouts: [PayoutSummary] };

export async function resubmitPayout(
  deps: CommandDeps,
  input: unknown,
  context: CommandContext,
): Promise<ResubmitPayoutResult> {
  const { payoutId } = parseInput(resubmitPayoutInputSchema, input);
  const provider = deps.payouts.provider;
  if (!provider.accepting)
    throw new CodedError(
      'PAYOUT_PROVIDER_NOT_CONFIGURED',
      `no payout provider is configured (PAYOUT_PROVIDER=${provider.name}): nothing was submitted`,
    );
  const stream = streams.payout(payoutId);
  // The decider's refusals (role, not found, already decided) come before the provider is called.
  const loaded = await loadStream(deps.store, stream, payoutDecider, PAYOUT_EVENT_TYPES);
  const command = { type: 'SubmitPayout', actor: context.actor, provider: provider.name } as const;
  const unaccepted = payoutDecider.decide(command, loaded.state).length > 0;
  if (unaccepted && loaded.state.status !== 'absent') {
    try {
      await provider.submit(loaded.state.payout);
    } catch {
      // Its own words stay out of the answer (they may name its hosts); the payout is unchanged either way.
      throw new CodedError(
        'PAYOUT_PROVIDER_UNAVAILABLE',
        `the payout provider (${provider.name}) did not accept payout ${payoutId}; it stays initiated, resubmit it later`,
        { payoutId },
      );
    }
  }
  const result = await execute(deps, context, { operation: 'resubmitPayout', input }, async () => [
    await decideStream(deps.store, stream, payoutDecider, PAYOUT_EVENT_TYPES, command),
  ]);
  // Found and not decided, or the decider refused above.
  assert(loaded.state.status !== 'absent', 'a resubmitted payout was loaded');
  const { partyId, currency, amountMinor, nettedMinor } = loaded.state.payout;
  return { ...result, payouts: [{ payoutId, partyId, currency, amountMinor, nettedMinor, submitted: true }] };
}
