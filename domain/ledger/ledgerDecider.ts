/**
 * One ledger transaction (stream `ledger-<transactionId>`): two or more
 * entries, positive amounts, debits equal credits per currency. Posting the
 * same transaction again is a no-op; another transaction under the same id is
 * refused. Balances across transactions ("must not go negative") are checked
 * where they are current, in the append transaction (ledgerBalances.ts).
 */
import { requireRole, type Actor } from '../actor.ts';
import { COMMAND_ROLES } from '../authorization.ts';
import type { Decider } from '../decider.ts';
import { assert, assertNever, CodedError } from '../errors.ts';
import { requireId, requireText } from '../ids.ts';
import { CURRENCY_PATTERN, requireAmount, requireCurrency } from '../money.ts';
import { requireAccount } from './accounts.ts';
import { MAX_LEDGER_ENTRIES, type LedgerEvent, type LedgerTransaction } from './ledgerEvents.ts';

export type LedgerCommand = { type: 'PostLedgerTransaction'; actor: Actor; transaction: LedgerTransaction };

export type LedgerState = { status: 'absent' } | { status: 'posted'; transaction: LedgerTransaction };

/**
 * Checks one transaction on its own; throws the first problem with a stable
 * code. The currency is checked for its form only: this check runs again
 * when a recorded transaction is folded (projections/ledger), and a chain
 * recorded before currencies were checked against ISO 4217 must still
 * replay. The decider checks the code itself (requireCurrency).
 */
export function checkTransaction(transaction: LedgerTransaction): void {
  requireId(transaction.transactionId, 'transactionId');
  requireText(transaction.reason, 'INVALID_REASON', 'reason');
  const { entries } = transaction;
  if (entries.length < 2)
    throw new CodedError('LEDGER_TOO_FEW_ENTRIES', `a transaction has at least two entries (got ${entries.length})`, {
      entries: entries.length,
    });
  if (entries.length > MAX_LEDGER_ENTRIES) {
    throw new CodedError(
      'LEDGER_TOO_MANY_ENTRIES',
      `a transaction has at most ${MAX_LEDGER_ENTRIES} entries (got ${entries.length})`,
      { entries: entries.length },
    );
  }
  const net = new Map<string, number>();
  for (const entry of entries) {
    requireAccount(entry.account);
    requireAmount(entry.amountMinor, 'LEDGER_INVALID_AMOUNT', `amountMinor of ${entry.account}`);
    if (!CURRENCY_PATTERN.test(entry.currency))
      throw new CodedError('LEDGER_INVALID_CURRENCY', `currency ${JSON.stringify(entry.currency)} is not 3 capitals`, {
        currency: entry.currency,
      });
    const signed = entry.direction === 'debit' ? entry.amountMinor : -entry.amountMinor;
    net.set(entry.currency, (net.get(entry.currency) ?? 0) + signed);
  }
  const unbalanced = [...net].filter(([, amount]) => amount !== 0);
  if (unbalanced.length > 0) {
    throw new CodedError(
      'LEDGER_UNBALANCED',
      `debits and credits differ: ${unbalanced.map(([currency, amount]) => `${currency} ${amount > 0 ? '+' : ''}${amount}`).join(', ')}`,
      {
        debitMinusCredit: Object.fromEntries(unbalanced),
      },
    );
  }
}

/** Same transaction, member for member (entries in order). */
export function sameTransaction(a: LedgerTransaction, b: LedgerTransaction): boolean {
  return (
    JSON.stringify([
      a.transactionId,
      a.reason,
      a.orderId ?? null,
      a.entries.map((e) => [e.account, e.direction, e.amountMinor, e.currency]),
    ]) ===
    JSON.stringify([
      b.transactionId,
      b.reason,
      b.orderId ?? null,
      b.entries.map((e) => [e.account, e.direction, e.amountMinor, e.currency]),
    ])
  );
}

export const ledgerDecider: Decider<LedgerCommand, LedgerEvent, LedgerState> = {
  initialState: { status: 'absent' },
  decide(command, state) {
    switch (command.type) {
      case 'PostLedgerTransaction': {
        requireRole(command.actor, COMMAND_ROLES.PostLedgerTransaction, 'posting to the ledger');
        checkTransaction(command.transaction);
        for (const entry of command.transaction.entries) requireCurrency(entry.currency, 'LEDGER_INVALID_CURRENCY');
        if (state.status === 'absent') return [{ type: 'ledger.posted', data: command.transaction }];
        if (sameTransaction(state.transaction, command.transaction)) return [];
        throw new CodedError(
          'LEDGER_TRANSACTION_CONFLICT',
          `transaction ${command.transaction.transactionId} was already posted with other entries`,
          {
            transactionId: command.transaction.transactionId,
          },
        );
      }
      default:
        return assertNever(command.type, 'ledger command');
    }
  },
  evolve(_state, event) {
    assert(event.type !== 'ledger.proof_issued', 'ledger.proof_issued is not in a ledger transaction stream');
    switch (event.type) {
      case 'ledger.posted':
        return { status: 'posted', transaction: event.data };
      default:
        return assertNever(event, 'ledger event');
    }
  },
};
