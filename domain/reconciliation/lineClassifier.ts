/**
 * Classifying a payment provider's report against the ledger, one line at a
 * time (docs/FORMAT.md section 12): what the ledger expects of the period is
 * given up front, the report's lines stream through, and what no line
 * claimed is missing at the provider at the end. Memory holds the ledger's
 * expectations and one seen-id table; the lines themselves are not kept.
 *
 *   charge  → the order's payment (amount, currency); fee_minor must be 0
 *   refund  → the order's refund
 *   payout  → the payout (its amount when initiated)
 *   fee     → always a fee difference: the ledger books gross, no provider fee
 *   adjustment → always missing in the ledger: nothing posts one
 *
 * A second line for what another line already claimed is a duplicate.
 */
import type { Discrepancy, DiscrepancyKind, LineClass, LineCounts, ReportLineType } from './reconciliationEvents.ts';

export interface ReportLine {
  /** 1 is the first line of data. */
  line: number;
  transactionId: string;
  type: ReportLineType;
  amountMinor: number;
  currency: string;
  createdAt: string;
  reference: string | null;
  feeMinor: number;
}

/** What the ledger holds for one charge, refund or payout of the period. */
export interface LedgerExpectation {
  type: 'charge' | 'refund' | 'payout';
  reference: string;
  amountMinor: number;
  currency: string;
  orderIds: string[];
  partyIds: string[];
  /** False for a record just outside the period (kept so that a line near its edge still matches): never missing at the provider. */
  inPeriod: boolean;
}

export function expectationKey(type: string, reference: string): string {
  return `${type}\u0000${reference}`;
}

export function emptyCounts(): LineCounts {
  return {
    matched: 0,
    missing_in_ledger: 0,
    missing_at_provider: 0,
    amount_mismatch: 0,
    currency_mismatch: 0,
    duplicate: 0,
    fee_difference: 0,
  };
}

/** A discrepancy before it is numbered. */
export type Finding = Omit<Discrepancy, 'discrepancyId'>;

export interface Classifier {
  /** Classifies one line; returns the finding when it is not matched. */
  add(line: ReportLine): Finding | undefined;
  /** The ledger's expectations no line claimed: missing at the provider. */
  finish(): Finding[];
  readonly counts: LineCounts;
}

function findingOf(kind: DiscrepancyKind, line: ReportLine, expected: LedgerExpectation | undefined): Finding {
  return {
    kind,
    line: line.line,
    providerTransactionId: line.transactionId,
    type: line.type,
    reference: line.reference,
    ledgerAmountMinor: expected?.amountMinor ?? null,
    ledgerCurrency: expected?.currency ?? null,
    reportedAmountMinor: line.amountMinor,
    reportedCurrency: line.currency,
    reportedFeeMinor: line.feeMinor,
    orderIds: expected?.orderIds ?? (line.type === 'payout' || line.reference === null ? [] : [line.reference]),
    partyIds: expected?.partyIds ?? [],
  };
}

function classOf(line: ReportLine, expected: LedgerExpectation | undefined, claimed: boolean): LineClass {
  if (line.type === 'fee') return 'fee_difference';
  if (expected === undefined) return 'missing_in_ledger';
  if (claimed) return 'duplicate';
  if (line.currency !== expected.currency) return 'currency_mismatch';
  if (line.amountMinor !== expected.amountMinor) return 'amount_mismatch';
  if (line.feeMinor !== 0) return 'fee_difference';
  return 'matched';
}

export function classifier(expectations: ReadonlyMap<string, LedgerExpectation>): Classifier {
  // The expectations lines claimed, by reference to the object (not a key string per line: a million lines stay small).
  const claimed = new Set<LedgerExpectation>();
  const counts = emptyCounts();
  return {
    counts,
    add(line) {
      const key = line.reference === null ? undefined : expectationKey(line.type, line.reference);
      const expected = key === undefined || line.type === 'fee' ? undefined : expectations.get(key);
      const kind = classOf(line, expected, expected !== undefined && claimed.has(expected));
      counts[kind] += 1;
      if (expected !== undefined) claimed.add(expected);
      return kind === 'matched' ? undefined : findingOf(kind, line, expected);
    },
    finish() {
      const missing: Finding[] = [];
      for (const expected of expectations.values()) {
        if (claimed.has(expected) || !expected.inPeriod) continue;
        counts.missing_at_provider += 1;
        missing.push({
          kind: 'missing_at_provider',
          line: null,
          providerTransactionId: null,
          type: expected.type,
          reference: expected.reference,
          ledgerAmountMinor: expected.amountMinor,
          ledgerCurrency: expected.currency,
          reportedAmountMinor: null,
          reportedCurrency: null,
          reportedFeeMinor: null,
          orderIds: expected.orderIds,
          partyIds: expected.partyIds,
        });
      }
      return missing;
    },
  };
}
