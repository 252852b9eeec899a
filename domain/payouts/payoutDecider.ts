/**
 * A payout's state machine:
 *
 *   initiated ──settled──▶ settled ──reversed──▶ reversed   (taken back: owed again)
 *       │
 *       └──────failed───▶ failed   (the money is owed again; a later run pays it)
 *
 * Beside the status, whether the provider accepted it (`payout.submitted`,
 * once): until then finance may resubmit it, with the same payout id, which
 * the provider takes as its idempotency key. A settled or failed payout is
 * not submitted again. The same answer from the provider twice is a no-op (a
 * redelivered webhook). Recorded by hand, the other answer after one is
 * refused, as is an amount or currency that is not the payout's. The
 * provider's own answers (they name its transfer) are never refused: what
 * does not fit opens a discrepancy that holds the party (docs/DOMAIN.md,
 * "Payouts"), and while the payout's transfers are in doubt (a second
 * transfer, a partial reversal, a transfer after a failure) nothing more is
 * posted for it: finance decides.
 */
import { ACCOUNTS, parseAccount } from '../ledger/accounts.ts';
import { requireRole, type Actor } from '../actor.ts';
import { COMMAND_ROLES } from '../authorization.ts';
import type { Decider } from '../decider.ts';
import { assertNever, CodedError } from '../errors.ts';
import { MAX_TEXT_LENGTH, requireId, requireText } from '../ids.ts';
import { requireAmount, requireCurrency } from '../money.ts';
import {
  MAX_PAYOUT_DISCREPANCIES,
  type PayoutDiscrepancyKind,
  type PayoutEvent,
  type PayoutInitiated,
} from './payoutEvents.ts';
import { payoutTransactionIds } from './payoutPostings.ts';

/**
 * What the provider said about a payout. `settled`, `failed`: its answer;
 * `reversed`: it took back what it had sent (Stripe: a transfer fully
 * reversed), a failure while the payout is initiated and a reversal once it
 * settled; `partially_reversed`: part of it taken back, which only finance can
 * decide on.
 */
export type PayoutOutcome = 'settled' | 'failed' | 'reversed' | 'partially_reversed';

export interface ProviderAnswer {
  type: 'RecordPayoutOutcome';
  actor: Actor;
  outcome: PayoutOutcome;
  providerEventId: string;
  amountMinor: number;
  currency: string;
  reason?: string | undefined;
  /**
   * The provider's id of what it made (Stripe: the transfer). An answer that
   * names one is the provider's own, and what does not fit the payout opens a
   * discrepancy instead of being refused (refused, it would be lost: the
   * provider does not send it again). Without one (finance recording an
   * outcome by hand) a mismatch is refused.
   */
  providerReference?: string | undefined;
  /** The party the provider says it paid (Stripe: the transfer's metadata.partyId). */
  partyId?: string | undefined;
  /** Why the adapter found the provider's answer not to be this payout's (a destination account not the party's). */
  mismatch?: string | undefined;
  /** A partial reversal: how much was taken back. */
  amountReversedMinor?: number | undefined;
}

export type PayoutCommand =
  | { type: 'InitiatePayout'; actor: Actor; payout: PayoutInitiated }
  /** The provider accepted the payout (`provider` is its name; `providerReference` what it made, when it said). */
  | { type: 'SubmitPayout'; actor: Actor; provider: string; providerReference?: string | undefined }
  | ProviderAnswer
  | { type: 'ResolvePayoutDiscrepancy'; actor: Actor; discrepancyId: string; reason: string };

export type PayoutStatus = 'initiated' | 'settled' | 'failed' | 'reversed';
export interface PayoutDiscrepancyState {
  id: string;
  kind: PayoutDiscrepancyKind;
  open: boolean;
  providerEventId: string;
}

/** Discrepancies after which the payout's transfers are in doubt: nothing more is posted for it automatically. */
const DOUBTFUL: ReadonlySet<PayoutDiscrepancyKind> = new Set([
  'second_transfer',
  'partial_reversal',
  'settled_after_failure',
]);
export type PayoutState =
  | { status: 'absent' }
  | {
      status: PayoutStatus;
      payout: PayoutInitiated;
      /** The provider accepted it (payout.submitted). */ submitted: boolean;
      /** What the provider made for it, as first recorded (submitted, settled or failed). */
      reference?: string | undefined;
      /** The transfer the settlement or failure was recorded for; undefined when recorded by hand, or not decided. */
      decidedBy?: string | undefined;
      discrepancies: readonly PayoutDiscrepancyState[];
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
  const { providerReference } = command;
  return [
    {
      type: 'payout.submitted',
      data: { payoutId, provider: command.provider, ...(providerReference === undefined ? {} : { providerReference }) },
    },
  ];
}

type DecidedState = Exclude<PayoutState, { status: 'absent' }>;

