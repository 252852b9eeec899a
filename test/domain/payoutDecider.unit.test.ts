import test from 'ava';
import fc from 'fast-check';
import { checkTransaction } from '../../domain/ledger/ledgerDecider.ts';
import { payoutDecider } from '../../domain/payouts/payoutDecider.ts';
import type { PayoutInitiated } from '../../domain/payouts/payoutEvents.ts';
import { payableKey, planPayouts, type PayeeBalance } from '../../domain/payouts/payoutPlan.ts';
import { failurePosting, initiationPosting, settlementPosting } from '../../domain/payouts/payoutPostings.ts';
import { given } from '../helpers/given.ts';
import { operator, paymentService, publisher } from '../helpers/fixtures.ts';

const payout: PayoutInitiated = {
  payoutId: 'po-1',
  runId: 'run-1',
  partyId: 'seller-1',
  currency: 'EUR',
  amountMinor: 1000,
  sources: [
    { account: 'liability:seller-payable:seller-1', amountMinor: 900 },
    { account: 'liability:royalty-payable:seller-1', amountMinor: 300 },
  ],
  nettedMinor: 200,
  ledgerTransactionId: 'payout-po-1',
};
const initiate = (p: PayoutInitiated = payout, actor = operator) => ({
  type: 'InitiatePayout' as const,
  actor,
  payout: p,
});
const answer = (outcome: 'settled' | 'failed', amountMinor = 1000, currency = 'EUR') => ({
  type: 'RecordPayoutOutcome' as const,
  actor: paymentService,
  outcome,
  providerEventId: 'evt-1',
  amountMinor,
  currency,
});
const initiated = [{ type: 'payout.initiated' as const, data: payout }];

test('a finance role initiates a payout once; the same payout again is a no-op, other amounts conflict', (t) => {
  given(payoutDecider).when(initiate()).then(t, initiated);
  given(payoutDecider, initiated).when(initiate()).then(t, []);
  given(payoutDecider, initiated)
    .when(initiate({ ...payout, amountMinor: 999, nettedMinor: 201 }))
    .thenRejects(t, 'PAYOUT_EXISTS');
  given(payoutDecider).when(initiate(payout, publisher)).thenRejects(t, 'FORBIDDEN_ROLE');
});

test('a payout is refused when its amounts do not add up, it drains another party, or its currency is not money', (t) => {
  given(payoutDecider)
    .when(initiate({ ...payout, amountMinor: 1001 }))
    .thenRejects(t, 'PAYOUT_UNBALANCED');
  given(payoutDecider)
    .when(initiate({ ...payout, sources: [{ account: 'liability:seller-payable:other', amountMinor: 1200 }] }))
    .thenRejects(t, 'PAYOUT_INVALID_SOURCE');
  given(payoutDecider)
    .when(initiate({ ...payout, sources: [{ account: 'asset:payment-provider', amountMinor: 1200 }] }))
    .thenRejects(t, 'PAYOUT_INVALID_SOURCE');
  given(payoutDecider)
    .when(initiate({ ...payout, currency: 'BTC' }))
    .thenRejects(t, 'INVALID_CURRENCY');
  given(payoutDecider)
    .when(initiate({ ...payout, amountMinor: 0, nettedMinor: 1200 }))
    .thenRejects(t, 'PAYOUT_INVALID_AMOUNT');
  given(payoutDecider)
    .when(initiate({ ...payout, ledgerTransactionId: 'payout-other' }))
    .thenRejects(t, 'PAYOUT_INVALID_TRANSACTION');
});

test('the provider settles or fails an initiated payout once; the other answer after one is refused', (t) => {
  given(payoutDecider, initiated)
    .when(answer('settled'))
    .then(t, [
      {
        type: 'payout.settled',
        data: { payoutId: 'po-1', providerEventId: 'evt-1', ledgerTransactionId: 'payout-settled-po-1' },
      },
    ]);
  const settled = [
    ...initiated,
    {
      type: 'payout.settled' as const,
      data: { payoutId: 'po-1', providerEventId: 'e', ledgerTransactionId: 'payout-settled-po-1' },
    },
  ];
  given(payoutDecider, settled).when(answer('settled')).then(t, []);
  given(payoutDecider, settled).when(answer('failed')).thenRejects(t, 'PAYOUT_ALREADY_DECIDED');
  given(payoutDecider, initiated).when(answer('settled', 999)).thenRejects(t, 'PAYOUT_AMOUNT_MISMATCH');
  given(payoutDecider, initiated)
    .when(answer('settled', 1000, 'USD'))
    .thenRejects(t, 'PAYOUT_AMOUNT_MISMATCH');
  given(payoutDecider).when(answer('settled')).thenRejects(t, 'PAYOUT_NOT_FOUND');
  given(payoutDecider, initiated)
    .when({ ...answer('failed'), actor: publisher })
    .thenRejects(t, 'FORBIDDEN_ROLE');
});

