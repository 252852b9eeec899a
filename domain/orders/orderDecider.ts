/**
 * The order state machine:
 *
 *   created ──paid──▶ paid ──finalized──▶ finalized
 *      │                │                     │
 *   cancelled        refunded ◀───────────────┘
 *
 * A failed payment leaves the order created. The same payment reported twice
 * is a no-op; a transition from any other state is refused with a code that
 * names what the order is missing.
 */
import { hasRole, requireRole, type Actor } from '../actor.ts';
import { COMMAND_ROLES, REFUND_ROLES } from '../authorization.ts';
import type { ListingState } from '../catalog/listingDecider.ts';
import type { Decider } from '../decider.ts';
import { assert, assertNever, CodedError } from '../errors.ts';
import { requireText } from '../ids.ts';
import { orderTransactionIds, refundPostings } from './orderPostings.ts';
import { MAX_PAYMENT_ATTEMPTS, type OrderCreated, type OrderEvent } from './orderEvents.ts';

export type OrderCommand =
  | {
      type: 'CreateOrder';
      actor: Actor;
      orderId: string;
      listing: ListingState;
      /** The buyer's SPKI PEM (Option A), or undefined for a marketplace-managed key (Option B). */
      deliveryPublicKey: string | undefined;
      platformFeeBasisPoints: number;
    }
  | {
      type: 'RecordPayment';
      actor: Actor;
      providerPaymentId: string;
      amountMinor: number;
      currency: string;
      outcome: 'succeeded' | 'failed';
      failureReason?: string | undefined;
    }
  | { type: 'FinalizeOrder'; actor: Actor }
  | { type: 'RefundOrder'; actor: Actor; reason: string }
  | { type: 'CancelOrder'; actor: Actor; reason: string };

export type OrderStatus = 'created' | 'paid' | 'finalized' | 'refunded' | 'cancelled';
export interface OrderPayment {
  providerPaymentId: string;
  amountMinor: number;
}
export type OrderState =
  | { status: 'absent' }
  | { status: OrderStatus; order: OrderCreated; payment: OrderPayment | null; failedPaymentIds: string[] };
type ExistingOrder = Extract<OrderState, { order: OrderCreated }>;

function existing(state: OrderState): ExistingOrder {
  if (state.status === 'absent') throw new CodedError('ORDER_NOT_FOUND', 'no such order');
  return state;
}

function create(command: Extract<OrderCommand, { type: 'CreateOrder' }>, state: OrderState): OrderEvent[] {
  const { actor, orderId, listing } = command;
  requireRole(actor, COMMAND_ROLES.CreateOrder, 'checking out');
  if (state.status !== 'absent') throw new CodedError('ORDER_EXISTS', `order ${orderId} already exists`, { orderId });
  if (listing.status === 'absent') throw new CodedError('LISTING_NOT_FOUND', 'no such listing');
  const { listingId, manifestId, publisherId, priceMinor, currency, royaltySplits, manifestSignatureId } =
    listing.listing;
  if (listing.status !== 'active')
    throw new CodedError('LISTING_NOT_ACTIVE', `listing ${listingId} is ${listing.status}`, {
      listingId,
      status: listing.status,
    });
  if (publisherId === actor.id)
    throw new CodedError('ORDER_SELF_PURCHASE', `${actor.id} publishes listing ${listingId} and cannot buy it`, {
      listingId,
    });
  if (command.deliveryPublicKey !== undefined && !command.deliveryPublicKey.startsWith('-----BEGIN PUBLIC KEY-----')) {
    throw new CodedError('INVALID_DELIVERY_KEY', 'deliveryPublicKey must be an SPKI PEM public key', {});
  }
  const data: OrderCreated = {
    orderId,
    buyerId: actor.id,
    listingId,
    manifestId,
    sellerId: publisherId,
    priceMinor,
    currency,
    royaltySplits,
    platformFeeBasisPoints: command.platformFeeBasisPoints,
    manifestSignatureId,
    ...(command.deliveryPublicKey === undefined
      ? { deliveryKeyMode: 'managed' as const }
      : { deliveryPublicKey: command.deliveryPublicKey }),
  };
  return [{ type: 'order.created', data }];
}

function paymentFailed(command: Extract<OrderCommand, { type: 'RecordPayment' }>, order: ExistingOrder): OrderEvent[] {
  const { providerPaymentId } = command;
  if (order.payment?.providerPaymentId === providerPaymentId) {
    throw new CodedError(
      'PAYMENT_CONFLICT',
      `payment ${providerPaymentId} already succeeded for order ${order.order.orderId}`,
      { providerPaymentId },
    );
  }
  if (order.failedPaymentIds.includes(providerPaymentId)) return [];
  if (order.status !== 'created')
    throw new CodedError('ORDER_NOT_AWAITING_PAYMENT', `order ${order.order.orderId} is ${order.status}`, {
      status: order.status,
    });
  if (order.failedPaymentIds.length >= MAX_PAYMENT_ATTEMPTS) {
    throw new CodedError(
      'ORDER_TOO_MANY_PAYMENT_ATTEMPTS',
      `order ${order.order.orderId} has ${MAX_PAYMENT_ATTEMPTS} failed payments`,
      {},
    );
  }
  const reason = command.failureReason ?? 'declined by the payment provider';
  requireText(reason, 'INVALID_REASON', 'failureReason');
  return [{ type: 'order.payment_failed', data: { orderId: order.order.orderId, providerPaymentId, reason } }];
}

