import test from 'ava';
import fc from 'fast-check';
import { checkTransaction } from '../../domain/ledger/ledgerDecider.ts';
import { payoutDecider } from '../../domain/payouts/payoutDecider.ts';
import type { PayoutDiscrepancyKind, PayoutEvent, PayoutInitiated } from '../../domain/payouts/payoutEvents.ts';
import { payableKey, planPayouts, type PayeeBalance } from '../../domain/payouts/payoutPlan.ts';
import {
  failurePosting,
  initiationPosting,
  reversalPosting,
  settlementPosting,
} from '../../domain/payouts/payoutPostings.ts';
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

/** Stripe's answer about a transfer (it names the transfer): what does not fit opens a discrepancy, never a refusal. */
const fromProvider = (
  outcome: 'settled' | 'failed' | 'reversed' | 'partially_reversed',
  fields: Partial<{ providerEventId: string; providerReference: string; amountMinor: number; currency: string }> & {
    partyId?: string;
    mismatch?: string;
    amountReversedMinor?: number;
  } = {},
) => ({
  type: 'RecordPayoutOutcome' as const,
  actor: paymentService,
  outcome,
  providerEventId: 'evt-2',
  providerReference: 'tr_1',
  amountMinor: 1000,
  currency: 'EUR',
  partyId: 'seller-1',
  ...fields,
});
const submittedWith = (reference: string) => ({
  type: 'payout.submitted' as const,
  data: { payoutId: 'po-1', provider: 'stripe', providerReference: reference },
});
const settledBy = (reference: string) => ({
  type: 'payout.settled' as const,
  data: {
    payoutId: 'po-1',
    providerEventId: 'evt-1',
    providerReference: reference,
    ledgerTransactionId: 'payout-settled-po-1',
  },
});
const opened = (
  discrepancyId: string,
  kind: PayoutDiscrepancyKind,
  detail: string,
  extra: Record<string, unknown> = {},
) => ({
  type: 'payout.discrepancy_opened' as const,
  data: {
    payoutId: 'po-1',
    discrepancyId,
    kind,
    providerEventId: 'evt-2',
    providerReference: 'tr_1',
    detail,
    partyIds: ['seller-1'],
    ...extra,
  },
});

test("the provider's answer records its transfer; a second transfer, another party or account, or other amounts open a discrepancy instead", (t) => {
  given(payoutDecider, [...initiated, submittedWith('tr_1')])
    .when(fromProvider('settled'))
    .then(t, [
      {
        type: 'payout.settled',
        data: {
          payoutId: 'po-1',
          providerEventId: 'evt-2',
          providerReference: 'tr_1',
          ledgerTransactionId: 'payout-settled-po-1',
        },
      },
    ]);
  given(payoutDecider, [...initiated, submittedWith('tr_1')])
    .when(fromProvider('settled', { providerReference: 'tr_2' }))
    .then(t, [
      opened(
        'd1',
        'second_transfer',
        'the provider answered about transfer tr_2; payout po-1 was paid by transfer tr_1',
        {
          providerReference: 'tr_2',
        },
      ),
    ]);
  given(payoutDecider, [...initiated, settledBy('tr_1')])
    .when(fromProvider('settled', { providerReference: 'tr_2' }))
    .then(t, [
      opened(
        'd1',
        'second_transfer',
        'the provider answered about transfer tr_2; payout po-1 was paid by transfer tr_1',
        {
          providerReference: 'tr_2',
        },
      ),
    ]);
  given(payoutDecider, initiated)
    .when(fromProvider('settled', { partyId: 'seller-2' }))
    .then(t, [
      opened('d1', 'transfer_mismatch', "the provider's transfer names party seller-2, payout po-1 is to seller-1", {
        partyIds: ['seller-1', 'seller-2'],
      }),
    ]);
  given(payoutDecider, initiated)
    .when(fromProvider('settled', { amountMinor: 999 }))
    .then(t, [opened('d1', 'transfer_mismatch', "the provider's transfer is 999 EUR, payout po-1 is 1000 EUR")]);
  given(payoutDecider, initiated)
    .when(fromProvider('settled', { mismatch: 'the transfer went to acct_9' }))
    .then(t, [opened('d1', 'transfer_mismatch', 'the transfer went to acct_9')]);
  // The same event again (a redelivery past the HTTP idempotency window) opens nothing more.
  const withOne = [...initiated, opened('d1', 'transfer_mismatch', 'x')];
  given(payoutDecider, withOne)
    .when(fromProvider('settled', { amountMinor: 999 }))
    .then(t, []);
  given(payoutDecider, withOne)
    .when(fromProvider('settled', { amountMinor: 999, providerEventId: 'evt-3' }))
    .then(t, [
      opened('d2', 'transfer_mismatch', "the provider's transfer is 999 EUR, payout po-1 is 1000 EUR", {
        providerEventId: 'evt-3',
      }),
    ]);
});

