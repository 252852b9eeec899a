/**
 * The Stripe payout provider against a stand-in for Stripe's API on a
 * loopback port (test/helpers/stripeStandIn.ts): what we send and how we
 * read the answers. Whether Stripe itself behaves so is the contract suite's
 * question (stripePayoutProvider.contract.int.test.ts).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import test from 'ava';
import type { PayoutInitiated } from '../../../../domain/payouts/payoutEvents.ts';
import {
  createStripeTransfer,
  MAX_CONSECUTIVE_STRIPE_FAILURES,
  STRIPE_API_VERSION,
  STRIPE_PAUSE_MS,
  stripePayoutProvider,
  type StripePayoutOptions,
} from '../../../../infra/adapters/payouts/stripePayoutProvider.ts';
import { STAND_IN_SECRET_KEY, stripeStandIn, type StripeStandIn } from '../../../helpers/stripeStandIn.ts';

const payout: PayoutInitiated = {
  payoutId: 'po-0123456789abcdef0123456789abcdef',
  runId: 'run-2026-11',
  partyId: 'publisher-1',
  currency: 'EUR',
  amountMinor: 1440,
  sources: [{ account: 'liability:seller-payable:publisher-1', amountMinor: 1440 }],
  nettedMinor: 0,
  ledgerTransactionId: 'payout-po-0123456789abcdef0123456789abcdef',
};

function options(standIn: StripeStandIn, timeoutMs = 2000): StripePayoutOptions {
  return {
    secretKey: STAND_IN_SECRET_KEY,
    apiBase: standIn.url,
    connectedAccounts: new Map([['publisher-1', 'acct_1Publisher']]),
    timeoutMs,
  };
}

test('a payout is one POST /v1/transfers: the form, the key as bearer, the pinned version, the payout id as idempotency key', async (t) => {
  const standIn = await stripeStandIn(t);
  t.is(await createStripeTransfer(options(standIn), payout), 'tr_standin1');
  t.is(standIn.requests.length, 1);
  const [request] = standIn.requests;
  t.is(request!.method, 'POST');
  t.is(request!.path, '/v1/transfers');
  t.is(request!.headers['authorization'], `Bearer ${STAND_IN_SECRET_KEY}`);
  t.is(request!.headers['stripe-version'], STRIPE_API_VERSION);
  t.is(request!.headers['idempotency-key'], 'chainbook-payout-po-0123456789abcdef0123456789abcdef');
  t.is(request!.headers['content-type'], 'application/x-www-form-urlencoded');
  t.deepEqual(request!.form, [
    ['amount', '1440'],
    ['currency', 'eur'],
    ['destination', 'acct_1Publisher'],
    ['transfer_group', 'run-2026-11'],
    ['metadata[payoutId]', payout.payoutId],
    ['metadata[partyId]', 'publisher-1'],
  ]);
});

test('a resubmitted payout sends the same Idempotency-Key, and the same request, so Stripe answers the same transfer', async (t) => {
  const standIn = await stripeStandIn(t);
  const provider = stripePayoutProvider(options(standIn));
  await provider.submit(payout);
  await provider.submit(payout);
  t.is(standIn.requests.length, 2);
  t.deepEqual(standIn.requests[1], standIn.requests[0]);
  const other = { ...payout, payoutId: 'po-ffffffffffffffffffffffffffffffff' };
  t.is(await createStripeTransfer(options(standIn), other), 'tr_standin2', 'another payout, another transfer');
  t.is(standIn.requests[2]!.headers['idempotency-key'], 'chainbook-payout-po-ffffffffffffffffffffffffffffffff');
});

test('a party without a connected account is refused before anything is sent to Stripe', async (t) => {
  const standIn = await stripeStandIn(t);
  const error = await t.throwsAsync(createStripeTransfer(options(standIn), { ...payout, partyId: 'artist-7' }));
  t.regex(error.message, /party artist-7 has no Stripe connected account \(STRIPE_CONNECTED_ACCOUNTS\)/);
  t.is(standIn.requests.length, 0);
});

/** Stripe's free text may quote the key: the stand-in puts it there, and no error may repeat it. */
const leaky = `Invalid request: the key ${STAND_IN_SECRET_KEY} may not do this`;

const refusals = [
  {
    name: 'a declined transfer (402 card_error)',
    status: 402,
    body: { error: { type: 'card_error', code: 'card_declined', decline_code: 'insufficient_funds', message: leaky } },
    expected:
      'Stripe refused the transfer: HTTP 402, type card_error, code card_declined, decline code insufficient_funds, request req_standin1',
  },
  {
    name: 'an invalid request (400 invalid_request_error)',
    status: 400,
    body: { error: { type: 'invalid_request_error', code: 'balance_insufficient', param: 'amount', message: leaky } },
    expected:
      'Stripe refused the transfer: HTTP 400, type invalid_request_error, code balance_insufficient, request req_standin1',
  },
  {
    name: "Stripe's own failure (500 api_error)",
    status: 500,
    body: { error: { type: 'api_error', message: leaky } },
    expected: 'Stripe refused the transfer: HTTP 500, type api_error, request req_standin1',
  },
  {
    name: 'a 502 that is not JSON',
    status: 502,
    raw: `<html>bad gateway ${STAND_IN_SECRET_KEY}</html>`,
    expected: 'Stripe refused the transfer: HTTP 502, no error object, request req_standin1',
  },
  {
    name: 'an error type that is free text',
    status: 400,
    body: { error: { type: leaky, code: 'x y' } },
    expected: 'Stripe refused the transfer: HTTP 400, type ?, code ?, request req_standin1',
  },
];