function paymentSucceeded(
  command: Extract<OrderCommand, { type: 'RecordPayment' }>,
  order: ExistingOrder,
): OrderEvent[] {
  const { providerPaymentId, amountMinor, currency } = command;
  const { orderId, priceMinor } = order.order;
  if (amountMinor !== priceMinor || currency !== order.order.currency) {
    throw new CodedError(
      'PAYMENT_AMOUNT_MISMATCH',
      `payment of ${amountMinor} ${currency} for order ${orderId}, which costs ${priceMinor} ${order.order.currency}`,
      {
        amountMinor,
        currency,
        priceMinor,
        expectedCurrency: order.order.currency,
      },
    );
  }
  // The provider retries webhooks: the same payment again changes nothing.
  if (order.payment?.providerPaymentId === providerPaymentId) return [];
  if (order.status === 'cancelled')
    throw new CodedError('ORDER_CANCELLED', `order ${orderId} was cancelled`, { orderId });
  if (order.status !== 'created')
    throw new CodedError(
      'ORDER_ALREADY_PAID',
      `order ${orderId} was paid by payment ${order.payment?.providerPaymentId}`,
      { status: order.status },
    );
  if (order.failedPaymentIds.includes(providerPaymentId)) {
    throw new CodedError('PAYMENT_CONFLICT', `payment ${providerPaymentId} was reported failed for order ${orderId}`, {
      providerPaymentId,
    });
  }
  return [
    {
      type: 'order.paid',
      data: {
        orderId,
        providerPaymentId,
        amountMinor,
        currency,
        ledgerTransactionId: orderTransactionIds.payment(orderId),
      },
    },
  ];
}

function decideExisting(command: Exclude<OrderCommand, { type: 'CreateOrder' }>, order: ExistingOrder): OrderEvent[] {
  const { orderId } = order.order;
  switch (command.type) {
    case 'RecordPayment':
      requireRole(command.actor, COMMAND_ROLES.RecordPayment, 'recording a payment');
      return command.outcome === 'failed' ? paymentFailed(command, order) : paymentSucceeded(command, order);
    case 'FinalizeOrder':
      requireRole(command.actor, COMMAND_ROLES.FinalizeOrder, 'finalizing an order');
      if (order.status === 'finalized')
        throw new CodedError('ORDER_ALREADY_FINALIZED', `order ${orderId} is already finalized`, { orderId });
      if (order.status !== 'paid')
        throw new CodedError('ORDER_NOT_PAID', `order ${orderId} is ${order.status}, not paid`, {
          status: order.status,
        });
      return [
        {
          type: 'order.finalized',
          data: {
            orderId,
            ledgerTransactionId: orderTransactionIds.finalize(orderId),
            manifestSignatureId: order.order.manifestSignatureId,
          },
        },
      ];
    case 'RefundOrder': {
      requireRole(command.actor, COMMAND_ROLES.RefundOrder, 'refunding an order');
      if (order.status !== 'paid' && order.status !== 'finalized') {
        throw new CodedError(
          'ORDER_NOT_REFUNDABLE',
          `order ${orderId} is ${order.status}; only paid or finalized orders are refunded`,
          { status: order.status },
        );
      }
      requireText(command.reason, 'INVALID_REASON', 'reason');
      const ledgerTransactionIds = refundPostings(order.order, order.status === 'finalized').map(
        (posting) => posting.transactionId,
      );
      const { priceMinor: amountMinor, currency } = order.order;
      return [
        {
          type: 'order.refunded',
          data: { orderId, amountMinor, currency, reason: command.reason, ledgerTransactionIds },
        },
      ];
    }
    case 'CancelOrder':
      requireRole(command.actor, COMMAND_ROLES.CancelOrder, 'cancelling an order');
      // Another buyer's order answers as an unknown one does: the refusal must not tell that it exists.
      if (!hasRole(command.actor, REFUND_ROLES) && command.actor.id !== order.order.buyerId)
        throw new CodedError('ORDER_NOT_FOUND', 'no such order');
      if (order.status !== 'created')
        throw new CodedError(
          'ORDER_NOT_CANCELLABLE',
          `order ${orderId} is ${order.status}; only unpaid orders are cancelled`,
          { status: order.status },
        );
      requireText(command.reason, 'INVALID_REASON', 'reason');
      return [{ type: 'order.cancelled', data: { orderId, cancelledBy: command.actor.id, reason: command.reason } }];
    default:
      return assertNever(command, 'order command');
  }
}

export const orderDecider: Decider<OrderCommand, OrderEvent, OrderState> = {
  initialState: { status: 'absent' },
  decide(command, state) {
    if (command.type === 'CreateOrder') return create(command, state);
    return decideExisting(command, existing(state));
  },
  evolve(state, event) {
    if (event.type === 'order.created')
      return { status: 'created', order: event.data, payment: null, failedPaymentIds: [] };
    assert(state.status !== 'absent', `${event.type} follows order.created`);
    switch (event.type) {
      case 'order.payment_failed':
        return { ...state, failedPaymentIds: [...state.failedPaymentIds, event.data.providerPaymentId] };
      case 'order.paid':
        return {
          ...state,
          status: 'paid',
          payment: { providerPaymentId: event.data.providerPaymentId, amountMinor: event.data.amountMinor },
        };
      case 'order.finalized':
        return { ...state, status: 'finalized' };
      case 'order.refunded':
        return { ...state, status: 'refunded' };
      case 'order.cancelled':
        return { ...state, status: 'cancelled' };
      default:
        return assertNever(event, 'order event');
    }
  },
};
