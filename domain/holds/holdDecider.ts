/**
 * A payout hold on one order:
 *
 *   (none) ──placed──▶ held ──released──▶ released ──placed──▶ held …
 *
 * While held, a payout run leaves in the payables what the order put there
 * (domain/payouts/payoutPlan.ts, heldPayables). Placing a hold on a held
 * order, or releasing one that is not held, is refused: each says who did
 * what and why, so a repeat is a mistake to show, not to hide. Whether the
 * order exists is the command's to check (the order's stream), before this.
 */
import { requireRole, type Actor } from '../actor.ts';
import { COMMAND_ROLES } from '../authorization.ts';
import type { Decider } from '../decider.ts';
import { assertNever, CodedError } from '../errors.ts';
import { requireId, requireText } from '../ids.ts';
import type { HoldEvent } from './holdEvents.ts';

export type HoldCommand =
  | { type: 'PlaceOrderHold'; actor: Actor; orderId: string; reason: string }
  | { type: 'ReleaseOrderHold'; actor: Actor; orderId: string; reason: string };

export type HoldState = { status: 'none' | 'held' | 'released' };

function place(command: Extract<HoldCommand, { type: 'PlaceOrderHold' }>, state: HoldState): HoldEvent[] {
  requireRole(command.actor, COMMAND_ROLES.PlaceOrderHold, 'holding an order’s payouts');
  requireId(command.orderId, 'orderId');
  requireText(command.reason, 'INVALID_REASON', 'reason');
  if (state.status === 'held')
    throw new CodedError('ORDER_ALREADY_HELD', `order ${command.orderId} is already held`, {
      orderId: command.orderId,
    });
  return [
    { type: 'hold.placed', data: { orderId: command.orderId, reason: command.reason, placedBy: command.actor.id } },
  ];
}

function release(command: Extract<HoldCommand, { type: 'ReleaseOrderHold' }>, state: HoldState): HoldEvent[] {
  requireRole(command.actor, COMMAND_ROLES.ReleaseOrderHold, 'releasing an order’s payouts');
  requireId(command.orderId, 'orderId');
  requireText(command.reason, 'INVALID_REASON', 'reason');
  if (state.status !== 'held')
    throw new CodedError('ORDER_NOT_HELD', `order ${command.orderId} is not held`, { orderId: command.orderId });
  return [
    {
      type: 'hold.released',
      data: { orderId: command.orderId, reason: command.reason, releasedBy: command.actor.id },
    },
  ];
}

export const holdDecider: Decider<HoldCommand, HoldEvent, HoldState> = {
  initialState: { status: 'none' },
  decide(command, state) {
    switch (command.type) {
      case 'PlaceOrderHold':
        return place(command, state);
      case 'ReleaseOrderHold':
        return release(command, state);
      default:
        return assertNever(command, 'hold command');
    }
  },
  evolve(_state, event) {
    switch (event.type) {
      case 'hold.placed':
        return { status: 'held' };
      case 'hold.released':
        return { status: 'released' };
      default:
        return assertNever(event, 'hold event');
    }
  },
};
