import test from 'ava';
import {
  classifier,
  expectationKey,
  type LedgerExpectation,
  type ReportLine,
} from '../../domain/reconciliation/lineClassifier.ts';
import { reconciliationDecider } from '../../domain/reconciliation/reconciliationDecider.ts';
import { fold } from '../../domain/decider.ts';
import { given } from '../helpers/given.ts';
import { operator, publisher } from '../helpers/fixtures.ts';

const expectation = (
  type: LedgerExpectation['type'],
  reference: string,
  amountMinor: number,
  inPeriod = true,
): LedgerExpectation => ({
  type,
  reference,
  amountMinor,
  currency: 'EUR',
  orderIds: type === 'payout' ? [] : [reference],
  partyIds: ['seller-1'],
  inPeriod,
});
let next = 0;
const line = (
  type: ReportLine['type'],
  reference: string | null,
  amountMinor: number,
  extra: Partial<ReportLine> = {},
): ReportLine => ({
  line: (next += 1),
  transactionId: `txn_${next}`,
  type,
  amountMinor,
  currency: 'EUR',
  createdAt: '2025-11-01T10:00:00Z',
  reference,
  feeMinor: 0,
  ...extra,
});

test('each line falls in exactly one class; what no line claims in the period is missing at the provider', (t) => {
  const expectations = [
    expectation('charge', 'o-1', 1999),
    expectation('charge', 'o-2', 1999),
    expectation('charge', 'o-3', 1999),
    expectation('refund', 'o-4', 500),
    expectation('payout', 'po-1', 1440),
    expectation('charge', 'o-5', 1999),
    expectation('charge', 'o-6', 1999),
    expectation('charge', 'o-edge', 700, false),
  ];
  const lines = classifier(new Map(expectations.map((e) => [expectationKey(e.type, e.reference), e])));
  const kinds = [
    line('charge', 'o-1', 1999),
    line('charge', 'o-2', 1998),
    line('charge', 'o-3', 1999, { currency: 'USD' }),
    line('refund', 'o-4', 500),
    line('payout', 'po-1', 1440),
    line('charge', 'o-1', 1999),
    line('charge', 'o-5', 1999, { feeMinor: 59 }),
    line('fee', 'o-5', 59),
    line('adjustment', null, 10),
    line('charge', 'o-unknown', 10),
  ].map((l) => lines.add(l)?.kind ?? 'matched');
  t.deepEqual(kinds, [
    'matched',
    'amount_mismatch',
    'currency_mismatch',
    'matched',
    'matched',
    'duplicate',
    'fee_difference',
    'fee_difference',
    'missing_in_ledger',
    'missing_in_ledger',
  ]);
  const missing = lines.finish();
  t.deepEqual(
    missing.map((m) => [m.kind, m.reference, m.orderIds, m.partyIds]),
    [['missing_at_provider', 'o-6', ['o-6'], ['seller-1']]],
    'o-edge lies outside the period: never missing',
  );
  t.deepEqual(lines.counts, {
    matched: 3,
    missing_in_ledger: 2,
    missing_at_provider: 1,
    amount_mismatch: 1,
    currency_mismatch: 1,
    duplicate: 1,
    fee_difference: 2,
  });
});

const recorded = {
  reconciliationId: 'r-1',
  reportSha256: 'a'.repeat(64),
  format: 'csv' as const,
  reportBytes: 1,
  lineCount: 1,
  fromTs: '2025-11-01T00:00:00.000Z',
  toTs: '2025-11-30T23:59:59.999Z',
  counts: {
    matched: 0,
    missing_in_ledger: 1,
    missing_at_provider: 0,
    amount_mismatch: 0,
    currency_mismatch: 0,
    duplicate: 0,
    fee_difference: 0,
  },
  discrepancyCount: 1,
};
const d1 = {
  discrepancyId: 'd1',
  kind: 'missing_in_ledger' as const,
  line: 2,
  providerTransactionId: 'txn_1',
  type: 'charge' as const,
  reference: 'o-9',
  ledgerAmountMinor: null,
  ledgerCurrency: null,
  reportedAmountMinor: 100,
  reportedCurrency: 'EUR',
  reportedFeeMinor: 0,
  orderIds: ['o-9'],
  partyIds: [],
};
const history = [
  { type: 'reconciliation.recorded' as const, data: recorded },
  { type: 'reconciliation.discrepancies_found' as const, data: { reconciliationId: 'r-1', discrepancies: [d1] } },
];

test('a run is recorded once with its discrepancies; each is resolved once, with a reason, by a finance role', (t) => {
  given(reconciliationDecider)
    .when({ type: 'RecordReconciliation', actor: operator, recorded, discrepancies: [d1] })
    .then(t, history);
  given(reconciliationDecider, history)
    .when({ type: 'RecordReconciliation', actor: operator, recorded, discrepancies: [d1] })
    .thenRejects(t, 'RECONCILIATION_EXISTS');
  given(reconciliationDecider, history)
    .when({ type: 'ResolveDiscrepancy', actor: operator, discrepancyId: 'd1', reason: 'refunded by the provider' })
    .then(t, [
      {
        type: 'reconciliation.discrepancy_resolved',
        data: {
          reconciliationId: 'r-1',
          discrepancyId: 'd1',
          reason: 'refunded by the provider',
          resolvedBy: operator.id,
        },
      },
    ]);
  const resolved = [
    ...history,
    {
      type: 'reconciliation.discrepancy_resolved' as const,
      data: { reconciliationId: 'r-1', discrepancyId: 'd1', reason: 'x', resolvedBy: 'o' },
    },
  ];
  t.deepEqual([...(fold(reconciliationDecider, resolved) as { open: ReadonlySet<string> }).open], []);
  given(reconciliationDecider, resolved)
    .when({ type: 'ResolveDiscrepancy', actor: operator, discrepancyId: 'd1', reason: 'again' })
    .thenRejects(t, 'DISCREPANCY_ALREADY_RESOLVED');
  given(reconciliationDecider, history)
    .when({ type: 'ResolveDiscrepancy', actor: operator, discrepancyId: 'd2', reason: 'x' })
    .thenRejects(t, 'DISCREPANCY_NOT_FOUND');
  given(reconciliationDecider, history)
    .when({ type: 'ResolveDiscrepancy', actor: operator, discrepancyId: 'd1', reason: '  ' })
    .thenRejects(t, 'INVALID_REASON');
  given(reconciliationDecider, history)
    .when({ type: 'ResolveDiscrepancy', actor: publisher, discrepancyId: 'd1', reason: 'mine' })
    .thenRejects(t, 'FORBIDDEN_ROLE');
  given(reconciliationDecider)
    .when({ type: 'ResolveDiscrepancy', actor: operator, discrepancyId: 'd1', reason: 'x' })
    .thenRejects(t, 'RECONCILIATION_NOT_FOUND');
});
