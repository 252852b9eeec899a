/**
 * A reconciliation run, recorded once with every discrepancy it found; then
 * each discrepancy resolved once, with a reason, by a finance role. An open
 * discrepancy holds the payouts of the orders' and parties' it names
 * (projections/reconciliation); resolving it lifts that hold.
 */
import { requireRole, type Actor } from '../actor.ts';
import { COMMAND_ROLES } from '../authorization.ts';
import type { Decider } from '../decider.ts';
import { assertNever, CodedError } from '../errors.ts';
import { requireText } from '../ids.ts';
import {
  DISCREPANCIES_PER_EVENT,
  MAX_DISCREPANCIES,
  type Discrepancy,
  type ReconciliationEvent,
  type ReconciliationRecorded,
} from './reconciliationEvents.ts';

export type ReconciliationCommand =
  | { type: 'RecordReconciliation'; actor: Actor; recorded: ReconciliationRecorded; discrepancies: Discrepancy[] }
  | { type: 'ResolveDiscrepancy'; actor: Actor; discrepancyId: string; reason: string };

export type ReconciliationState =
  | { status: 'absent' }
  | { status: 'recorded'; recorded: ReconciliationRecorded; open: ReadonlySet<string>; resolved: ReadonlySet<string> };

function record(command: Extract<ReconciliationCommand, { type: 'RecordReconciliation' }>, state: ReconciliationState) {
  requireRole(command.actor, COMMAND_ROLES.Reconcile, 'reconciling with the payment provider');
  const { recorded, discrepancies } = command;
  if (state.status !== 'absent')
    throw new CodedError('RECONCILIATION_EXISTS', `reconciliation ${recorded.reconciliationId} was already recorded`, {
      reconciliationId: recorded.reconciliationId,
    });
  if (discrepancies.length > MAX_DISCREPANCIES)
    throw new CodedError(
      'RECONCILIATION_TOO_MANY_DISCREPANCIES',
      `the report differs from the ledger in ${discrepancies.length} places, more than the ${MAX_DISCREPANCIES} one run records: check that it is the right report and period`,
      { discrepancies: discrepancies.length },
    );
  const events: ReconciliationEvent[] = [
    { type: 'reconciliation.recorded', data: { ...recorded, discrepancyCount: discrepancies.length } },
  ];
  for (let start = 0; start < discrepancies.length; start += DISCREPANCIES_PER_EVENT)
    events.push({
      type: 'reconciliation.discrepancies_found',
      data: {
        reconciliationId: recorded.reconciliationId,
        discrepancies: discrepancies.slice(start, start + DISCREPANCIES_PER_EVENT),
      },
    });
  return events;
}

function resolve(command: Extract<ReconciliationCommand, { type: 'ResolveDiscrepancy' }>, state: ReconciliationState) {
  requireRole(command.actor, COMMAND_ROLES.ResolveDiscrepancy, 'resolving a reconciliation discrepancy');
  requireText(command.reason, 'INVALID_REASON', 'reason');
  if (state.status === 'absent') throw new CodedError('RECONCILIATION_NOT_FOUND', 'no such reconciliation');
  const { discrepancyId } = command;
  if (state.resolved.has(discrepancyId))
    throw new CodedError('DISCREPANCY_ALREADY_RESOLVED', `discrepancy ${discrepancyId} is already resolved`, {
      discrepancyId,
    });
  if (!state.open.has(discrepancyId))
    throw new CodedError('DISCREPANCY_NOT_FOUND', `reconciliation has no discrepancy ${discrepancyId}`, {
      discrepancyId,
    });
  return [
    {
      type: 'reconciliation.discrepancy_resolved' as const,
      data: {
        reconciliationId: state.recorded.reconciliationId,
        discrepancyId,
        reason: command.reason,
        resolvedBy: command.actor.id,
      },
    },
  ];
}

export const reconciliationDecider: Decider<ReconciliationCommand, ReconciliationEvent, ReconciliationState> = {
  initialState: { status: 'absent' },
  decide(command, state) {
    switch (command.type) {
      case 'RecordReconciliation':
        return record(command, state);
      case 'ResolveDiscrepancy':
        return resolve(command, state);
      default:
        return assertNever(command, 'reconciliation command');
    }
  },
  evolve(state, event) {
    switch (event.type) {
      case 'reconciliation.recorded':
        return { status: 'recorded', recorded: event.data, open: new Set(), resolved: new Set() };
      case 'reconciliation.discrepancies_found': {
        if (state.status === 'absent') return state;
        const open = new Set(state.open);
        for (const discrepancy of event.data.discrepancies) open.add(discrepancy.discrepancyId);
        return { ...state, open };
      }
      case 'reconciliation.discrepancy_resolved': {
        if (state.status === 'absent') return state;
        const open = new Set(state.open);
        open.delete(event.data.discrepancyId);
        return { ...state, open, resolved: new Set([...state.resolved, event.data.discrepancyId]) };
      }
      default:
        return assertNever(event, 'reconciliation event');
    }
  },
};