test('a payout the provider has not accepted is recorded submitted once; a settled or failed one is not submitted again', (t) => {
  const submit = (actor = operator) => ({ type: 'SubmitPayout' as const, actor, provider: 'sandbox' });
  const submitted = { type: 'payout.submitted' as const, data: { payoutId: 'po-1', provider: 'sandbox' } };
  given(payoutDecider, initiated).when(submit()).then(t, [submitted]);
  given(payoutDecider, [...initiated, submitted])
    .when(submit())
    .then(t, []);
  given(payoutDecider).when(submit()).thenRejects(t, 'PAYOUT_NOT_FOUND');
  given(payoutDecider, initiated).when(submit(publisher)).thenRejects(t, 'FORBIDDEN_ROLE');
  for (const decided of [
    {
      type: 'payout.settled' as const,
      data: { payoutId: 'po-1', providerEventId: 'e', ledgerTransactionId: 'payout-settled-po-1' },
    },
    {
      type: 'payout.failed' as const,
      data: {
        payoutId: 'po-1',
        providerEventId: 'e',
        reason: 'closed account',
        ledgerTransactionId: 'payout-failed-po-1',
      },
    },
  ]) {
    given(payoutDecider, [...initiated, decided])
      .when(submit())
      .thenRejects(t, 'PAYOUT_ALREADY_DECIDED');
    given(payoutDecider, [...initiated, submitted, decided])
      .when(submit())
      .thenRejects(t, 'PAYOUT_ALREADY_DECIDED');
  }
  // Accepted, the provider's answer is recorded as before.
  given(payoutDecider, [...initiated, submitted])
    .when(answer('settled'))
    .then(t, [
      {
        type: 'payout.settled',
        data: { payoutId: 'po-1', providerEventId: 'evt-1', ledgerTransactionId: 'payout-settled-po-1' },
      },
    ]);
});

test('a payout posts balanced transactions: payables to in transit, in transit to the provider, or all of it back', (t) => {
  const posted = [initiationPosting(payout), settlementPosting(payout), failurePosting(payout)];
  for (const transaction of posted) t.notThrows(() => checkTransaction(transaction));
  t.deepEqual(
    posted[0]!.entries.map((e) => [e.account, e.direction, e.amountMinor]),
    [
      ['liability:seller-payable:seller-1', 'debit', 900],
      ['liability:royalty-payable:seller-1', 'debit', 300],
      ['asset:party-receivable:seller-1', 'credit', 200],
      ['liability:payouts-in-transit:seller-1', 'credit', 1000],
    ],
  );
  t.deepEqual(
    posted[2]!.entries.map((e) => [e.account, e.direction, e.amountMinor]),
    [
      ['liability:seller-payable:seller-1', 'credit', 900],
      ['liability:royalty-payable:seller-1', 'credit', 300],
      ['asset:party-receivable:seller-1', 'debit', 200],
      ['liability:payouts-in-transit:seller-1', 'debit', 1000],
    ],
  );
});

test('a plan leaves in each payable what held orders put there, and pays the rest', (t) => {
  const seller = 'liability:seller-payable:p';
  const royalty = 'liability:royalty-payable:p';
  const payee: PayeeBalance = {
    partyId: 'p',
    currency: 'EUR',
    payables: [
      { account: seller, balanceMinor: 1000 },
      { account: royalty, balanceMinor: 300 },
    ],
    receivableMinor: 100,
  };
  t.deepEqual(planPayouts([payee], { minimumMinor: 1, heldPayables: new Map([[payableKey(seller, 'EUR'), 400]]) }), [
    {
      partyId: 'p',
      currency: 'EUR',
      amountMinor: 800,
      sources: [
        { account: seller, amountMinor: 600 },
        { account: royalty, amountMinor: 300 },
      ],
      nettedMinor: 100,
    },
  ]);
  const allHeld = new Map([
    [payableKey(seller, 'EUR'), 1000],
    [payableKey(royalty, 'EUR'), 5000],
  ]);
  t.deepEqual(planPayouts([payee], { minimumMinor: 1, heldPayables: allHeld }), [], 'all of it held: no payout');
  t.is(
    planPayouts([payee], { minimumMinor: 1, heldPayables: new Map([[payableKey(seller, 'USD'), 1000]]) })[0]!
      .amountMinor,
    1200,
    'a hold in another currency holds nothing here',
  );
});

const payeeArbitrary: fc.Arbitrary<PayeeBalance> = fc.record({
  partyId: fc.constantFrom('a', 'b', 'c'),
  currency: fc.constantFrom('EUR', 'JPY'),
  payables: fc.array(
    fc.record({ account: fc.constant('liability:seller-payable:x'), balanceMinor: fc.integer({ min: 0, max: 1e9 }) }),
    { maxLength: 2 },
  ),
  receivableMinor: fc.integer({ min: 0, max: 1e9 }),
});

test('property: a plan pays every party owed at least the minimum and not held, never more than its payables, netting what it owes', (t) => {
  fc.assert(
    fc.property(
      fc.array(payeeArbitrary, { maxLength: 8 }),
      fc.integer({ min: 1, max: 1e6 }),
      fc.subarray(['a', 'b', 'c']),
      (payees, minimumMinor, held) => {
        const plan = planPayouts(payees, { minimumMinor, heldParties: new Set(held) });
        for (const planned of plan) {
          const drained = planned.sources.reduce((sum, source) => sum + source.amountMinor, 0);
          t.true(planned.amountMinor >= minimumMinor && planned.amountMinor <= drained);
          t.is(planned.amountMinor + planned.nettedMinor, drained);
          t.false(held.includes(planned.partyId));
        }
        const owed = payees.filter((payee) => {
          const drained = payee.payables.reduce((sum, payable) => sum + payable.balanceMinor, 0);
          return !held.includes(payee.partyId) && drained - payee.receivableMinor >= minimumMinor;
        });
        t.is(plan.length, owed.length, 'every party owed at least the minimum and not held is paid');
      },
    ),
  );
});
