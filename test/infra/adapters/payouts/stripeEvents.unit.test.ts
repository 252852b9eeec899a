/** Stripe's transfer events translated into payouts' answers (infra/adapters/payouts/stripeEvents.ts). */
import test from 'ava';
import {
  isLiveModeKey,
  stripeEventSchema,
  stripeProviderEventId,
  translateStripeEvent,
} from '../../../../infra/adapters/payouts/stripeEvents.ts';

const PAYOUT_ID = 'po-0123456789abcdef0123456789abcdef';
const transfer = {
  id: 'tr_1Abc',
  object: 'transfer',
  amount: 1440,
  amount_reversed: 0,
  currency: 'eur',
  destination: 'acct_1Publisher',
  metadata: { payoutId: PAYOUT_ID, partyId: 'publisher-1' },
  reversed: false,
};

const EXPECTED = { connectedAccounts: new Map([['publisher-1', 'acct_1Publisher']]), livemode: false };

function event(type: string, object: Record<string, unknown> = transfer, livemode = false) {
  return stripeEventSchema.parse({ id: 'evt_1Xyz', object: 'event', type, data: { object }, livemode });
}

test('transfer.created settles the payout its metadata names, in its amount and upper-case currency, naming the transfer and party', (t) => {
  t.deepEqual(translateStripeEvent(event('transfer.created'), EXPECTED), {
    answer: {
      payoutId: PAYOUT_ID,
      outcome: 'settled',
      providerEventId: 'evt-1Xyz',
      providerReference: 'tr_1Abc',
      amountMinor: 1440,
      currency: 'EUR',
      partyId: 'publisher-1',
    },
  });
});

test('a transfer reversed whole is a reversal, saying so; a partial reversal is one with the amount taken back', (t) => {
  const reversed = { ...transfer, amount_reversed: 1440, reversed: true };
  t.deepEqual(translateStripeEvent(event('transfer.reversed', reversed), EXPECTED), {
    answer: {
      payoutId: PAYOUT_ID,
      outcome: 'reversed',
      providerEventId: 'evt-1Xyz',
      providerReference: 'tr_1Abc',
      amountMinor: 1440,
      currency: 'EUR',
      partyId: 'publisher-1',
      reason: 'Stripe transfer tr_1Abc was reversed',
    },
  });
  t.like(translateStripeEvent(event('transfer.reversed', { ...transfer, amount_reversed: 400 }), EXPECTED), {
    answer: { outcome: 'partially_reversed', amountReversedMinor: 400, amountMinor: 1440 },
  });
});

test("transfer.failed fails the payout with Stripe's failure message", (t) => {
  const failed = { ...transfer, failure_message: 'The destination account was closed' };
  t.like(translateStripeEvent(event('transfer.failed', failed), EXPECTED), {
    answer: { outcome: 'failed', reason: 'Stripe transfer tr_1Abc failed: The destination account was closed' },
  });
  t.like(translateStripeEvent(event('transfer.failed'), EXPECTED), {
    answer: { reason: 'Stripe transfer tr_1Abc failed' },
  });
});

test('a transfer to another account than the party’s, or naming no party or an unknown one, carries why it does not fit', (t) => {
  const mismatch = (object: Record<string, unknown>) => {
    const translation = translateStripeEvent(event('transfer.created', object), EXPECTED);
    return 'answer' in translation ? translation.answer.mismatch : 'ignored';
  };
  t.is(
    mismatch({ ...transfer, destination: 'acct_9Other' }),
    "the transfer went to acct_9Other, party publisher-1's connected account is acct_1Publisher",
  );
  t.is(
    mismatch({ ...transfer, metadata: { payoutId: PAYOUT_ID } }),
    'the transfer to acct_1Publisher names no party in its metadata',
  );
  t.is(
    mismatch({ ...transfer, metadata: { payoutId: PAYOUT_ID, partyId: 'artist-7' } }),
    'party artist-7 has no connected account here, the transfer went to acct_1Publisher',
  );
  t.is(
    mismatch({ ...transfer, destination: 'acct_1<script>' }),
    "the transfer went to an unreadable account, party publisher-1's connected account is acct_1Publisher",
    'only an account id is repeated, never other text',
  );
  t.is(mismatch(transfer), undefined);
});

test('an event of the other mode is ignored and flagged; a transfer without a tr_ id is too', (t) => {
  t.deepEqual(translateStripeEvent(event('transfer.created', transfer, true), EXPECTED), {
    ignored: 'a live-mode event at a test-mode service',
    notify: true,
  });
  t.deepEqual(translateStripeEvent(event('transfer.created'), { ...EXPECTED, livemode: true }), {
    ignored: 'a test-mode event at a live-mode service',
    notify: true,
  });
  t.like(translateStripeEvent(event('transfer.created', { ...transfer, id: 'po_1' }), EXPECTED), { notify: true });
  t.true(isLiveModeKey('sk_live_abc'));
  t.true(isLiveModeKey('rk_live_abc'));
  t.false(isLiveModeKey('sk_test_abc'));
});

test('other event types, and transfers that name no payout, are ignored', (t) => {
  t.true(
    'ignored' in translateStripeEvent(event('payout.paid', { id: 'po_1', object: 'payout', amount: 1 }), EXPECTED),
  );
  t.true('ignored' in translateStripeEvent(event('transfer.updated'), EXPECTED));
  t.true('ignored' in translateStripeEvent(event('transfer.created', { ...transfer, metadata: {} }), EXPECTED));
  t.true('ignored' in translateStripeEvent(event('transfer.created', { ...transfer, object: 'charge' }), EXPECTED));
});

test("Stripe's event ids become provider event ids without an underscore, one for one", (t) => {
  t.is(stripeProviderEventId('evt_1NGa2b3C'), 'evt-1NGa2b3C');
  t.false(stripeEventSchema.safeParse({ id: 'evt-1', type: 'x', data: { object: {} } }).success);
  t.false(stripeEventSchema.safeParse({ id: 'evt_1', type: 'x', data: {} }).success);
});
