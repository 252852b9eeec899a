import test from 'ava';
import { fold } from '../../domain/decider.ts';
import { listingDecider } from '../../domain/catalog/listingDecider.ts';
import { orderDecider, type OrderCommand } from '../../domain/orders/orderDecider.ts';
import type { OrderEvent } from '../../domain/orders/orderEvents.ts';
import { MAX_PAYMENT_ATTEMPTS } from '../../domain/orders/orderEvents.ts';
import { given } from '../helpers/given.ts';
import {
  DELIVERY_KEY,
  buyer,
  listingPublished,
  operator,
  orderCreated,
  otherBuyer,
  paymentService,
  publisher,
} from '../helpers/fixtures.ts';

const activeListing = fold(listingDecider, [{ type: 'listing.published', data: listingPublished() }]);
const created: OrderEvent[] = [{ type: 'order.created', data: orderCreated() }];
const paidEvent: OrderEvent = {
  type: 'order.paid',
  data: {
    orderId: 'o-1',
    providerPaymentId: 'pay-1',
    amountMinor: 1999,
    currency: 'EUR',
    ledgerTransactionId: 'payment-o-1',
  },
};
const paid: OrderEvent[] = [...created, paidEvent];
const finalizedEvent: OrderEvent = {
  type: 'order.finalized',
  data: { orderId: 'o-1', ledgerTransactionId: 'finalize-o-1', manifestSignatureId: 'msig-1' },
};
const finalized: OrderEvent[] = [...paid, finalizedEvent];
const cancelled: OrderEvent[] = [
  ...created,
  { type: 'order.cancelled', data: { orderId: 'o-1', cancelledBy: buyer.id, reason: 'changed my mind' } },
];
const refunded: OrderEvent[] = [
  ...finalized,
  {
    type: 'order.refunded',
    data: {
      orderId: 'o-1',
      amountMinor: 1999,
      currency: 'EUR',
      reason: 'broken',
      ledgerTransactionIds: ['refund-reversal-o-1', 'refund-o-1'],
    },
  },
];

const checkout = (overrides: Partial<Extract<OrderCommand, { type: 'CreateOrder' }>> = {}): OrderCommand => ({
  type: 'CreateOrder',
  actor: buyer,
  orderId: 'o-1',
  listing: activeListing,
  deliveryPublicKey: DELIVERY_KEY,
  platformFeeBasisPoints: 1000,
  ...overrides,
});
const pay = (overrides: Partial<Extract<OrderCommand, { type: 'RecordPayment' }>> = {}): OrderCommand => ({
  type: 'RecordPayment',
  actor: paymentService,
  providerPaymentId: 'pay-1',
  amountMinor: 1999,
  currency: 'EUR',
  outcome: 'succeeded',
  ...overrides,
});
const finalize: OrderCommand = { type: 'FinalizeOrder', actor: paymentService };
const refund: OrderCommand = { type: 'RefundOrder', actor: operator, reason: 'broken' };
const cancel: OrderCommand = { type: 'CancelOrder', actor: buyer, reason: 'changed my mind' };

test('checkout records the price at that moment, the split, the fee and the delivery key', (t) => {
  given(orderDecider).when(checkout()).then(t, created);
});

test('checkout is refused: unknown or delisted listing, own listing, not a buyer, twice, bad delivery key', (t) => {
  const delisted = fold(listingDecider, [
    { type: 'listing.published', data: listingPublished() },
    { type: 'listing.delisted', data: { listingId: 'l-1', delistedBy: operator.id, reason: 'takedown' } },
  ]);
  given(orderDecider)
    .when(checkout({ listing: listingDecider.initialState }))
    .thenRejects(t, 'LISTING_NOT_FOUND');
  given(orderDecider)
    .when(checkout({ listing: delisted }))
    .thenRejects(t, 'LISTING_NOT_ACTIVE');
  given(orderDecider)
    .when(checkout({ actor: { id: publisher.id, role: 'Buyer' } }))
    .thenRejects(t, 'ORDER_SELF_PURCHASE');
  given(orderDecider)
    .when(checkout({ actor: operator }))
    .thenRejects(t, 'FORBIDDEN_ROLE');
  given(orderDecider, created).when(checkout()).thenRejects(t, 'ORDER_EXISTS');
  given(orderDecider)
    .when(checkout({ deliveryPublicKey: 'ssh-ed25519 AAAA' }))
    .thenRejects(t, 'INVALID_DELIVERY_KEY');
});

test('a payment of the exact amount pays the order; the same payment again changes nothing', (t) => {
  given(orderDecider, created).when(pay()).then(t, [paidEvent]);
  given(orderDecider, paid).when(pay()).then(t, []);
  given(orderDecider, finalized).when(pay()).then(t, []);
});

