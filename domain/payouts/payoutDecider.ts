/**
 * A payout's state machine:
 *
 *   initiated ──settled──▶ settled
 *       │
 *       └──────failed───▶ failed   (the money is owed again; a later run pays it)
 *
 * Beside the status, whether the provider accepted it (`payout.submitted`,
 * once): until then finance may resubmit it, with the same payout id, which
 * the provider takes as its idempotency key. A settled or failed payout is
 * not submitted again. The same answer from the provider twice is a no-op (a
 * redelivered webhook); the other answer after one was recorded is refused.
 * The provider's amount and currency must be the payout's.
 */
import { ACCOUNTS, parseAccount } from '../ledger/accounts.ts';
import { requireRole, type Actor } from '../actor.ts';
import { COMMAND_ROLES } from '../authorization.ts';
import type { Decider } from '../decider.ts';
import { assertNever, CodedError } from '../errors.ts';
import { requireId, requireText } from '../ids.ts';
import { requireAmount, requireCurrency } from '../money.ts';
import type { PayoutEvent, PayoutInitiated } from './payoutEvents.ts';
import { payoutTransactionIds } from './payoutPostings.ts';

export type PayoutOutcome = 'settled' | 'failed';

export type PayoutCommand =
  | { type: 'InitiatePayout'; actor: Actor; payout: PayoutInitiated }
  /** The provider accepted the payout (`provider` is its name). */
  | { type: 'SubmitPayout'; actor: Actor; provider: string }
  | {
      type: 'RecordPayoutOutcome';
      actor: Actor;
      outcome: PayoutOutcome;
      providerEventId: string;
      amountMinor: number;
      currency: string;
      reason?: string | undefined;
    };

export type PayoutStatus = 'initiated' | PayoutOutcome;
export type PayoutState =
  | { status: 'absent' }
  | {
      status: PayoutStatus;
      payout: PayoutInitiated;
      /** The provider accepted it (payout.submitted). */ submitted: boolean;
    };

/** The payable accounts a payout to `partyId` may drain. */
export function payableAccountsOf(partyId: string): string[] {
  return [ACCOUNTS.sellerPayable(partyId), ACCOUNTS.royaltyPayable(partyId)];
}

/** A payout on its own: amounts that add up, the party's own payables, the derived transaction id. */
export function checkPayout(payout: PayoutInitiated): void {
  requireId(payout.payoutId, 'payoutId');
  requireId(payout.runId, 'runId');
  requireId(payout.partyId, 'partyId');
  requireAmount(payout.amountMinor, 'PAYOUT_INVALID_AMOUNT', 'amountMinor');
  requireCurrency(payout.currency, 'INVALID_CURRENCY');
  const payables = payableAccountsOf(payout.partyId);
  for (const source of payout.sources) {
    requireAmount(source.amountMinor, 'PAYOUT_INVALID_AMOUNT', `amountMinor of ${source.account}`);
    if (!payables.includes(source.account) || parseAccount(source.account) === undefined)
      throw new CodedError('PAYOUT_INVALID_SOURCE', `a payout to ${payout.partyId} drains only its own payables`, {
        account: source.account,
      });
  }
  if (new Set(payout.sources.map((source) => source.account)).size !== payout.sources.length)
    throw new CodedError('PAYOUT_INVALID_SOURCE', 'each payable account appears once in a payout', {});
  const drained = payout.sources.reduce((sum, source) => sum + source.amountMinor, 0);
  if (
    !Number.isSafeInteger(payout.nettedMinor) ||
    payout.nettedMinor < 0 ||
    drained !== payout.amountMinor + payout.nettedMinor
  )
    throw new CodedError(
      'PAYOUT_UNBALANCED',
      `the payables drained (${drained}) must be the amount paid (${payout.amountMinor}) plus what is netted (${payout.nettedMinor})`,
      { drainedMinor: drained, amountMinor: payout.amountMinor, nettedMinor: payout.nettedMinor },
    );
  if (payout.ledgerTransactionId !== payoutTransactionIds.initiation(payout.payoutId))
    throw new CodedError('PAYOUT_INVALID_TRANSACTION', 'a payout posts under payout-<payoutId>', {
      ledgerTransactionId: payout.ledgerTransactionId,
    });
}