for (const refusal of refusals) {
  test(`${refusal.name} is an error naming Stripe's status, type and code, never the key`, async (t) => {
    const standIn = await stripeStandIn(t);
    standIn.answer = () => ({
      status: refusal.status,
      ...(refusal.raw === undefined ? { body: refusal.body } : { raw: refusal.raw }),
    });
    const error = await t.throwsAsync(stripePayoutProvider(options(standIn)).submit(payout));
    t.is(error.message, refusal.expected);
    t.false(JSON.stringify({ ...error, message: error.message, stack: error.stack }).includes('standin_not_a_key'));
  });
}

const malformed = [
  { name: 'a 2xx body that is not JSON', answer: { status: 200, raw: '{"id": "tr_1' }, message: /not a JSON object/ },
  {
    name: 'a 2xx without a tr_ id',
    answer: { status: 200, body: { id: 'po_1', amount: 1440, currency: 'eur' } },
    message: /without a transfer id/,
  },
  {
    name: 'a transfer of another amount',
    answer: { status: 200, body: { id: 'tr_1', amount: 1441, currency: 'eur' } },
    message: /tr_1 is 1441 eur, not payout .*'s 1440 eur/,
  },
  {
    name: 'a transfer in another currency',
    answer: { status: 200, body: { id: 'tr_1', amount: 1440, currency: 'usd' } },
    message: /tr_1 is 1440 usd/,
  },
];

for (const { name, answer, message } of malformed) {
  test(`${name} is not taken as accepted`, async (t) => {
    const standIn = await stripeStandIn(t);
    standIn.answer = () => answer;
    const error = await t.throwsAsync(createStripeTransfer(options(standIn), payout));
    t.regex(error.message, message);
    t.false(error.message.includes(STAND_IN_SECRET_KEY));
  });
}

test('Stripe not answering within the timeout is an error, the payout left to be resubmitted', async (t) => {
  const standIn = await stripeStandIn(t);
  standIn.answer = () => ({ status: 200, body: {}, delayMs: 2000 });
  const started = Date.now();
  const error = await t.throwsAsync(createStripeTransfer(options(standIn, 200), payout));
  t.is(error.message, 'Stripe did not answer within 200 ms');
  t.true(Date.now() - started < 1500);
});

test('Stripe unreachable is an error naming the network failure, not the request', async (t) => {
  const standIn = await stripeStandIn(t);
  const vacated = createServer();
  await new Promise<void>((resolve) => vacated.listen(0, '127.0.0.1', resolve));
  const { port } = vacated.address() as AddressInfo;
  await new Promise((resolve) => vacated.close(resolve));
  const closed = { ...options(standIn), apiBase: `http://127.0.0.1:${port}` };
  const error = await t.throwsAsync(createStripeTransfer(closed, payout));
  t.regex(error.message, /^Stripe could not be reached \(ECONNREFUSED\)$/);
});

test('after repeated failures of Stripe itself the provider stops calling it for a while, then tries one call', async (t) => {
  const standIn = await stripeStandIn(t);
  let nowMs = 1_000_000;
  const provider = stripePayoutProvider({ ...options(standIn), nowMs: () => nowMs });
  const other = (index: number) => ({ ...payout, payoutId: `po-${String(index).padStart(32, '0')}` });
  standIn.answer = () => ({ status: 400, body: { error: { type: 'invalid_request_error' } } });
  for (let index = 0; index < MAX_CONSECUTIVE_STRIPE_FAILURES + 1; index++)
    await t.throwsAsync(provider.submit(other(index)));
  t.is(standIn.requests.length, MAX_CONSECUTIVE_STRIPE_FAILURES + 1, 'refusals: Stripe is up, each payout is sent');

  standIn.answer = () => ({ status: 503, body: { error: { type: 'api_error' } } });
  for (let index = 0; index < MAX_CONSECUTIVE_STRIPE_FAILURES; index++)
    await t.throwsAsync(provider.submit(other(10 + index)), { message: /HTTP 503/ });
  const sent = standIn.requests.length;
  const paused = await t.throwsAsync(provider.submit(other(20)));
  t.is(
    paused.message,
    `Stripe failed 3 times in a row: payout ${other(20).payoutId} was not sent, Stripe is called again in 30 s`,
  );
  t.is(standIn.requests.length, sent, 'nothing sent while paused');

  nowMs += STRIPE_PAUSE_MS;
  await t.throwsAsync(provider.submit(other(21)), { message: /HTTP 503/ });
  await t.throwsAsync(provider.submit(other(22)), { message: /was not sent/ });
  t.is(standIn.requests.length, sent + 1, 'one call let through, which failed: paused again at once');

  nowMs += STRIPE_PAUSE_MS;
  standIn.answer = undefined;
  await provider.submit(other(23));
  standIn.answer = () => ({ status: 503, body: {} });
  await t.throwsAsync(provider.submit(other(24)), { message: /HTTP 503/ });
  await t.throwsAsync(provider.submit(other(25)), { message: /HTTP 503/ });
  t.is(standIn.requests.length, sent + 4, 'a success starts the count again');
});
