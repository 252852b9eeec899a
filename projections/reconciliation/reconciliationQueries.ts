/**
 * Reads for reconciliation: what the ledger expects a provider's report of a
 * period to hold, the parties whose payouts an open discrepancy holds, and a
 * run's report.
 */
import { CodedError } from '../../domain/errors.ts';
import { expectationKey, type LedgerExpectation } from '../../domain/reconciliation/lineClassifier.ts';
import type { LineCounts } from '../../domain/reconciliation/reconciliationEvents.ts';
import type { ProjectionExecutor } from '../rowStore.ts';

/** Ledger records one reconciliation compares with (payments, refunds, payouts of the period and its margins). */
export const MAX_EXPECTATIONS = 2_000_000;

function partiesOf(sellerId: string | null, royaltySplits: string | null): string[] {
  const parties = new Set<string>();
  if (sellerId !== null) parties.add(sellerId);
  for (const split of JSON.parse(royaltySplits ?? '[]') as { partyId: string }[]) parties.add(split.partyId);
  return [...parties];
}

/**
 * What the ledger holds between `fromTs` and `toTs` (commit times) that a
 * provider's report must show: each order's payment (`charge`) and refund
 * (`refund`), each payout (`payout`), keyed by type and reference. Records
 * up to `marginMs` outside the period are included, marked not in it, so
 * that a line near the edge still finds its record.
 */
export async function providerExpectations(
  tx: ProjectionExecutor,
  chain: string,
  period: { fromTs: string; toTs: string; marginMs: number },
): Promise<Map<string, LedgerExpectation>> {
  const from = new Date(Date.parse(period.fromTs) - period.marginMs).toISOString();
  const to = new Date(Date.parse(period.toTs) + period.marginMs).toISOString();
  const { rows } = await tx.query<{
    type: 'charge' | 'refund' | 'payout';
    reference: string;
    amount_minor: number;
    currency: string;
    at: string;
    order_id: string | null;
    seller_id: string | null;
    royalty_splits: string | null;
  }>(
    `SELECT CASE WHEN starts_with(t.transaction_id, 'payment-') THEN 'charge' ELSE 'refund' END AS type,
            t.order_id AS reference, e.amount_minor, e.currency, t.posted_at AS at, t.order_id, o.seller_id, l.royalty_splits
     FROM ledger_transactions t
     JOIN ledger_entries e ON e.transaction_id = t.transaction_id AND e.line = 1
     LEFT JOIN orders o ON o.order_id = t.order_id
     LEFT JOIN catalog_listings l ON l.listing_id = o.listing_id
     WHERE t.chain = $1 AND t.posted_at >= $2 AND t.posted_at <= $3 AND t.order_id IS NOT NULL
       AND (starts_with(t.transaction_id, 'payment-')
            OR (starts_with(t.transaction_id, 'refund-') AND NOT starts_with(t.transaction_id, 'refund-reversal-')))
     UNION ALL
     SELECT 'payout', payout_id, amount_minor, currency, initiated_at, NULL, party_id, NULL
     FROM payouts WHERE initiated_at >= $2 AND initiated_at <= $3
     LIMIT $4`,
    [chain, from, to, MAX_EXPECTATIONS + 1],
  );
  if (rows.length > MAX_EXPECTATIONS)
    throw new CodedError(
      'RECONCILIATION_PERIOD_TOO_LARGE',
      `the period holds more than ${MAX_EXPECTATIONS} payments, refunds and payouts: reconcile it in parts`,
      { maxRecords: MAX_EXPECTATIONS },
    );
  const expectations = new Map<string, LedgerExpectation>();
  for (const row of rows)
    expectations.set(expectationKey(row.type, row.reference), {
      type: row.type,
      reference: row.reference,
      amountMinor: Number(row.amount_minor),
      currency: row.currency,
      orderIds: row.order_id === null ? [] : [row.order_id],
      partyIds: partiesOf(row.seller_id, row.royalty_splits),
      inPeriod: row.at >= period.fromTs && row.at <= period.toTs,
    });
  return expectations;
}

/**
 * The parties whose payouts open discrepancies hold: those they name, and the
 * seller and royalty parties of the orders they name; a reconciliation's
 * (reconciliation_discrepancies) or a payout's (payout_discrepancies, a
 * provider answer that did not fit).
 */
