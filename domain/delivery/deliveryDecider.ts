/**
 * An order's delivery (stream `delivery-<orderId>`, docs/DOMAIN.md
 * "Delivery"). Only a finalized order is delivered; only its buyer asks for
 * it and gets links. The marketplace's delivery service records what it
 * prepared, the proof over it, and what failed; a refund revokes it.
 *
 *   none ──prepared──▶ prepared ──proof_issued──▶ proven ──link_issued──▶ proven …
 *    │  ◀──failed───┘     │                          │
 *    └────────────────────┴──────── revoked ◀────────┘   (refund)
 *
 * A proven delivery whose object is gone (its lifetime ended) is prepared
 * again under a new deliveryId; the chain keeps every record.
 */
import { requireRole, type Actor } from '../actor.ts';
import { COMMAND_ROLES } from '../authorization.ts';
import type { Decider } from '../decider.ts';
import { assertNever, CodedError } from '../errors.ts';
import { requireText } from '../ids.ts';
import type { OrderState } from '../orders/orderDecider.ts';
import {
  MAX_DELIVERY_LINKS,
  MAX_RECORDED_DELIVERY_FAILURES,
  type DeliveryEvent,
  type DeliveryFailureCode,
  type DeliveryPrepared,
  type DeliveryProofIssued,
} from './deliveryEvents.ts';

export type DeliveryCommand =
  | { type: 'PrepareDelivery'; actor: Actor; order: OrderState; prepared: DeliveryPrepared }
  | { type: 'RecordDeliveryProof'; actor: Actor; proof: DeliveryProofIssued }
  | { type: 'RecordDeliveryFailure'; actor: Actor; order: OrderState; code: DeliveryFailureCode; reason: string }
  | { type: 'IssueDeliveryLink'; actor: Actor; order: OrderState; linkId: string; expiresAt: string }
  | { type: 'RevokeDelivery'; actor: Actor; reason: string };

export interface DeliveryState {
  /** The current preparation, or null before the first and after revocation. */
  prepared: DeliveryPrepared | null;
  /** The proof over the current preparation, once issued. */
  proof: DeliveryProofIssued | null;
  links: number;
  failures: number;
  revoked: boolean;
}

/** The order a buyer may receive: finalized, its own. Another buyer's order answers as an unknown one does. */
export function requireDeliverableOrder(order: OrderState, buyer: Actor | undefined): void {
  if (order.status === 'absent') throw new CodedError('ORDER_NOT_FOUND', 'no such order');
  if (buyer !== undefined && order.order.buyerId !== buyer.id) throw new CodedError('ORDER_NOT_FOUND', 'no such order');
  const { orderId } = order.order;
  if (order.status === 'created' || order.status === 'paid')
    throw new CodedError(
      'DELIVERY_NOT_READY',
      `order ${orderId} is ${order.status === 'created' ? 'not paid' : 'paid but not finalized'}; it is delivered once finalized`,
      { orderId, status: order.status },
    );
  if (order.status === 'refunded' || order.status === 'cancelled')
    throw new CodedError('ORDER_NOT_DELIVERABLE', `order ${orderId} was ${order.status}; it is not delivered`, {
      orderId,
      status: order.status,
    });
}

/** What a buyer's request is checked against before anything is prepared for it: the same as a link. */
export function checkDeliveryRequest(actor: Actor, order: OrderState, state: DeliveryState): void {
  requireRole(actor, COMMAND_ROLES.RequestDelivery, 'asking for a delivery');
  requireDeliverableOrder(order, actor);
  if (order.status !== 'absent') notRevoked(state, order.order.orderId);
}

/** What a preparation (or an operator's retry) is checked against before anything is encrypted. */
export function checkPreparable(actor: Actor, order: OrderState, state: DeliveryState): void {
  requireRole(actor, COMMAND_ROLES.PrepareDelivery, 'preparing a delivery');
  requireDeliverableOrder(order, undefined);
  if (order.status !== 'absent') notRevoked(state, order.order.orderId);
}

function notRevoked(state: DeliveryState, orderId: string): void {
  if (state.revoked)
    throw new CodedError('DELIVERY_REVOKED', `the delivery of order ${orderId} was revoked`, { orderId });
}

