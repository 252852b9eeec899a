/**
 * Reads for payouts: the balances a payout run and a refund decide on, the
 * payouts of a party or a run, and a party's statement (its payables, what
 * is in transit, what it owes, its payouts).
 */
import { hasRole, type Actor } from '../../domain/actor.ts';
import { PAYOUT_READERS } from '../../domain/authorization.ts';
import { CodedError } from '../../domain/errors.ts';
import { ACCOUNTS, normalBalance, requireAccount } from '../../domain/ledger/accounts.ts';
import { formatMinor } from '../../domain/money.ts';
import { payableKey, type PayeeBalance } from '../../domain/payouts/payoutPlan.ts';
import { pageOf, pageSize, type Page } from '../page.ts';
import type { ProjectionExecutor } from '../rowStore.ts';

/** Accounts one balances read asks for. */
export const MAX_BALANCE_ACCOUNTS = 100;
/** Payouts listed in one statement (the newest). */
export const MAX_STATEMENT_PAYOUTS = 100;

const SELLER_PREFIX = 'liability:seller-payable:';
const ROYALTY_PREFIX = 'liability:royalty-payable:';

/** Normal-side balances of `accounts` in `currency`; 0 for an account never posted to. */
export async function balancesOf(
  tx: ProjectionExecutor,
  accounts: readonly string[],
  currency: string,
): Promise<Map<string, number>> {
  if (accounts.length > MAX_BALANCE_ACCOUNTS)
    throw new CodedError('TOO_MANY_ACCOUNTS', `at most ${MAX_BALANCE_ACCOUNTS} accounts per read`, {});
  const balances = new Map(accounts.map((account) => [account, 0]));
  if (accounts.length === 0) return balances;
  const { rows } = await tx.query<{ account: string; balance_minor: number }>(
    'SELECT account, balance_minor FROM ledger_accounts WHERE account = ANY($1::text[]) AND currency = $2',
    [[...new Set(accounts)], currency],
  );
  for (const row of rows)
    balances.set(row.account, normalBalance(requireAccount(row.account).kind, Number(row.balance_minor)));
  return balances;
}

/**
 * Each party and currency whose seller or royalty payable holds money, with
 * what it owes the platform, in (party, currency) order after `after`
 * (`<party> <currency>`), at most `limit`.
 */
export async function payeeBalances(
  tx: ProjectionExecutor,
  filter: { currency?: string | undefined; after?: string | undefined; limit: number },
): Promise<PayeeBalance[]> {
  const space = filter.after?.lastIndexOf(' ') ?? -1;
  const afterParty = filter.after === undefined ? null : space < 0 ? filter.after : filter.after.slice(0, space);
  const afterCurrency = filter.after === undefined || space < 0 ? '' : filter.after.slice(space + 1);
  const { rows } = await tx.query<{ party_id: string; currency: string; payables: string; receivable_minor: number }>(
    `WITH payables AS (
       SELECT CASE WHEN starts_with(account, $1) THEN substr(account, length($1) + 1)
                   ELSE substr(account, length($2) + 1) END COLLATE "C" AS party_id,
              account, currency, -balance_minor AS balance_minor
       FROM ledger_accounts
       WHERE (starts_with(account, $1) OR starts_with(account, $2)) AND balance_minor < 0
         AND ($3::text IS NULL OR currency = $3)
     )
     SELECT p.party_id, p.currency,
       json_agg(json_build_object('account', p.account, 'balanceMinor', p.balance_minor) ORDER BY p.account)::text AS payables,
       coalesce((SELECT r.balance_minor FROM ledger_accounts r
                 WHERE r.account = 'asset:party-receivable:' || p.party_id AND r.currency = p.currency), 0) AS receivable_minor
     FROM payables p
     WHERE $4::text IS NULL OR (p.party_id, p.currency COLLATE "C") > ($4::text COLLATE "C", $5::text COLLATE "C")
     GROUP BY p.party_id, p.currency
     ORDER BY p.party_id, p.currency COLLATE "C"
     LIMIT $6`,
    [SELLER_PREFIX, ROYALTY_PREFIX, filter.currency ?? null, afterParty, afterCurrency, filter.limit],
  );
  return rows.map((row) => ({
    partyId: row.party_id,
    currency: row.currency,
    payables: (JSON.parse(row.payables) as { account: string; balanceMinor: number }[]).map((payable) => ({
      account: payable.account,
      balanceMinor: Number(payable.balanceMinor),
    })),
    receivableMinor: Math.max(0, Number(row.receivable_minor)),
  }));
}

