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
  /** Hands the payout to the provider; throws when it could not (the payout stays initiated, its money in transit). */
  submit(payout: PayoutInitiated): Promise<void>;
}