/** Finance recording an outcome by hand: what does not fit is refused. */
function recordByHand(command: ProviderAnswer, state: DecidedState): PayoutEvent[] {
  const { payout } = state;
  if (command.outcome !== 'settled' && command.outcome !== 'failed')
    throw new CodedError('INVALID_INPUT', `a payout outcome recorded by hand is settled or failed`, {});
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
  return [decided(command, state)];
}

/** payout.settled or payout.failed for an initiated payout. */
function decided(command: ProviderAnswer, state: DecidedState): PayoutEvent {
  const { payoutId } = state.payout;
  const { providerEventId, providerReference } = command;
  const reference = providerReference === undefined ? {} : { providerReference };
  if (command.outcome === 'settled')
    return {
      type: 'payout.settled',
      data: { payoutId, providerEventId, ...reference, ledgerTransactionId: payoutTransactionIds.settlement(payoutId) },
    };
  const reason = command.reason ?? 'failed at the payout provider';
  requireText(reason, 'INVALID_REASON', 'reason');
  return {
    type: 'payout.failed',
    data: {
      payoutId,
      providerEventId,
      ...reference,
      reason,
      ledgerTransactionId: payoutTransactionIds.failure(payoutId),
    },
  };
}

function discrepancy(
  command: ProviderAnswer,
  state: DecidedState,
  kind: PayoutDiscrepancyKind,
  detail: string,
  offset = 0,
): PayoutEvent {
  const { payout } = state;
  if (state.discrepancies.length + offset >= MAX_PAYOUT_DISCREPANCIES)
    throw new CodedError(
      'PAYOUT_TOO_MANY_DISCREPANCIES',
      `payout ${payout.payoutId} already has ${MAX_PAYOUT_DISCREPANCIES} discrepancies: resolve it by hand with the provider`,
      { payoutId: payout.payoutId },
    );
  const named = command.partyId;
  const partyIds = named !== undefined && named !== payout.partyId ? [payout.partyId, named] : [payout.partyId];
  const { providerReference } = command;
  return {
    type: 'payout.discrepancy_opened',
    data: {
      payoutId: payout.payoutId,
      discrepancyId: `d${state.discrepancies.length + offset + 1}`,
      kind,
      providerEventId: command.providerEventId,
      ...(providerReference === undefined ? {} : { providerReference }),
      detail: detail.slice(0, MAX_TEXT_LENGTH),
      partyIds,
    },
  };
}

/** Why the provider's answer is not this payout's, or undefined. */
function mismatchOf(command: ProviderAnswer, payout: PayoutInitiated): string | undefined {
  if (command.amountMinor !== payout.amountMinor || command.currency !== payout.currency)
    return `the provider's transfer is ${command.amountMinor} ${command.currency}, payout ${payout.payoutId} is ${payout.amountMinor} ${payout.currency}`;
  if (command.partyId !== undefined && command.partyId !== payout.partyId)
    return `the provider's transfer names party ${command.partyId}, payout ${payout.payoutId} is to ${payout.partyId}`;
  return command.mismatch;
}

/**
 * The provider's own answer (it names what it made): recorded whatever it
 * says, as the payout's outcome when it fits, as a discrepancy holding the
 * party when it does not. The same provider event twice is a no-op.
 */
function recordFromProvider(command: ProviderAnswer, state: DecidedState, reference: string): PayoutEvent[] {
  const { payout } = state;
  const { payoutId, amountMinor, currency, partyId } = payout;
  if (state.discrepancies.some((d) => d.providerEventId === command.providerEventId)) return [];
  const mismatch = mismatchOf(command, payout);
  if (mismatch !== undefined) return [discrepancy(command, state, 'transfer_mismatch', mismatch)];
  if (state.reference !== undefined && state.reference !== reference)
    return [
      discrepancy(
        command,
        state,
        'second_transfer',
        `the provider answered about transfer ${reference}; payout ${payoutId} was paid by transfer ${state.reference}`,
      ),
    ];
  if (state.reference === undefined && state.status === 'settled')
    return [
      discrepancy(
        command,
        state,
        'second_transfer',
        `the provider answered about transfer ${reference}; payout ${payoutId} was recorded settled by hand, with no transfer: check that this is the one`,
      ),
    ];
  const taken = command.amountReversedMinor ?? 'part';
  if (command.outcome === 'partially_reversed')
    return [
      discrepancy(
        command,
        state,
        'partial_reversal',
        state.status === 'failed' || state.status === 'reversed'
          ? `the provider took back ${taken} of ${amountMinor} ${currency} of transfer ${reference}, after the whole payout was recorded ${state.status} and owed to ${partyId} again: post nothing more for it`
          : `the provider took back ${taken} of ${amountMinor} ${currency} of transfer ${reference}`,
      ),
    ];
  const doubtful = state.discrepancies.some((d) => DOUBTFUL.has(d.kind));
  if (command.outcome === 'settled') {
    if (state.status === 'initiated')
      return doubtful
        ? [
            discrepancy(
              command,
              state,
              'second_transfer',
              `transfer ${reference} was made while payout ${payoutId}'s transfers are in doubt: nothing posted`,
            ),
          ]
        : [decided(command, state)];
    if (state.status === 'settled') return [];
    // Failed or reversed: only the creation of the transfer its failure was recorded for, reported late, changes nothing.
    if (state.decidedBy === reference && state.status === 'failed') return [];
    return [
      discrepancy(
        command,
        state,
        'settled_after_failure',
        `transfer ${reference} of ${amountMinor} ${currency} was made after payout ${payoutId} was recorded ${state.status}: the money is owed to ${partyId} again, so it may be paid twice`,
      ),
    ];
  }
  // Failed or taken back whole.
  if (state.status === 'failed' || state.status === 'reversed') return [];
  if (doubtful)
    return [
      discrepancy(
        command,
        state,
        'reversed_after_settlement',
        `transfer ${reference} was taken back whole while payout ${payoutId}'s transfers are in doubt: nothing posted, finance decides what ${partyId} is owed`,
      ),
    ];
  if (state.status === 'initiated') return [decided(command, state)];
  const reason = command.reason ?? `the provider took back transfer ${reference} after it settled`;
  requireText(reason, 'INVALID_REASON', 'reason');
  return [
    {
      type: 'payout.reversed',
      data: {
        payoutId,
        providerEventId: command.providerEventId,
        providerReference: reference,
        reason,
        ledgerTransactionId: payoutTransactionIds.reversal(payoutId),
      },
    },
    discrepancy(
      command,
      state,
      'reversed_after_settlement',
      `transfer ${reference} of ${amountMinor} ${currency} was taken back after payout ${payoutId} settled: the money is owed to ${partyId} again`,
    ),
  ];
}

