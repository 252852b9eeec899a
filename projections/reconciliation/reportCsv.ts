/** A reconciliation run's discrepancies as CSV, for finance people (GET /reconcile/{id}/report.csv, `chainbook reconcile --csv`). */
import type { ReconciliationReport } from './reconciliationQueries.ts';

const CSV_REPORT_COLUMNS = [
  'discrepancy_id',
  'kind',
  'status',
  'line',
  'provider_transaction_id',
  'type',
  'reference',
  'ledger_amount_minor',
  'ledger_currency',
  'reported_amount_minor',
  'reported_currency',
  'reported_fee_minor',
  'order_ids',
  'party_ids',
  'resolved_by',
  'resolved_reason',
] as const;

/** A CSV field: quoted when it holds a comma, a quote or a line break; a leading = + - @ is neutralised for spreadsheets. */
function csvField(value: unknown): string {
  let text = value === null || value === undefined ? '' : Array.isArray(value) ? value.join(' ') : String(value);
  if (/^[=+\-@]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

export function reportCsv(report: ReconciliationReport): string {
  const lines = [CSV_REPORT_COLUMNS.join(',')];
  for (const d of report.discrepancies)
    lines.push(
      [
        d.discrepancyId,
        d.kind,
        d.status,
        d.line,
        d.providerTransactionId,
        d.type,
        d.reference,
        d.ledgerAmountMinor,
        d.ledgerCurrency,
        d.reportedAmountMinor,
        d.reportedCurrency,
        d.reportedFeeMinor,
        d.orderIds,
        d.partyIds,
        d.resolvedBy,
        d.resolvedReason,
      ]
        .map(csvField)
        .join(','),
    );
  return `${lines.join('\n')}\n`;
}
