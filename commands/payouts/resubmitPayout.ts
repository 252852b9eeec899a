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
import { refusalReason } from './payoutProvider.ts';
import { PAYOUT_EVENT_TYPES, type PayoutSummary } from './runPayouts.ts';

export const resubmitPayoutInputSchema = z.strictObject({
  payoutId: entityIdSchema,
});

/** The payout, in the shape of a run's answer (one payout, `submitted` true). */
export type ResubmitPayoutResult = CommandResult & { payouts: [PayoutSummary] };

/**
 * Past the provider's idempotency window the payout id no longer protects
 * against paying twice: finance checks the provider's own records first and
 * records the outcome by hand (POST /payouts/{id}/outcome).
 */
async function refuseOutsideWindow(deps: CommandDeps, stream: string, payoutId: string, now: string): Promise<void> {
  const windowSeconds = deps.payouts.provider.idempotencyWindowSeconds;
  if (windowSeconds === undefined) return;
  const [initiated] = await deps.store.readStream(stream, { fromVersion: 1, limit: 1 });
  if (!initiated || Date.parse(now) - Date.parse(initiated.record.ts) <= windowSeconds * 1000) return;
  throw new CodedError(
    'PAYOUT_RESUBMIT_WINDOW_PASSED',
    `payout ${payoutId} was initiated more than ${windowSeconds / 3600} h ago, longer than ${deps.payouts.provider.name} keeps its idempotency key: check whether it was paid there, then record the outcome (POST /payouts/${payoutId}/outcome)`,
    { payoutId, initiatedAt: initiated.record.ts, windowSeconds },
  );
}

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
  let providerReference: string | undefined;
  if (unaccepted && loaded.state.status !== 'absent') {
    const { partyId } = loaded.state.payout;
    if ((await deps.ledger.heldParties()).has(partyId))
      throw new CodedError(
        'PAYOUT_PARTY_HELD',
        `party ${partyId} is held by an open discrepancy (a reconciliation's or a payout's): resolve it before resubmitting payout ${payoutId}`,
        { payoutId, partyId },
      );
    await refuseOutsideWindow(deps, stream, payoutId, context.now);
    try {
      providerReference = (await provider.submit(loaded.state.payout)).reference;
    } catch (error) {
      // Only a PayoutRefusal's words reach the answer (another error's may name hosts); the payout is unchanged.
      const refusal = refusalReason(provider.name, error);
      throw new CodedError(
        'PAYOUT_PROVIDER_UNAVAILABLE',
        `the payout provider (${provider.name}) did not accept payout ${payoutId} (${refusal}); it stays initiated, resubmit it later`,
        { payoutId, refusal },
      );
    }
  }
  const result = await execute(deps, context, { operation: 'resubmitPayout', input }, async () => [
    await decideStream(deps.store, stream, payoutDecider, PAYOUT_EVENT_TYPES, { ...command, providerReference }),
  ]);
  // Found and not decided, or the decider refused above.
  assert(loaded.state.status !== 'absent', 'a resubmitted payout was loaded');
  const { partyId, currency, amountMinor, nettedMinor } = loaded.state.payout;
  return { ...result, payouts: [{ payoutId, partyId, currency, amountMinor, nettedMinor, submitted: true }] };
}
