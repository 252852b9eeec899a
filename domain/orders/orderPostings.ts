/**
 * What the ledger records for an order. Payment: the provider holds the
 * buyer's money for us. Finalization: buyer clearing is split into the
 * platform fee, the seller's payable and the royalty payables. Refund: the
 * reversal of the finalization (when there was one), then the money goes back.
 */
import { ACCOUNTS, parseAccount } from '../ledger/accounts.ts';
import type { LedgerEntry, LedgerTransaction } from '../ledger/ledgerEvents.ts';
import { shareOf } from '../money.ts';
import type { OrderCreated } from './orderEvents.ts';

/** The platform's fee on each sale, in basis points of the price (recorded in each order at checkout). */
export const PLATFORM_FEE_BASIS_POINTS = 1000;

/** Ledger transaction ids of an order's postings: derived, so a retried command posts the same transaction. */
export const orderTransactionIds = {
  payment: (orderId: string) => `payment-${orderId}`,
  finalize: (orderId: string) => `finalize-${orderId}`,
  refundReversal: (orderId: string) => `refund-reversal-${orderId}`,
  refund: (orderId: string) => `refund-${orderId}`,
} as const;

function entry(
  account: string,
  direction: LedgerEntry['direction'],
  amountMinor: number,
  currency: string,
): LedgerEntry {
  return { account, direction, amountMinor, currency };
}

export function paymentPosting(order: OrderCreated, providerPaymentId: string): LedgerTransaction {
  const { orderId, priceMinor, currency } = order;
  return {
    transactionId: orderTransactionIds.payment(orderId),
    entries: [
      entry(ACCOUNTS.paymentProvider, 'debit', priceMinor, currency),
      entry(ACCOUNTS.buyerClearing, 'credit', priceMinor, currency),
    ],
    reason: `payment ${providerPaymentId} for order ${orderId}`,
    orderId,
  };
}

/**
 * The split of a sale: the fee (rounded down), then each party's share of the
 * rest (rounded down); what rounding leaves goes to the seller. Parties other
 * than the seller are royalty payables. Zero amounts are left out.
 */
export function saleCredits(order: OrderCreated): LedgerEntry[] {
  const { priceMinor, currency, sellerId } = order;
  const feeMinor = shareOf(priceMinor, order.platformFeeBasisPoints);
  const netMinor = priceMinor - feeMinor;
  const shares = order.royaltySplits.map((split) => ({
    partyId: split.partyId,
    amountMinor: shareOf(netMinor, split.basisPoints),
  }));
  const remainder = netMinor - shares.reduce((sum, share) => sum + share.amountMinor, 0);
  const sellerShare = (shares.find((share) => share.partyId === sellerId)?.amountMinor ?? 0) + remainder;
  const credits = [
    entry(ACCOUNTS.platformFees, 'credit', feeMinor, currency),
    entry(ACCOUNTS.sellerPayable(sellerId), 'credit', sellerShare, currency),
  ];
  for (const share of shares) {
    if (share.partyId !== sellerId)
      credits.push(entry(ACCOUNTS.royaltyPayable(share.partyId), 'credit', share.amountMinor, currency));
  }
  return credits.filter((credit) => credit.amountMinor > 0);
}

export function finalizePosting(order: OrderCreated): LedgerTransaction {
  const { orderId, priceMinor, currency } = order;
  return {
    transactionId: orderTransactionIds.finalize(orderId),
    entries: [entry(ACCOUNTS.buyerClearing, 'debit', priceMinor, currency), ...saleCredits(order)],
    reason: `finalization of order ${orderId}`,
    orderId,
  };
}

/**
 * The reversal of one credit of the sale. A payable that no longer holds the
 * party's share (it was paid out) is reversed as far as it holds, and the
 * rest is recorded as owed by the party to the platform
 * (`asset:party-receivable:<party>`), which the party's next payout nets:
 * never a silent negative payable.
 */
function reversalOf(credit: LedgerEntry, payableBalanceOf: ((account: string) => number) | undefined): LedgerEntry[] {
  const parsed = parseAccount(credit.account);
  const payable = parsed?.name === 'seller-payable' || parsed?.name === 'royalty-payable';
  if (!payable || payableBalanceOf === undefined || parsed.party === undefined)
    return [{ ...credit, direction: 'debit' }];
  const coveredMinor = Math.min(credit.amountMinor, Math.max(0, payableBalanceOf(credit.account)));
  const owedMinor = credit.amountMinor - coveredMinor;
  const entries: LedgerEntry[] = [];
  if (coveredMinor > 0) entries.push(entry(credit.account, 'debit', coveredMinor, credit.currency));
  if (owedMinor > 0) entries.push(entry(ACCOUNTS.partyReceivable(parsed.party), 'debit', owedMinor, credit.currency));
  return entries;
}

/**
 * The postings of a refund, in order; `finalized` says whether the sale was
 * split already. `payableBalanceOf` gives the current balance of a payable
 * (its normal side) when the split is reversed for real; without it the
 * reversal is the exact mirror (what the decider needs: the ids).
 */
export function refundPostings(
  order: OrderCreated,
  finalized: boolean,
  payableBalanceOf?: (account: string) => number,
): LedgerTransaction[] {
  const { orderId, priceMinor, currency } = order;
  const refund: LedgerTransaction = {
    transactionId: orderTransactionIds.refund(orderId),
    entries: [
      entry(ACCOUNTS.buyerClearing, 'debit', priceMinor, currency),
      entry(ACCOUNTS.paymentProvider, 'credit', priceMinor, currency),
    ],
    reason: `refund of order ${orderId}`,
    orderId,
  };
  if (!finalized) return [refund];
  const sale = finalizePosting(order);
  const reversal: LedgerTransaction = {
    transactionId: orderTransactionIds.refundReversal(orderId),
    entries: sale.entries.flatMap((e) =>
      e.direction === 'debit' ? [{ ...e, direction: 'credit' as const }] : reversalOf(e, payableBalanceOf),
    ),
    reason: `reversal of ${sale.transactionId} for the refund of order ${orderId}`,
    orderId,
  };
  return [reversal, refund];
}
