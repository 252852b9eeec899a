/** Reads of the ledger projection: balances, the journal and the trial balance. */
import { assert } from '../../domain/errors.ts';
import { normalBalance, type AccountKind } from '../../domain/ledger/accounts.ts';
import { pageOf, pageSize, type Page } from '../page.ts';
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
  const lines = rows.map((row) => ({
    currency: row.currency,
    debitMinor: Number(row.debit_minor),
    creditMinor: Number(row.credit_minor),
    totalMinor: Number(row.total_minor),
  }));
  for (const line of lines)
    assert(
      line.totalMinor === 0 && line.debitMinor === line.creditMinor,
      `the ${line.currency} trial balance is ${line.totalMinor}, not zero`,
    );
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
  return rows.map((row) => ({
    account: row.account,
    currency: row.currency,
    kind: row.kind,
    balanceMinor: normalBalance(row.kind, row.balance_minor),
  }));
}

/** Account balances in (account, currency) order, a page at a time; `after` is the last `account currency` of the previous page. */
export async function accountBalancePage(
  tx: ProjectionExecutor,
  filter: { account?: string | undefined; after?: string | undefined; limit?: number | undefined } = {},
): Promise<Page<AccountBalance>> {
  const limit = pageSize(filter.limit);
  const [afterAccount, afterCurrency] = filter.after === undefined ? [null, null] : splitKey(filter.after);
  const { rows } = await tx.query<{ account: string; currency: string; kind: AccountKind; balance_minor: number }>(
    `SELECT account, currency, kind, balance_minor FROM ledger_accounts
     WHERE ($1::text IS NULL OR account = $1) AND ($2::text IS NULL OR (account, currency) > ($2::text COLLATE "C", $3::text COLLATE "C"))
     ORDER BY account, currency LIMIT $4`,
    [filter.account ?? null, afterAccount, afterCurrency, limit + 1],
  );
  return pageOf(
    rows,
    limit,
    (row) => ({
      account: row.account,
      currency: row.currency,
      kind: row.kind,
      balanceMinor: normalBalance(row.kind, row.balance_minor),
    }),
    (row) => `${row.account} ${row.currency}`,
  );
}

function splitKey(key: string): [string, string] {
  const space = key.lastIndexOf(' ');
  return space < 0 ? [key, ''] : [key.slice(0, space), key.slice(space + 1)];
}

export interface JournalEntry {
  line: number;
  account: string;
  direction: 'debit' | 'credit';
  amountMinor: number;
  currency: string;
}

export interface JournalTransaction {
  transactionId: string;
  chain: string;
  seq: number;
  recordHash: string;
  reason: string;
  orderId: string | null;
  postedAt: string;
  entries: JournalEntry[];
}

/** The journal in seq order, a page of transactions with their entries (at most MAX_LEDGER_ENTRIES each); `after` is a seq. */
export async function journalPage(
  tx: ProjectionExecutor,
  chain: string,
  filter: { afterSeq?: number | undefined; limit?: number | undefined } = {},
): Promise<Page<JournalTransaction>> {
  const limit = pageSize(filter.limit);
  const { rows } = await tx.query<Record<string, unknown>>(
    `SELECT t.transaction_id, t.chain, t.seq, t.record_hash, t.reason, t.order_id, t.posted_at,
       (SELECT json_agg(json_build_object('line', e.line, 'account', e.account, 'direction', e.direction, 'amountMinor', e.amount_minor, 'currency', e.currency) ORDER BY e.line)::text
        FROM ledger_entries e WHERE e.transaction_id = t.transaction_id) AS entries
     FROM ledger_transactions t WHERE t.chain = $3 AND t.seq > $1 ORDER BY t.seq LIMIT $2`,
    [filter.afterSeq ?? 0, limit + 1, chain],
  );
  return pageOf(
    rows,
    limit,
    (row) => ({
      transactionId: row['transaction_id'] as string,
      chain: row['chain'] as string,
      seq: row['seq'] as number,
      recordHash: row['record_hash'] as string,
      reason: row['reason'] as string,
      orderId: row['order_id'] as string | null,
      postedAt: row['posted_at'] as string,
      entries: JSON.parse((row['entries'] as string | null) ?? '[]') as JournalEntry[],
    }),
    (row) => String(row['seq']),
  );
}
