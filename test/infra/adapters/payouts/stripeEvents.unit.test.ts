/** Stripe's transfer events translated into payouts' answers (infra/adapters/payouts/stripeEvents.ts). */
import test from 'ava';
import {
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

function event(type: string, object: Record<string, unknown> = transfer) {
  return stripeEventSchema.parse({ id: 'evt_1Xyz', object: 'event', type, data: { object }, livemode: false });
}

test('transfer.created settles the payout its metadata names, in its amount and upper-case currency', (t) => {
  t.deepEqual(translateStripeEvent(event('transfer.created')), {
    answer: {
      payoutId: PAYOUT_ID,
      outcome: 'settled',
      providerEventId: 'evt-1Xyz',
      amountMinor: 1440,
      currency: 'EUR',
    },
  });
});

test('a transfer reversed whole fails the payout, saying so; a partial reversal is ignored and flagged', (t) => {
  const reversed = { ...transfer, amount_reversed: 1440, reversed: true };
  t.deepEqual(translateStripeEvent(event('transfer.reversed', reversed)), {
    answer: {
      payoutId: PAYOUT_ID,
      outcome: 'failed',
      providerEventId: 'evt-1Xyz',
      amountMinor: 1440,
      currency: 'EUR',
      reason: 'Stripe transfer tr_1Abc was reversed',
    },
  });
  t.deepEqual(translateStripeEvent(event('transfer.reversed', { ...transfer, amount_reversed: 400 })), {
    ignored: `a partial reversal of payout ${PAYOUT_ID}'s transfer`,
    notify: true,
  });
});

test("transfer.failed fails the payout with Stripe's failure message", (t) => {
  const failed = { ...transfer, failure_message: 'The destination account was closed' };
  t.like(translateStripeEvent(event('transfer.failed', failed)), {
    answer: { outcome: 'failed', reason: 'Stripe transfer tr_1Abc failed: The destination account was closed' },
  });
  t.like(translateStripeEvent(event('transfer.failed')), { answer: { reason: 'Stripe transfer tr_1Abc failed' } });
});

test('other event types, and transfers that name no payout, are ignored', (t) => {
  t.true('ignored' in translateStripeEvent(event('payout.paid', { id: 'po_1', object: 'payout', amount: 1 })));
  t.true('ignored' in translateStripeEvent(event('transfer.updated')));
  t.true('ignored' in translateStripeEvent(event('transfer.created', { ...transfer, metadata: {} })));
  t.true('ignored' in translateStripeEvent(event('transfer.created', { ...transfer, object: 'charge' })));
});

test("Stripe's event ids become provider event ids without an underscore, one for one", (t) => {
  t.is(stripeProviderEventId('evt_1NGa2b3C'), 'evt-1NGa2b3C');
  t.false(stripeEventSchema.safeParse({ id: 'evt-1', type: 'x', data: { object: {} } }).success);
  t.false(stripeEventSchema.safeParse({ id: 'evt_1', type: 'x', data: {} }).success);
});
