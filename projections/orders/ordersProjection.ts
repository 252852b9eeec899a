/**
 * Orders and their delivery state. Delivery follows the order: an order is
 * deliverable once finalized (the artifact may be encrypted for the buyer's
 * key, citing the manifest signature), revoked when refunded.
 *
 * Also every provider payment id seen: one payment id pays one order, checked
 * here, in the append transaction, where the whole history is at hand.
 */
import { jcs } from '../../chain/canonical.ts';
import { assertNever, CodedError } from '../../domain/errors.ts';
import type { OrderCreated, OrderEvent } from '../../domain/orders/orderEvents.ts';
import { foldRows, requireRow, type RowFold } from '../foldRows.ts';
import type { Projection, ProjectedRecord } from '../projection.ts';
import type { Row, TableSpec } from '../rowStore.ts';

export const ORDERS: TableSpec = {
  name: 'orders',
  key: ['order_id'],
  columns: {
    order_id: 'text',
    buyer_id: 'text',
    listing_id: 'text',
    manifest_id: 'text',
    seller_id: 'text',
    price_minor: 'int8',
    currency: 'text',
    status: 'text',
    delivery_state: 'text',
    delivery_public_key: 'text',
    delivery_key_mode: 'text',
    manifest_signature_id: 'text',
    provider_payment_id: 'text',
    failed_payments: 'int4',
    ledger_transaction_ids: 'text',
    reason: 'text',
    created_seq: 'int8',
    updated_seq: 'int8',
  },
};

export const PAYMENTS: TableSpec = {
  name: 'order_payments',
  key: ['provider_payment_id'],
  columns: { provider_payment_id: 'text', order_id: 'text', outcome: 'text', seq: 'int8' },
};

function withTransactions(row: Row, ids: readonly string[]): string {
  return jcs([...(JSON.parse(row['ledger_transaction_ids'] as string) as string[]), ...ids]);
}

/** The row of a new order: awaiting payment, no ledger transaction yet. */
function createdRow(o: OrderCreated, seq: number): Row {
  return {
    order_id: o.orderId,
    buyer_id: o.buyerId,
    listing_id: o.listingId,
    manifest_id: o.manifestId,
    seller_id: o.sellerId,
    price_minor: o.priceMinor,
    currency: o.currency,
    status: 'created',
    delivery_state: 'awaiting-payment',
    delivery_public_key: o.deliveryPublicKey ?? null,
    delivery_key_mode: o.deliveryKeyMode ?? 'buyer-key',
    manifest_signature_id: o.manifestSignatureId,
    provider_payment_id: null,
    failed_payments: 0,
    ledger_transaction_ids: '[]',
    reason: null,
    created_seq: seq,
    updated_seq: seq,
  };
}

const orderFold: RowFold<OrderEvent> = {
  spec: ORDERS,
  keyOf: (event) => ({ order_id: event.data.orderId }),
  evolve(row, event, record) {
    const updated = { updated_seq: record.seq };
    switch (event.type) {
      case 'order.created':
        return createdRow(event.data, record.seq);
      case 'order.payment_failed': {
        const current = requireRow(row, record);
        return { ...current, failed_payments: (current['failed_payments'] as number) + 1, ...updated };
      }
      case 'order.paid': {
        const current = requireRow(row, record);
        const ids = withTransactions(current, [event.data.ledgerTransactionId]);
        return {
          ...current,
          status: 'paid',
          delivery_state: 'awaiting-finalization',
          provider_payment_id: event.data.providerPaymentId,
          ledger_transaction_ids: ids,
          ...updated,
        };
      }
      case 'order.finalized': {
        const current = requireRow(row, record);
        return {
          ...current,
          status: 'finalized',
          delivery_state: 'deliverable',
          ledger_transaction_ids: withTransactions(current, [event.data.ledgerTransactionId]),
          ...updated,
        };
      }
      case 'order.refunded': {
        const current = requireRow(row, record);
        const ids = withTransactions(current, event.data.ledgerTransactionIds);
        return {
          ...current,
          status: 'refunded',
          delivery_state: 'revoked',
          ledger_transaction_ids: ids,
          reason: event.data.reason,
          ...updated,
        };
      }
      case 'order.cancelled':
        return {
          ...requireRow(row, record),
          status: 'cancelled',
          delivery_state: 'none',
          reason: event.data.reason,
          ...updated,
        };
      default:
        return assertNever(event, 'order event');
    }
  },
};

/** Upserts payment ids, but never moves one to another order: the rows it returns are the ones it wrote. */
const PAYMENTS_SQL = `INSERT INTO order_payments (provider_payment_id, order_id, outcome, seq)
  SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[])
  ON CONFLICT (provider_payment_id) DO UPDATE SET outcome = EXCLUDED.outcome, seq = EXCLUDED.seq
  WHERE order_payments.order_id = EXCLUDED.order_id
  RETURNING provider_payment_id`;

function paymentInUse(providerPaymentId: string, orderId: string): CodedError {
  return new CodedError(
    'PAYMENT_ID_IN_USE',
    `payment ${providerPaymentId} already belongs to another order than ${orderId}`,
    { providerPaymentId, orderId },
  );
}

/** Records each payment id; refuses one that already belongs to another order. */
async function recordPayments(
  tx: Parameters<Projection['apply']>[0],
  records: readonly ProjectedRecord[],
): Promise<void> {
  const latest = new Map<string, { orderId: string; outcome: string; seq: number }>();
  for (const { event, seq } of records) {
    if (event.type !== 'order.paid' && event.type !== 'order.payment_failed') continue;
    const { providerPaymentId, orderId } = event.data;
    const previous = latest.get(providerPaymentId);
    if (previous && previous.orderId !== orderId) throw paymentInUse(providerPaymentId, orderId);
    latest.set(providerPaymentId, { orderId, outcome: event.type === 'order.paid' ? 'succeeded' : 'failed', seq });
  }
  if (latest.size === 0) return;
  const ids = [...latest.keys()].sort();
  const { rows } = await tx.query<{ provider_payment_id: string }>(PAYMENTS_SQL, [
    ids,
    ids.map((id) => latest.get(id)!.orderId),
    ids.map((id) => latest.get(id)!.outcome),
    ids.map((id) => latest.get(id)!.seq),
  ]);
  if (rows.length !== ids.length) {
    const written = new Set(rows.map((row) => row.provider_payment_id));
    const id = ids.find((candidate) => !written.has(candidate))!;
    throw paymentInUse(id, latest.get(id)!.orderId);
  }
}

export const ordersProjection: Projection = {
  name: 'orders',
  version: 1,
  tables: [ORDERS, PAYMENTS],
  eventTypes: new Set([
    'order.created',
    'order.payment_failed',
    'order.paid',
    'order.finalized',
    'order.refunded',
    'order.cancelled',
  ]),
  async apply(tx, records) {
    await recordPayments(tx, records);
    await foldRows(tx, orderFold, records);
  },
};