/** Payable accounts (per currency) that held orders have put money in, read at once by a run. */
export const MAX_HELD_PAYABLES = 10_000;

/**
 * What the orders on hold (order_holds) put in each seller and royalty
 * payable, net of their reversals, by payableKey (domain/payouts/payoutPlan.ts):
 * a payout run leaves it there. More than MAX_HELD_PAYABLES is refused
 * rather than cut short, which would pay held money.
 */
export async function heldOrderPayables(tx: ProjectionExecutor): Promise<Map<string, number>> {
  const { rows } = await tx.query<{ account: string; currency: string; held_minor: string | number }>(
    `SELECT e.account, e.currency,
       sum(CASE WHEN e.direction = 'credit' THEN e.amount_minor ELSE -e.amount_minor END) AS held_minor
     FROM order_holds h
     JOIN ledger_transactions t ON t.order_id = h.order_id
     JOIN ledger_entries e ON e.transaction_id = t.transaction_id
     WHERE h.status = 'held' AND (starts_with(e.account, $1) OR starts_with(e.account, $2))
     GROUP BY e.account, e.currency
     ORDER BY e.account, e.currency
     LIMIT $3`,
    [SELLER_PREFIX, ROYALTY_PREFIX, MAX_HELD_PAYABLES + 1],
  );
  if (rows.length > MAX_HELD_PAYABLES)
    throw new CodedError(
      'TOO_MANY_ORDER_HOLDS',
      `the orders on hold reach more than ${MAX_HELD_PAYABLES} payables: release some before a payout run`,
      { maxPayables: MAX_HELD_PAYABLES },
    );
  const held = new Map<string, number>();
  for (const row of rows) {
    const minor = Number(row.held_minor);
    if (minor > 0) held.set(payableKey(row.account, row.currency), minor);
  }
  return held;
}

/** An order's payout hold as the read side shows it (domain/holds). */
export interface OrderHoldView {
  orderId: string;
  status: 'held' | 'released';
  reason: string;
  placedBy: string;
  placedAt: string;
  releasedBy: string | null;
  releasedReason: string | null;
  releasedAt: string | null;
}

/** Orders that have had a payout hold, of one status or both, in order id order after `after`. */
export async function orderHoldPage(
  tx: ProjectionExecutor,
  filter: { status?: 'held' | 'released' | undefined; after?: string | undefined; limit?: number | undefined },
): Promise<Page<OrderHoldView>> {
  const limit = pageSize(filter.limit);
  const { rows } = await tx.query<Record<string, string | null>>(
    `SELECT order_id, status, reason, placed_by, placed_at, released_by, released_reason, released_at FROM order_holds
     WHERE ($1::text IS NULL OR status = $1) AND order_id > $2 COLLATE "C"
     ORDER BY order_id LIMIT $3`,
    [filter.status ?? null, filter.after ?? '', limit + 1],
  );
  return pageOf(
    rows,
    limit,
    (row) => ({
      orderId: row['order_id']!,
      status: row['status'] as OrderHoldView['status'],
      reason: row['reason']!,
      placedBy: row['placed_by']!,
      placedAt: row['placed_at']!,
      releasedBy: row['released_by'] ?? null,
      releasedReason: row['released_reason'] ?? null,
      releasedAt: row['released_at'] ?? null,
    }),
    (row) => row['order_id']!,
  );
}

export interface PayoutView {
  payoutId: string;
  runId: string;
  partyId: string;
  currency: string;
  amountMinor: number;
  /** The amount in the currency's major unit, with its ISO 4217 exponent ("12.34"). */
  amount: string;
  nettedMinor: number;
  status: 'initiated' | 'settled' | 'failed' | 'reversed';
  ledgerTransactionId: string;
  /** The provider's id of what it made for the payout (Stripe: the transfer id), when it said. */
  providerReference: string | null;
  providerEventId: string | null;
  failureReason: string | null;
  initiatedSeq: number;
  initiatedAt: string;
  /** When the provider was recorded accepting it (payout.submitted); null: it may be resubmitted while initiated. */
  submittedAt: string | null;
  decidedAt: string | null;
}

