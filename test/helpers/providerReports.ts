/** A payment provider's report generated from the ledger itself (docs/FORMAT.md section 12): it reconciles clean until a test plants a difference. */
import type { SqlDatabase } from '../../infra/adapters/sql/sql.ts';

export interface GeneratedLine {
  id: string;
  type: 'charge' | 'refund' | 'payout' | 'fee' | 'adjustment';
  amount: number;
  fee?: number;
  currency: string;
  created: string;
  reference: string;
}

/** One line per payment, refund and payout the ledger holds, at its commit time (seconds), in that order. */
export async function reportFromLedger(db: SqlDatabase): Promise<GeneratedLine[]> {
  const { rows } = await db.query<{
    type: GeneratedLine['type'];
    reference: string;
    amount_minor: number;
    currency: string;
    at: string;
  }>(
    `SELECT CASE WHEN starts_with(t.transaction_id, 'payment-') THEN 'charge' ELSE 'refund' END AS type,
            t.order_id AS reference, e.amount_minor, e.currency, t.posted_at AS at
     FROM ledger_transactions t JOIN ledger_entries e ON e.transaction_id = t.transaction_id AND e.line = 1
     WHERE t.order_id IS NOT NULL AND (starts_with(t.transaction_id, 'payment-')
       OR (starts_with(t.transaction_id, 'refund-') AND NOT starts_with(t.transaction_id, 'refund-reversal-')))
     UNION ALL SELECT 'payout', payout_id, amount_minor, currency, initiated_at FROM payouts
     ORDER BY at, reference`,
  );
  return rows.map((row, index) => ({
    id: `txn_${String(index + 1).padStart(6, '0')}`,
    type: row.type,
    amount: Number(row.amount_minor),
    currency: row.currency,
    created: `${row.at.slice(0, 19)}Z`,
    reference: row.reference,
  }));
}

export function csvOf(lines: readonly GeneratedLine[]): string {
  const header = 'id,type,amount,fee,currency,created,reference';
  return [
    header,
    ...lines.map((l) => [l.id, l.type, l.amount, l.fee ?? 0, l.currency, l.created, l.reference].join(',')),
  ]
    .join('\n')
    .concat('\n');
}

export function jsonlOf(lines: readonly GeneratedLine[]): string {
  return lines.map((line) => JSON.stringify(line)).join('\n');
}

/** The whole report as one chunk, or in chunks of `size` bytes (a streamed upload). */
export async function* chunksOf(text: string, size = 7): AsyncGenerator<Uint8Array> {
  const bytes = Buffer.from(text);
  for (let start = 0; start < bytes.length; start += size) yield bytes.subarray(start, start + size);
}