export async function heldParties(tx: ProjectionExecutor): Promise<Set<string>> {
  const { rows } = await tx.query<{ order_ids: string; party_ids: string }>(
    `SELECT order_ids, party_ids FROM reconciliation_discrepancies WHERE status = 'open'
     UNION ALL SELECT '[]', party_ids FROM payout_discrepancies WHERE status = 'open'`,
  );
  const parties = new Set<string>();
  const orders = new Set<string>();
  for (const row of rows) {
    for (const party of JSON.parse(row.party_ids) as string[]) parties.add(party);
    for (const order of JSON.parse(row.order_ids) as string[]) orders.add(order);
  }
  if (orders.size === 0) return parties;
  const { rows: held } = await tx.query<{ seller_id: string; royalty_splits: string | null }>(
    `SELECT o.seller_id, l.royalty_splits FROM orders o LEFT JOIN catalog_listings l ON l.listing_id = o.listing_id
     WHERE o.order_id = ANY($1::text[])`,
    [[...orders]],
  );
  for (const row of held) for (const party of partiesOf(row.seller_id, row.royalty_splits)) parties.add(party);
  return parties;
}

export interface DiscrepancyView {
  discrepancyId: string;
  kind: string;
  line: number | null;
  providerTransactionId: string | null;
  type: string;
  reference: string | null;
  ledgerAmountMinor: number | null;
  ledgerCurrency: string | null;
  reportedAmountMinor: number | null;
  reportedCurrency: string | null;
  reportedFeeMinor: number | null;
  orderIds: string[];
  partyIds: string[];
  status: 'open' | 'resolved';
  resolvedReason: string | null;
  resolvedBy: string | null;
}

export interface ReconciliationReport {
  reconciliationId: string;
  reportSha256: string;
  format: string;
  reportBytes: number;
  lineCount: number;
  fromTs: string;
  toTs: string;
  counts: LineCounts;
  discrepancyCount: number;
  recordedBy: string;
  recordedSeq: number;
  recordedAt: string;
  discrepancies: DiscrepancyView[];
}

const numberOrNull = (value: unknown): number | null => (value === null ? null : Number(value));

/** A run with every discrepancy it found (at most MAX_DISCREPANCIES), in the order found. */
export async function reconciliationReport(
  tx: ProjectionExecutor,
  reconciliationId: string,
): Promise<ReconciliationReport | undefined> {
  const { rows } = await tx.query<Record<string, unknown>>(
    'SELECT * FROM reconciliations WHERE reconciliation_id = $1',
    [reconciliationId],
  );
  const run = rows[0];
  if (!run) return undefined;
  const { rows: found } = await tx.query<Record<string, unknown>>(
    'SELECT * FROM reconciliation_discrepancies WHERE reconciliation_id = $1 ORDER BY number',
    [reconciliationId],
  );
  return {
    reconciliationId,
    reportSha256: run['report_sha256'] as string,
    format: run['format'] as string,
    reportBytes: Number(run['report_bytes']),
    lineCount: Number(run['line_count']),
    fromTs: run['from_ts'] as string,
    toTs: run['to_ts'] as string,
    counts: JSON.parse(run['counts'] as string) as LineCounts,
    discrepancyCount: Number(run['discrepancy_count']),
    recordedBy: run['recorded_by'] as string,
    recordedSeq: Number(run['recorded_seq']),
    recordedAt: run['recorded_at'] as string,
    discrepancies: found.map((row) => ({
      discrepancyId: row['discrepancy_id'] as string,
      kind: row['kind'] as string,
      line: numberOrNull(row['line']),
      providerTransactionId: row['provider_transaction_id'] as string | null,
      type: row['type'] as string,
      reference: row['reference'] as string | null,
      ledgerAmountMinor: numberOrNull(row['ledger_amount_minor']),
      ledgerCurrency: row['ledger_currency'] as string | null,
      reportedAmountMinor: numberOrNull(row['reported_amount_minor']),
      reportedCurrency: row['reported_currency'] as string | null,
      reportedFeeMinor: numberOrNull(row['reported_fee_minor']),
      orderIds: JSON.parse(row['order_ids'] as string) as string[],
      partyIds: JSON.parse(row['party_ids'] as string) as string[],
      status: row['status'] as 'open' | 'resolved',
      resolvedReason: row['resolved_reason'] as string | null,
      resolvedBy: row['resolved_by'] as string | null,
    })),
  };
}
