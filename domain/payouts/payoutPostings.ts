/**
 * What the ledger records for a payout. Initiation: the party's payables go
 * to payouts in transit (less what the party owed the platform, which the
 * payables pay back). Settlement: the money leaves the provider balance, the
 * platform's cash at the payment provider. Failure: the initiation reversed,
 * the money owed again. Reversal (after settlement): the money back on the
 * provider balance and owed again, as the initiation reversed but with the
 * provider balance in place of payouts in transit.
 */
import { ACCOUNTS } from '../ledger/accounts.ts';
import type { LedgerEntry, LedgerTransaction } from '../ledger/ledgerEvents.ts';
import type { PayoutInitiated } from './payoutEvents.ts';

export const payoutTransactionIds = {
  initiation: (payoutId: string) => `payout-${payoutId}`,
  settlement: (payoutId: string) => `payout-settled-${payoutId}`,
  failure: (payoutId: string) => `payout-failed-${payoutId}`,
  reversal: (payoutId: string) => `payout-reversed-${payoutId}`,
} as const;

export function initiationPosting(payout: PayoutInitiated): LedgerTransaction {
  const { payoutId, partyId, currency } = payout;
  const entries: LedgerEntry[] = payout.sources.map((source) => ({
    account: source.account,
    direction: 'debit',
    amountMinor: source.amountMinor,
    currency,
  }));
  if (payout.nettedMinor > 0)
    entries.push({
      account: ACCOUNTS.partyReceivable(partyId),
      direction: 'credit',
      amountMinor: payout.nettedMinor,
      currency,
    });
  entries.push({
    account: ACCOUNTS.payoutsInTransit(partyId),
    direction: 'credit',
    amountMinor: payout.amountMinor,
    currency,
  });
  return {
    transactionId: payoutTransactionIds.initiation(payoutId),
    entries,
    reason: `payout ${payoutId} to ${partyId} (run ${payout.runId})`,
  };
}

export function settlementPosting(payout: PayoutInitiated): LedgerTransaction {
  const { payoutId, partyId, currency, amountMinor } = payout;
  return {
    transactionId: payoutTransactionIds.settlement(payoutId),
    entries: [
      { account: ACCOUNTS.payoutsInTransit(partyId), direction: 'debit', amountMinor, currency },
      { account: ACCOUNTS.paymentProvider, direction: 'credit', amountMinor, currency },
    ],
    reason: `payout ${payoutId} to ${partyId} settled`,
  };
}

export function failurePosting(payout: PayoutInitiated): LedgerTransaction {
  const initiation = initiationPosting(payout);
  return {
    transactionId: payoutTransactionIds.failure(payout.payoutId),
    entries: initiation.entries.map((e) => ({ ...e, direction: e.direction === 'debit' ? 'credit' : 'debit' })),
    reason: `payout ${payout.payoutId} to ${payout.partyId} failed: reversal of ${initiation.transactionId}`,
  };
}

export function reversalPosting(payout: PayoutInitiated): LedgerTransaction {
  const initiation = initiationPosting(payout);
  const inTransit = ACCOUNTS.payoutsInTransit(payout.partyId);
  return {
    transactionId: payoutTransactionIds.reversal(payout.payoutId),
    entries: initiation.entries.map((e) => ({
      ...e,
      account: e.account === inTransit ? ACCOUNTS.paymentProvider : e.account,
      direction: e.direction === 'debit' ? 'credit' : 'debit',
    })),
    reason: `payout ${payout.payoutId} to ${payout.partyId} reversed by the provider after it settled`,
  };
}