test('a settled payout taken back is reversed and held; taken back before it settled, it failed; partly taken back, a discrepancy', (t) => {
  given(payoutDecider, [...initiated, settledBy('tr_1')])
    .when(fromProvider('reversed', { providerEventId: 'evt-2' }))
    .then(t, [
      {
        type: 'payout.reversed',
        data: {
          payoutId: 'po-1',
          providerEventId: 'evt-2',
          providerReference: 'tr_1',
          reason: 'the provider took back transfer tr_1 after it settled',
          ledgerTransactionId: 'payout-reversed-po-1',
        },
      },
      opened(
        'd1',
        'reversed_after_settlement',
        'transfer tr_1 of 1000 EUR was taken back after payout po-1 settled: the money is owed to seller-1 again',
      ),
    ]);
  given(payoutDecider, initiated)
    .when(fromProvider('reversed'))
    .then(t, [
      {
        type: 'payout.failed',
        data: {
          payoutId: 'po-1',
          providerEventId: 'evt-2',
          providerReference: 'tr_1',
          reason: 'failed at the payout provider',
          ledgerTransactionId: 'payout-failed-po-1',
        },
      },
    ]);
  const failedBy1 = {
    type: 'payout.failed' as const,
    data: {
      payoutId: 'po-1',
      providerEventId: 'evt-1',
      providerReference: 'tr_1',
      reason: 'reversed',
      ledgerTransactionId: 'payout-failed-po-1',
    },
  };
  // The creation of a transfer reported after its reversal changes nothing.
  given(payoutDecider, [...initiated, failedBy1])
    .when(fromProvider('settled'))
    .then(t, []);
  given(payoutDecider, [...initiated, settledBy('tr_1')])
    .when(fromProvider('partially_reversed', { amountReversedMinor: 400 }))
    .then(t, [opened('d1', 'partial_reversal', 'the provider took back 400 of 1000 EUR of transfer tr_1')]);
  // By hand, finance still cannot fail a settled payout.
  given(payoutDecider, [...initiated, settledBy('tr_1')])
    .when(answer('failed'))
    .thenRejects(t, 'PAYOUT_ALREADY_DECIDED');
});

