/**
 * Payout providers that send no money. `sandbox` (the embedded default)
 * records each payout it is asked to send, once per payout id, and answers
 * nothing itself: the answer comes through the payout webhook, as a real
 * provider's would (a test or an operator sends it). `none` refuses payout
 * runs (the production default until a provider is configured).
 */
import type { PayoutProvider } from '../../../commands/payouts/payoutProvider.ts';
import type { PayoutInitiated } from '../../../domain/payouts/payoutEvents.ts';

/** Payouts the sandbox remembers; the oldest are forgotten past it. */
export const MAX_SANDBOX_PAYOUTS = 100_000;

export interface SandboxPayoutProvider extends PayoutProvider {
  /** What it was asked to pay, by payout id, in the order asked. */
  readonly submitted: ReadonlyMap<string, PayoutInitiated>;
}

export function sandboxPayoutProvider(): SandboxPayoutProvider {
  const submitted = new Map<string, PayoutInitiated>();
  return {
    name: 'sandbox',
    accepting: true,
    submitted,
    submit(payout) {
      if (!submitted.has(payout.payoutId)) {
        if (submitted.size >= MAX_SANDBOX_PAYOUTS) submitted.delete(submitted.keys().next().value!);
        submitted.set(payout.payoutId, payout);
      }
      return Promise.resolve({});
    },
  };
}

export const noPayoutProvider: PayoutProvider = {
  name: 'none',
  accepting: false,
  submit: () => Promise.reject(new Error('no payout provider is configured')),
};