const PAYOUT_COLUMNS = `payout_id, run_id, party_id, currency, amount_minor, netted_minor, status, ledger_transaction_id,
  provider_event_id, failure_reason, initiated_seq, initiated_at, submitted_at, decided_at, provider_reference`;

function payoutOf(row: Record<string, unknown>): PayoutView {
  const currency = row['currency'] as string;
  const amountMinor = Number(row['amount_minor']);
  return {
    payoutId: row['payout_id'] as string,
    runId: row['run_id'] as string,
    partyId: row['party_id'] as string,
    currency,
    amountMinor,
    amount: formatMinor(amountMinor, currency),
    nettedMinor: Number(row['netted_minor']),
    status: row['status'] as PayoutView['status'],
    ledgerTransactionId: row['ledger_transaction_id'] as string,
    providerReference: (row['provider_reference'] as string | null) ?? null,
    providerEventId: row['provider_event_id'] as string | null,
    failureReason: row['failure_reason'] as string | null,
    initiatedSeq: Number(row['initiated_seq']),
    initiatedAt: row['initiated_at'] as string,
    submittedAt: row['submitted_at'] as string | null,
    decidedAt: row['decided_at'] as string | null,
  };
}

/**
 * The party a reader may see payouts of: any (finance, Auditor) or only its
 * own (a Publisher, whose actor id is its party id). Another party's answers
 * 404, as if it did not exist (the orders' rule, docs/DESIGN.md).
 */
export function readablePartyId(reader: Actor, partyId: string | undefined): string | undefined {
  if (hasRole(reader, PAYOUT_READERS.all)) return partyId;
  if (hasRole(reader, PAYOUT_READERS.own)) {
    if (partyId !== undefined && partyId !== reader.id)
      throw new CodedError('PARTY_NOT_FOUND', `no statement of ${partyId} for ${reader.id}`, { partyId });
    return reader.id;
  }
  throw new CodedError('FORBIDDEN_ROLE', `${reader.role} does not read payouts`, { role: reader.role });
}

/** Payouts in initiation order, a page at a time (`after` is a seq), of one party and/or one run. */
export async function payoutPage(
  tx: ProjectionExecutor,
  filter: {
    partyId?: string | undefined;
    runId?: string | undefined;
    after?: number | undefined;
    limit?: number | undefined;
  },
): Promise<Page<PayoutView>> {
  const limit = pageSize(filter.limit);
  const { rows } = await tx.query<Record<string, unknown>>(
    `SELECT ${PAYOUT_COLUMNS} FROM payouts
     WHERE ($1::text IS NULL OR party_id = $1) AND ($2::text IS NULL OR run_id = $2) AND initiated_seq > $3
     ORDER BY initiated_seq LIMIT $4`,
    [filter.partyId ?? null, filter.runId ?? null, filter.after ?? 0, limit + 1],
  );
  return pageOf(rows, limit, payoutOf, (row) => String(row['initiated_seq']));
}

/** Every payout of one run (a run creates at most its bound of payouts). */
export async function runPayouts(tx: ProjectionExecutor, runId: string, limit: number): Promise<PayoutView[]> {
  const { rows } = await tx.query<Record<string, unknown>>(
    `SELECT ${PAYOUT_COLUMNS} FROM payouts WHERE run_id = $1 ORDER BY initiated_seq, payout_id LIMIT $2`,
    [runId, limit],
  );
  return rows.map(payoutOf);
}

export interface StatementLine {
  currency: string;
  sellerPayableMinor: number;
  royaltyPayableMinor: number;
  inTransitMinor: number;
  /** What the party owes the platform; netted by its next payout. */
  owedToPlatformMinor: number;
  /** Payables less what it owes: what the next run would pay, before the minimum and holds. */
  netPayableMinor: number;
  /** netPayableMinor in the currency's major unit. */
  netPayable: string;
}

export interface Statement {
  partyId: string;
  lines: StatementLine[];
  /** The newest payouts first, at most MAX_STATEMENT_PAYOUTS. */
  payouts: PayoutView[];
}