function recordOutcome(command: ProviderAnswer, state: PayoutState): PayoutEvent[] {
  requireRole(command.actor, COMMAND_ROLES.RecordPayoutOutcome, 'recording a payout outcome');
  requireId(command.providerEventId, 'providerEventId');
  if (state.status === 'absent') throw new CodedError('PAYOUT_NOT_FOUND', 'no such payout');
  return command.providerReference === undefined
    ? recordByHand(command, state)
    : recordFromProvider(command, state, command.providerReference);
}

function resolveDiscrepancy(
  command: Extract<PayoutCommand, { type: 'ResolvePayoutDiscrepancy' }>,
  state: PayoutState,
): PayoutEvent[] {
  requireRole(command.actor, COMMAND_ROLES.ResolvePayoutDiscrepancy, 'resolving a payout discrepancy');
  requireText(command.reason, 'INVALID_REASON', 'reason');
  if (state.status === 'absent') throw new CodedError('PAYOUT_NOT_FOUND', 'no such payout');
  const { payoutId } = state.payout;
  const found = state.discrepancies.find((d) => d.id === command.discrepancyId);
  if (found === undefined)
    throw new CodedError('DISCREPANCY_NOT_FOUND', `payout ${payoutId} has no discrepancy ${command.discrepancyId}`, {
      payoutId,
      discrepancyId: command.discrepancyId,
    });
  if (!found.open)
    throw new CodedError('DISCREPANCY_ALREADY_RESOLVED', `discrepancy ${command.discrepancyId} is already resolved`, {
      payoutId,
      discrepancyId: command.discrepancyId,
    });
  return [
    {
      type: 'payout.discrepancy_resolved',
      data: { payoutId, discrepancyId: found.id, reason: command.reason, resolvedBy: command.actor.id },
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
      case 'ResolvePayoutDiscrepancy':
        return resolveDiscrepancy(command, state);
      default:
        return assertNever(command, 'payout command');
    }
  },
  evolve(state, event) {
    if (event.type === 'payout.initiated')
      return { status: 'initiated', payout: event.data, submitted: false, discrepancies: [] };
    if (state.status === 'absent') return state;
    switch (event.type) {
      case 'payout.submitted':
        return { ...state, submitted: true, reference: state.reference ?? event.data.providerReference };
      case 'payout.settled':
      case 'payout.failed':
      case 'payout.reversed':
        return {
          ...state,
          status: event.type === 'payout.settled' ? 'settled' : event.type === 'payout.failed' ? 'failed' : 'reversed',
          reference: state.reference ?? event.data.providerReference,
          decidedBy: event.type === 'payout.reversed' ? state.decidedBy : event.data.providerReference,
        };
      case 'payout.discrepancy_opened':
        return {
          ...state,
          discrepancies: [
            ...state.discrepancies,
            {
              id: event.data.discrepancyId,
              kind: event.data.kind,
              open: true,
              providerEventId: event.data.providerEventId,
            },
          ],
        };
      case 'payout.discrepancy_resolved':
        return {
          ...state,
          discrepancies: state.discrepancies.map((d) =>
            d.id === event.data.discrepancyId ? { ...d, open: false } : d,
          ),
        };
      default:
        return assertNever(event, 'payout event');
    }
  },
};