test('while a payout’s transfers are in doubt, nothing more is posted for it: a transfer after a failure, a reversal after a partial one or beside a second transfer', (t) => {
  const kinds = (events: readonly { type: string; data: object }[]) =>
    events.map((event) =>
      event.type === 'payout.discrepancy_opened' ? (event.data as { kind: string }).kind : event.type,
    );
  const decide = (history: readonly PayoutEvent[], command: ReturnType<typeof fromProvider>) =>
    kinds(payoutDecider.decide(command, history.reduce(payoutDecider.evolve, payoutDecider.initialState)));
  const failedByHand = {
    type: 'payout.failed' as const,
    data: { payoutId: 'po-1', providerEventId: 'pevt-1', reason: 'checked', ledgerTransactionId: 'payout-failed-po-1' },
  };
  // Failed by hand (the money owed again), then Stripe says the transfer was made: the party may be paid twice.
  t.deepEqual(decide([...initiated, submittedWith('tr_1'), failedByHand], fromProvider('settled')), [
    'settled_after_failure',
  ]);
  t.deepEqual(decide([...initiated, failedByHand], fromProvider('settled')), ['settled_after_failure']);
  // Settled by hand with no transfer recorded: any transfer Stripe names is checked by finance.
  const settledByHand = {
    type: 'payout.settled' as const,
    data: { payoutId: 'po-1', providerEventId: 'pevt-1', ledgerTransactionId: 'payout-settled-po-1' },
  };
  t.deepEqual(decide([...initiated, settledByHand], fromProvider('settled', { providerReference: 'tr_2' })), [
    'second_transfer',
  ]);
  // Stripe's amount_reversed is a running total: the last partial reversal reads as whole. Nothing more is posted.
  const partly = opened('d1', 'partial_reversal', 'part');
  t.deepEqual(
    decide([...initiated, settledBy('tr_1'), partly], fromProvider('reversed', { providerEventId: 'evt-3' })),
    ['reversed_after_settlement'],
  );
  t.deepEqual(decide([...initiated, partly], fromProvider('reversed', { providerEventId: 'evt-3' })), [
    'reversed_after_settlement',
  ]);
  // A second transfer stands beside the recorded one: taking the recorded one back does not make the party owed.
  const second = opened('d1', 'second_transfer', 'tr_2');
  t.deepEqual(
    decide([...initiated, settledBy('tr_1'), second], fromProvider('reversed', { providerEventId: 'evt-3' })),
    ['reversed_after_settlement'],
  );
  // Reversed first, its creation reported after: the same transfer, nothing.
  const reversedFirst = {
    type: 'payout.failed' as const,
    data: {
      payoutId: 'po-1',
      providerEventId: 'evt-1',
      providerReference: 'tr_1',
      reason: 'reversed',
      ledgerTransactionId: 'payout-failed-po-1',
    },
  };
  t.deepEqual(decide([...initiated, reversedFirst], fromProvider('settled')), []);
  // A partial reversal after the whole payout was owed again says to post nothing.
  given(payoutDecider, [...initiated, reversedFirst])
    .when(fromProvider('partially_reversed', { amountReversedMinor: 400 }))
    .then(t, [
      opened(
        'd1',
        'partial_reversal',
        'the provider took back 400 of 1000 EUR of transfer tr_1, after the whole payout was recorded failed and owed to seller-1 again: post nothing more for it',
      ),
    ]);
});

test('finance resolves a payout discrepancy once, with a reason; an unknown one is not found', (t) => {
  const resolve = (discrepancyId: string, actor = operator) => ({
    type: 'ResolvePayoutDiscrepancy' as const,
    actor,
    discrepancyId,
    reason: 'the second transfer was reversed in Stripe',
  });
  const withOne = [...initiated, opened('d1', 'second_transfer', 'x')];
  const resolved = {
    type: 'payout.discrepancy_resolved' as const,
    data: {
      payoutId: 'po-1',
      discrepancyId: 'd1',
      reason: 'the second transfer was reversed in Stripe',
      resolvedBy: operator.id,
    },
  };
  given(payoutDecider, withOne).when(resolve('d1')).then(t, [resolved]);
  given(payoutDecider, [...withOne, resolved])
    .when(resolve('d1'))
    .thenRejects(t, 'DISCREPANCY_ALREADY_RESOLVED');
  given(payoutDecider, withOne).when(resolve('d2')).thenRejects(t, 'DISCREPANCY_NOT_FOUND');
  given(payoutDecider, withOne).when(resolve('d1', publisher)).thenRejects(t, 'FORBIDDEN_ROLE');
  given(payoutDecider, withOne)
    .when({ ...resolve('d1'), reason: '' })
    .thenRejects(t, 'INVALID_REASON');
  given(payoutDecider).when(resolve('d1')).thenRejects(t, 'PAYOUT_NOT_FOUND');
});

test('a payout posts balanced transactions: payables to in transit, in transit to the provider, or all of it back', (t) => {
  const posted = [
    initiationPosting(payout),
    settlementPosting(payout),
    failurePosting(payout),
    reversalPosting(payout),
  ];
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
  t.deepEqual(
    posted[3]!.entries.map((e) => [e.account, e.direction, e.amountMinor]),
    [
      ['liability:seller-payable:seller-1', 'credit', 900],
      ['liability:royalty-payable:seller-1', 'credit', 300],
      ['asset:party-receivable:seller-1', 'debit', 200],
      ['asset:payment-provider', 'debit', 1000],
    ],
    'reversed after settling: the money back on the provider balance, owed again',
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
