/**
 * Balances across transactions. Kept per account and currency as
 * `debits − credits`; the trial balance (the sum over all accounts) is zero
 * per currency whenever every transaction balances.
 */
import { CodedError } from '../errors.ts';
import { mustNotGoNegative, normalBalance, requireAccount } from './accounts.ts';
import type { LedgerEntry } from './ledgerEvents.ts';

export function balanceKey(account: string, currency: string): string {
  return `${account} ${currency}`;
}

/**
 * Applies entries to `balances` (debit − credit per balanceKey) in place, and
 * throws LEDGER_ACCOUNT_WOULD_GO_NEGATIVE when an account that must not go
 * negative ends below zero on its normal side.
 */
export function applyEntries(
  balances: Map<string, number>,
  entries: readonly LedgerEntry[],
  transactionId: string,
): void {
  for (const entry of entries) {
    const key = balanceKey(entry.account, entry.currency);
    balances.set(
      key,
      (balances.get(key) ?? 0) + (entry.direction === 'debit' ? entry.amountMinor : -entry.amountMinor),
    );
  }
  for (const entry of entries) {
    if (!mustNotGoNegative(entry.account)) continue;
    const balance = normalBalance(
      requireAccount(entry.account).kind,
      balances.get(balanceKey(entry.account, entry.currency))!,
    );
    if (balance < 0) {
      throw new CodedError(
        'LEDGER_ACCOUNT_WOULD_GO_NEGATIVE',
        `transaction ${transactionId} would take ${entry.account} to ${balance} ${entry.currency}; it must not go negative`,
        { transactionId, account: entry.account, currency: entry.currency, balanceMinor: balance },
      );
    }
  }
}

/** Sum of debit − credit per currency over balances; zero everywhere when the ledger is sound. */
export function trialBalanceOf(balances: ReadonlyMap<string, number>): Map<string, number> {
  const totals = new Map<string, number>();
  for (const [key, amount] of balances) {
    const currency = key.slice(key.lastIndexOf(' ') + 1);
    totals.set(currency, (totals.get(currency) ?? 0) + amount);
  }
  return totals;
}
