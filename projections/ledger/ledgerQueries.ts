/** Reads of the ledger projection: balances and the trial balance. */
import { assert } from '../../domain/errors.ts';
import { normalBalance, type AccountKind } from '../../domain/ledger/accounts.ts';
import type { ProjectionExecutor } from '../rowStore.ts';

/** Accounts returned by one balances read. */
export const MAX_BALANCE_ROWS = 1000;

export interface TrialBalanceLine {
  currency: string;
  debitMinor: number;
  creditMinor: number;
  /** Debits − credits over every account: zero in a sound ledger. */
  totalMinor: number;
}

/**
 * The trial balance per currency. Asserts that it sums to zero: a ledger
 * where it does not is corrupt, never a state to report and go on.
 */
export async function trialBalance(tx: ProjectionExecutor): Promise<TrialBalanceLine[]> {
  const { rows } = await tx.query<{ currency: string; debit_minor: number; credit_minor: number; total_minor: number }>(
    `SELECT currency, sum(debit_minor) AS debit_minor, sum(credit_minor) AS credit_minor, sum(balance_minor) AS total_minor
     FROM ledger_accounts GROUP BY currency ORDER BY currency`,
  );
  const lines = rows.map((row) => ({ currency: row.currency, debitMinor: Number(row.debit_minor), creditMinor: Number(row.credit_minor), totalMinor: Number(row.total_minor) }));
  for (const line of lines) assert(line.totalMinor === 0 && line.debitMinor === line.creditMinor, `the ${line.currency} trial balance is ${line.totalMinor}, not zero`);
  return lines;
}

export interface AccountBalance {
  account: string;
  currency: string;
  kind: AccountKind;
  /** On the account's normal side: assets and expenses debit, others credit. */
  balanceMinor: number;
}

export async function accountBalances(tx: ProjectionExecutor, limit = MAX_BALANCE_ROWS): Promise<AccountBalance[]> {
  const { rows } = await tx.query<{ account: string; currency: string; kind: AccountKind; balance_minor: number }>(
    'SELECT account, currency, kind, balance_minor FROM ledger_accounts ORDER BY account, currency LIMIT $1',
    [Math.min(limit, MAX_BALANCE_ROWS)],
  );
  return rows.map((row) => ({ account: row.account, currency: row.currency, kind: row.kind, balanceMinor: normalBalance(row.kind, row.balance_minor) }));
}