/** A party's statement: its balances per currency and its latest payouts. */
export async function statementOf(tx: ProjectionExecutor, partyId: string): Promise<Statement> {
  const accounts = {
    seller: ACCOUNTS.sellerPayable(partyId),
    royalty: ACCOUNTS.royaltyPayable(partyId),
    transit: ACCOUNTS.payoutsInTransit(partyId),
    owed: ACCOUNTS.partyReceivable(partyId),
  };
  const { rows } = await tx.query<{ account: string; currency: string; balance_minor: number }>(
    'SELECT account, currency, balance_minor FROM ledger_accounts WHERE account = ANY($1::text[]) ORDER BY currency COLLATE "C", account COLLATE "C"',
    [Object.values(accounts)],
  );
  const lines = new Map<string, StatementLine>();
  for (const row of rows) {
    const line = lines.get(row.currency) ?? {
      currency: row.currency,
      sellerPayableMinor: 0,
      royaltyPayableMinor: 0,
      inTransitMinor: 0,
      owedToPlatformMinor: 0,
      netPayableMinor: 0,
      netPayable: '',
    };
    const balance = normalBalance(requireAccount(row.account).kind, Number(row.balance_minor));
    if (row.account === accounts.seller) line.sellerPayableMinor = balance;
    else if (row.account === accounts.royalty) line.royaltyPayableMinor = balance;
    else if (row.account === accounts.transit) line.inTransitMinor = balance;
    else line.owedToPlatformMinor = balance;
    lines.set(row.currency, line);
  }
  for (const line of lines.values()) {
    line.netPayableMinor = line.sellerPayableMinor + line.royaltyPayableMinor - line.owedToPlatformMinor;
    line.netPayable = formatMinor(line.netPayableMinor, line.currency);
  }
  const { rows: payouts } = await tx.query<Record<string, unknown>>(
    `SELECT ${PAYOUT_COLUMNS} FROM payouts WHERE party_id = $1 ORDER BY initiated_seq DESC LIMIT $2`,
    [partyId, MAX_STATEMENT_PAYOUTS],
  );
  return { partyId, lines: [...lines.values()], payouts: payouts.map(payoutOf) };
}

/** A payout's discrepancy as the read side shows it (domain/payouts/payoutEvents.ts). */
export interface PayoutDiscrepancyView {
  payoutId: string;
  discrepancyId: string;
  kind: string;
  providerEventId: string;
  providerReference: string | null;
  detail: string;
  partyIds: string[];
  status: 'open' | 'resolved';
  openedSeq: number;
  openedAt: string;
  resolvedBy: string | null;
  resolvedReason: string | null;
  resolvedAt: string | null;
}

/** Payouts' discrepancies in the order they were opened (`after` is a seq), of one status or both. */
export async function payoutDiscrepancyPage(
  tx: ProjectionExecutor,
  filter: { status?: 'open' | 'resolved' | undefined; after?: number | undefined; limit?: number | undefined },
): Promise<Page<PayoutDiscrepancyView>> {
  const limit = pageSize(filter.limit);
  const { rows } = await tx.query<Record<string, unknown>>(
    `SELECT payout_id, discrepancy_id, kind, provider_event_id, provider_reference, detail, party_ids, status,
       opened_seq, opened_at, resolved_by, resolved_reason, resolved_at
     FROM payout_discrepancies WHERE ($1::text IS NULL OR status = $1) AND opened_seq > $2
     ORDER BY opened_seq, payout_id, discrepancy_id LIMIT $3`,
    [filter.status ?? null, filter.after ?? 0, limit + 1],
  );
  return pageOf(
    rows,
    limit,
    (row) => ({
      payoutId: row['payout_id'] as string,
      discrepancyId: row['discrepancy_id'] as string,
      kind: row['kind'] as string,
      providerEventId: row['provider_event_id'] as string,
      providerReference: (row['provider_reference'] as string | null) ?? null,
      detail: row['detail'] as string,
      partyIds: JSON.parse(row['party_ids'] as string) as string[],
      status: row['status'] as 'open' | 'resolved',
      openedSeq: Number(row['opened_seq']),
      openedAt: row['opened_at'] as string,
      resolvedBy: (row['resolved_by'] as string | null) ?? null,
      resolvedReason: (row['resolved_reason'] as string | null) ?? null,
      resolvedAt: (row['resolved_at'] as string | null) ?? null,
    }),
    (row) => String(row['opened_seq']),
  );
}
