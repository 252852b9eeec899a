/**
 * Contract tests of the Stripe payout provider against Stripe itself, in test
 * mode: what the loopback stand-in of the unit tests assumes (an idempotency
 * key answers the same transfer again) checked where it matters. They run
 * only when STRIPE_TEST_SECRET_KEY (a test-mode secret key, sk_test_…) and
 * STRIPE_TEST_DESTINATION (a test connected account, acct_…) are set; the
 * platform's test balance must hold the amount (STRIPE_TEST_CURRENCY, default
 * USD): a charge with the test card that skips pending funds provides it.
 * Without them every test here is skipped, saying so. A live key is refused.
 */
import { randomBytes } from 'node:crypto';
import test from 'ava';
import type { PayoutInitiated } from '../../../../domain/payouts/payoutEvents.ts';
import { createStripeTransfer } from '../../../../infra/adapters/payouts/stripePayoutProvider.ts';
import { DEFAULT_STRIPE_API_BASE } from '../../../../infra/wiring/config.ts';

const secretKey = process.env['STRIPE_TEST_SECRET_KEY'];
const destination = process.env['STRIPE_TEST_DESTINATION'];
const currency = process.env['STRIPE_TEST_CURRENCY'] ?? 'USD';
const configured = secretKey !== undefined && destination !== undefined;
if (configured && !/^(sk|rk)_test_/.test(secretKey))
  throw new Error('STRIPE_TEST_SECRET_KEY must be a test-mode key (sk_test_… or rk_test_…): this suite moves money');
const contract = configured ? test : test.skip;
if (!configured) {
  console.log(
    'Stripe contract suite skipped: set STRIPE_TEST_SECRET_KEY (a test-mode secret key) and STRIPE_TEST_DESTINATION (a test connected account, acct_…) to run it against Stripe test mode',
  );
}

function payout(partyId: string): PayoutInitiated {
  const payoutId = `po-contract-${randomBytes(12).toString('hex')}`;
  return {
    payoutId,
    runId: 'run-contract',
    partyId,
    currency,
    amountMinor: 100,
    sources: [{ account: `liability:seller-payable:${partyId}`, amountMinor: 100 }],
    nettedMinor: 0,
    ledgerTransactionId: `payout-${payoutId}`,
  };
}

function options(accounts: [string, string][]) {
  return { secretKey: secretKey!, apiBase: DEFAULT_STRIPE_API_BASE, connectedAccounts: new Map(accounts) };
}

contract('a transfer sent twice under the same payout id is one transfer: Stripe answers the same id', async (t) => {
  const once = payout('contract-party');
  const settings = options([['contract-party', destination!]]);
  const first = await createStripeTransfer(settings, once);
  t.regex(first, /^tr_/);
  t.is(await createStripeTransfer(settings, once), first);
});

contract('a transfer Stripe refuses is an error naming its type and code, never the key', async (t) => {
  const refused = payout('nowhere');
  const error = await t.throwsAsync(createStripeTransfer(options([['nowhere', 'acct_0000000000000000']]), refused));
  t.regex(error.message, /^Stripe refused the transfer: HTTP 4\d\d, type invalid_request_error/);
  t.false(error.message.includes(secretKey!));
});