function samePayout(a: PayoutInitiated, b: PayoutInitiated): boolean {
  const members = (p: PayoutInitiated) =>
    JSON.stringify([
      p.payoutId,
      p.runId,
      p.partyId,
      p.currency,
      p.amountMinor,
      p.nettedMinor,
      p.ledgerTransactionId,
      p.sources.map((source) => [source.account, source.amountMinor]),
    ]);
  return members(a) === members(b);
}

function initiate(command: Extract<PayoutCommand, { type: 'InitiatePayout' }>, state: PayoutState): PayoutEvent[] {
  requireRole(command.actor, COMMAND_ROLES.RunPayouts, 'running payouts');
  checkPayout(command.payout);
  if (state.status === 'absent') return [{ type: 'payout.initiated', data: command.payout }];
  if (samePayout(state.payout, command.payout)) return [];
  throw new CodedError('PAYOUT_EXISTS', `payout ${command.payout.payoutId} was already initiated with other amounts`, {
    payoutId: command.payout.payoutId,
  });
}

function submit(command: Extract<PayoutCommand, { type: 'SubmitPayout' }>, state: PayoutState): PayoutEvent[] {
  requireRole(command.actor, COMMAND_ROLES.SubmitPayout, 'submitting a payout');
  requireId(command.provider, 'provider');
  if (state.status === 'absent') throw new CodedError('PAYOUT_NOT_FOUND', 'no such payout');
  const { payoutId } = state.payout;
  if (state.status !== 'initiated')
    throw new CodedError(
      'PAYOUT_ALREADY_DECIDED',
      `payout ${payoutId} is already ${state.status}: it is not submitted again`,
      {
        payoutId,
        status: state.status,
      },
    );
  if (state.submitted) return [];
  return [{ type: 'payout.submitted', data: { payoutId, provider: command.provider } }];
}

function recordOutcome(
  command: Extract<PayoutCommand, { type: 'RecordPayoutOutcome' }>,
  state: PayoutState,
): PayoutEvent[] {
  requireRole(command.actor, COMMAND_ROLES.RecordPayoutOutcome, 'recording a payout outcome');
  requireId(command.providerEventId, 'providerEventId');
  if (state.status === 'absent') throw new CodedError('PAYOUT_NOT_FOUND', 'no such payout');
  const { payout } = state;
  if (command.amountMinor !== payout.amountMinor || command.currency !== payout.currency)
    throw new CodedError(
      'PAYOUT_AMOUNT_MISMATCH',
      `payout ${payout.payoutId} is ${payout.amountMinor} ${payout.currency}; the provider reported ${command.amountMinor} ${command.currency}`,
      { expectedMinor: payout.amountMinor, reportedMinor: command.amountMinor, currency: command.currency },
    );
  if (state.status === command.outcome) return [];
  if (state.status !== 'initiated')
    throw new CodedError('PAYOUT_ALREADY_DECIDED', `payout ${payout.payoutId} is already ${state.status}`, {
      payoutId: payout.payoutId,
      status: state.status,
    });
  const { payoutId } = payout;
  if (command.outcome === 'settled')
    return [
      {
        type: 'payout.settled',
        data: {
          payoutId,
          providerEventId: command.providerEventId,
          ledgerTransactionId: payoutTransactionIds.settlement(payoutId),
        },
      },
    ];
  const reason = command.reason ?? 'failed at the payout provider';
  requireText(reason, 'INVALID_REASON', 'reason');
  return [
    {
      type: 'payout.failed',
      data: {
        payoutId,
        providerEventId: command.providerEventId,
        reason,
        ledgerTransactionId: payoutTransactionIds.failure(payoutId),
      },
    },
  ];
}

export const payoutDecider: Decider<PayoutCommand, PayoutEvent, PayoutState> = {
  initialState: { status: 'absent' },
  decide(command, state) {
    switch (command.type) {
      case 'InitiatePayout':
        return initiate(command, state);
      case 'SubmitPayout':
        return submit(command, state);
      case 'RecordPayoutOutcome':
        return recordOutcome(command, state);
      default:
        return assertNever(command, 'payout command');
    }
  },
  evolve(state, event) {
    switch (event.type) {
      case 'payout.initiated':
        return { status: 'initiated', payout: event.data, submitted: false };
      case 'payout.submitted':
        if (state.status === 'absent') return state;
        return { ...state, submitted: true };
      case 'payout.settled':
      case 'payout.failed':
        if (state.status === 'absent') return state;
        return { ...state, status: event.type === 'payout.settled' ? 'settled' : 'failed' };
      default:
        return assertNever(event, 'payout event');
    }
  },
};