function decide(command: DeliveryCommand, state: DeliveryState): DeliveryEvent[] {
  switch (command.type) {
    case 'PrepareDelivery': {
      requireRole(command.actor, COMMAND_ROLES.PrepareDelivery, 'preparing a delivery');
      requireDeliverableOrder(command.order, undefined);
      const { orderId, buyerId, manifestId, manifestSignatureId } = command.prepared;
      notRevoked(state, orderId);
      const order = (command.order as Extract<OrderState, { order: unknown }>).order;
      if (order.orderId !== orderId || order.buyerId !== buyerId || order.manifestId !== manifestId)
        throw new CodedError(
          'DELIVERY_MISMATCH',
          `the delivery does not name order ${order.orderId}'s buyer and manifest`,
        );
      if (order.manifestSignatureId !== manifestSignatureId)
        throw new CodedError('DELIVERY_MISMATCH', `the delivery cites another manifest signature than the order`);
      return [{ type: 'delivery.prepared', data: command.prepared }];
    }
    case 'RecordDeliveryProof': {
      requireRole(command.actor, COMMAND_ROLES.PrepareDelivery, 'recording a delivery proof');
      const { deliveryId, orderId } = command.proof;
      notRevoked(state, orderId);
      if (state.prepared?.deliveryId !== deliveryId)
        throw new CodedError(
          'DELIVERY_NOT_PREPARED',
          `delivery ${deliveryId} is not the current one of order ${orderId}`,
          {
            deliveryId,
          },
        );
      if (state.proof !== null) return [];
      return [{ type: 'delivery.proof_issued', data: command.proof }];
    }
    case 'RecordDeliveryFailure': {
      requireRole(command.actor, COMMAND_ROLES.PrepareDelivery, 'recording a delivery failure');
      requireDeliverableOrder(command.order, undefined);
      requireText(command.reason, 'INVALID_REASON', 'reason');
      const { orderId } = (command.order as Extract<OrderState, { order: unknown }>).order;
      notRevoked(state, orderId);
      if (state.failures >= MAX_RECORDED_DELIVERY_FAILURES) return [];
      return [{ type: 'delivery.failed', data: { orderId, code: command.code, reason: command.reason } }];
    }
    case 'IssueDeliveryLink': {
      requireRole(command.actor, COMMAND_ROLES.RequestDelivery, 'asking for a delivery link');
      requireDeliverableOrder(command.order, command.actor);
      const { orderId } = (command.order as Extract<OrderState, { order: unknown }>).order;
      notRevoked(state, orderId);
      if (state.prepared === null || state.proof === null)
        throw new CodedError('DELIVERY_NOT_PREPARED', `the delivery of order ${orderId} is not prepared yet`, {
          orderId,
        });
      if (state.links >= MAX_DELIVERY_LINKS)
        throw new CodedError('DELIVERY_LINK_LIMIT', `order ${orderId} was given ${MAX_DELIVERY_LINKS} links already`, {
          orderId,
          maxLinks: MAX_DELIVERY_LINKS,
        });
      const { deliveryId } = state.prepared;
      return [
        {
          type: 'delivery.link_issued',
          data: { orderId, deliveryId, linkId: command.linkId, expiresAt: command.expiresAt },
        },
      ];
    }
    case 'RevokeDelivery': {
      requireRole(command.actor, COMMAND_ROLES.RefundOrder, 'revoking a delivery');
      if (state.revoked || state.prepared === null) return [];
      requireText(command.reason, 'INVALID_REASON', 'reason');
      const { orderId, deliveryId, objectKey } = state.prepared;
      return [{ type: 'delivery.revoked', data: { orderId, deliveryId, objectKey, reason: command.reason } }];
    }
    default:
      return assertNever(command, 'delivery command');
  }
}

export const deliveryDecider: Decider<DeliveryCommand, DeliveryEvent, DeliveryState> = {
  initialState: { prepared: null, proof: null, links: 0, failures: 0, revoked: false },
  decide,
  evolve(state, event) {
    switch (event.type) {
      case 'delivery.prepared':
        return { ...state, prepared: event.data, proof: null };
      case 'delivery.proof_issued':
        return { ...state, proof: event.data };
      case 'delivery.link_issued':
        return { ...state, links: state.links + 1 };
      case 'delivery.failed':
        return { ...state, failures: state.failures + 1 };
      case 'delivery.revoked':
        return { ...state, revoked: true };
      default:
        return assertNever(event, 'delivery event');
    }
  },
};