test('a payment is refused: wrong amount or currency, another payment on a paid order, cancelled, unknown order, not a service', (t) => {
  given(orderDecider, created)
    .when(pay({ amountMinor: 1998 }))
    .thenRejects(t, 'PAYMENT_AMOUNT_MISMATCH');
  given(orderDecider, created)
    .when(pay({ currency: 'USD' }))
    .thenRejects(t, 'PAYMENT_AMOUNT_MISMATCH');
  given(orderDecider, paid)
    .when(pay({ amountMinor: 5 }))
    .thenRejects(t, 'PAYMENT_AMOUNT_MISMATCH');
  given(orderDecider, paid)
    .when(pay({ providerPaymentId: 'pay-2' }))
    .thenRejects(t, 'ORDER_ALREADY_PAID');
  given(orderDecider, cancelled).when(pay()).thenRejects(t, 'ORDER_CANCELLED');
  given(orderDecider).when(pay()).thenRejects(t, 'ORDER_NOT_FOUND');
  given(orderDecider, created)
    .when(pay({ actor: buyer }))
    .thenRejects(t, 'FORBIDDEN_ROLE');
});

test('a failed payment is recorded once and leaves the order awaiting payment; a later success of it conflicts', (t) => {
  const failed: OrderEvent = {
    type: 'order.payment_failed',
    data: { orderId: 'o-1', providerPaymentId: 'pay-0', reason: 'card declined' },
  };
  given(orderDecider, created)
    .when(pay({ providerPaymentId: 'pay-0', outcome: 'failed', failureReason: 'card declined' }))
    .then(t, [failed]);
  given(orderDecider, [...created, failed])
    .when(pay({ providerPaymentId: 'pay-0', outcome: 'failed', failureReason: 'card declined' }))
    .then(t, []);
  given(orderDecider, [...created, failed])
    .when(pay({ providerPaymentId: 'pay-0' }))
    .thenRejects(t, 'PAYMENT_CONFLICT');
  given(orderDecider, [...created, failed])
    .when(pay())
    .then(t, [paidEvent]);
  given(orderDecider, paid)
    .when(pay({ outcome: 'failed' }))
    .thenRejects(t, 'PAYMENT_CONFLICT');
  given(orderDecider, paid)
    .when(pay({ providerPaymentId: 'pay-9', outcome: 'failed' }))
    .thenRejects(t, 'ORDER_NOT_AWAITING_PAYMENT');
  const many: OrderEvent[] = [...created];
  for (let index = 0; index < MAX_PAYMENT_ATTEMPTS; index++) {
    many.push({
      type: 'order.payment_failed',
      data: { orderId: 'o-1', providerPaymentId: `f-${index}`, reason: 'declined' },
    });
  }
  given(orderDecider, many)
    .when(pay({ providerPaymentId: 'f-last', outcome: 'failed' }))
    .thenRejects(t, 'ORDER_TOO_MANY_PAYMENT_ATTEMPTS');
});

test('a paid order is finalized citing its ledger transaction and manifest signature; nothing else is', (t) => {
  given(orderDecider, paid).when(finalize).then(t, [finalizedEvent]);
  given(orderDecider, created).when(finalize).thenRejects(t, 'ORDER_NOT_PAID');
  given(orderDecider, cancelled).when(finalize).thenRejects(t, 'ORDER_NOT_PAID');
  given(orderDecider, finalized).when(finalize).thenRejects(t, 'ORDER_ALREADY_FINALIZED');
  given(orderDecider, paid).when({ type: 'FinalizeOrder', actor: buyer }).thenRejects(t, 'FORBIDDEN_ROLE');
});

test('a finalized order is refunded with the reversal and the payout; a paid one with the payout only', (t) => {
  given(orderDecider, finalized)
    .when(refund)
    .then(t, [refunded[refunded.length - 1]!]);
  given(orderDecider, paid)
    .when(refund)
    .then(t, [
      {
        type: 'order.refunded',
        data: {
          orderId: 'o-1',
          amountMinor: 1999,
          currency: 'EUR',
          reason: 'broken',
          ledgerTransactionIds: ['refund-o-1'],
        },
      },
    ]);
  given(orderDecider, created).when(refund).thenRejects(t, 'ORDER_NOT_REFUNDABLE');
  given(orderDecider, refunded).when(refund).thenRejects(t, 'ORDER_NOT_REFUNDABLE');
  given(orderDecider, paid).when({ type: 'RefundOrder', actor: buyer, reason: 'x' }).thenRejects(t, 'FORBIDDEN_ROLE');
  given(orderDecider, paid).when({ type: 'RefundOrder', actor: operator, reason: '' }).thenRejects(t, 'INVALID_REASON');
});

test('the buyer or an operator cancels an unpaid order; not a paid one; another buyer is told the order does not exist', (t) => {
  given(orderDecider, created).when(cancel).then(t, [cancelled[1]!]);
  given(orderDecider, created)
    .when({ ...cancel, actor: otherBuyer })
    .thenRejects(t, 'ORDER_NOT_FOUND');
  given(orderDecider, paid).when(cancel).thenRejects(t, 'ORDER_NOT_CANCELLABLE');
  given(orderDecider, cancelled).when(cancel).thenRejects(t, 'ORDER_NOT_CANCELLABLE');
  given(orderDecider, created)
    .when({ ...cancel, actor: publisher })
    .thenRejects(t, 'FORBIDDEN_ROLE');
});
