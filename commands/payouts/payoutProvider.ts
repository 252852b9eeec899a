/**
 * The payout provider, as the core sees it: asked to send a recorded payout,
 * it answers later through its signed webhook (settled or failed). It must
 * treat the payout id as its idempotency key, so asking twice pays once.
 * Adapters live in infra/adapters/payouts/.
 */
import type { PayoutInitiated } from '../../domain/payouts/payoutEvents.ts';

export interface PayoutProvider {
  /** A short name for logs and answers (`sandbox`, …). */
  readonly name: string;
  /** False when no provider is configured: a payout run is refused before it records anything. */
  readonly accepting: boolean;
  /**
   * How long the provider remembers a payout id as its idempotency key, in
   * seconds (Stripe: about a day); undefined: for good. Past it, handing the
   * payout over again could pay it twice, so resubmission is refused.
   */
  readonly idempotencyWindowSeconds?: number;
  /**
   * Hands the payout to the provider; throws when it could not (the payout
   * stays initiated, its money in transit): a PayoutRefusal when its message
   * may be shown to finance, any other error when it may not.
   */
  submit(payout: PayoutInitiated): Promise<PayoutAcceptance>;
}

/** What the provider made for an accepted payout (Stripe: the transfer), recorded in payout.submitted. */
export interface PayoutAcceptance {
  reference?: string;
}

/**
 * Why the provider did not take a payout, in words an adapter made safe to
 * show (codes and ids, never a secret or the provider's free text): finance
 * reads it in the run's answer and the resubmission's refusal.
 */
export class PayoutRefusal extends Error {
  override readonly name = 'PayoutRefusal';
}

/** The reason to show for a failed submission: a PayoutRefusal's own words, otherwise none of the error's. */
export function refusalReason(providerName: string, error: unknown): string {
  return error instanceof PayoutRefusal ? error.message : `${providerName} could not be asked (the log has no more)`;
}
