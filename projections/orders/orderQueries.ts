/** Reads of the orders projection: an order with its delivery state; a buyer's or a seller's orders, paged. */
import { hasRole, type Actor } from '../../domain/actor.ts';
import { ORDER_READERS } from '../../domain/authorization.ts';
import { pageOf, pageSize, type Page } from '../page.ts';
import type { ProjectionExecutor } from '../rowStore.ts';

export const ORDER_STATUSES = ['created', 'paid', 'finalized', 'refunded', 'cancelled'] as const;
export const DELIVERY_STATES = ['awaiting-payment', 'awaiting-finalization', 'deliverable', 'revoked', 'none'] as const;

export interface OrderView {
  orderId: string;
  buyerId: string;
  listingId: string;
  manifestId: string;
  sellerId: string;
  priceMinor: number;
  currency: string;
  status: (typeof ORDER_STATUSES)[number];
  deliveryState: (typeof DELIVERY_STATES)[number];
  /** The buyer's key (Option A), or null with deliveryKeyMode `managed` (Option B). */
  deliveryPublicKey: string | null;
  deliveryKeyMode: 'buyer-key' | 'managed';
  manifestSignatureId: string;
  providerPaymentId: string | null;
  failedPayments: number;
  ledgerTransactionIds: string[];
  reason: string | null;
  createdSeq: number;
  updatedSeq: number;
}

const COLUMNS = `order_id, buyer_id, listing_id, manifest_id, seller_id, price_minor, currency, status, delivery_state, delivery_public_key,
  delivery_key_mode, manifest_signature_id, provider_payment_id, failed_payments, ledger_transaction_ids, reason, created_seq, updated_seq`;

function orderOf(row: Record<string, unknown>): OrderView {
  return {
    orderId: row['order_id'] as string,
    buyerId: row['buyer_id'] as string,
    listingId: row['listing_id'] as string,
    manifestId: row['manifest_id'] as string,
    sellerId: row['seller_id'] as string,
    priceMinor: row['price_minor'] as number,
    currency: row['currency'] as string,
    status: row['status'] as OrderView['status'],
    deliveryState: row['delivery_state'] as OrderView['deliveryState'],
    deliveryPublicKey: row['delivery_public_key'] as string | null,
    deliveryKeyMode: row['delivery_key_mode'] as OrderView['deliveryKeyMode'],
    manifestSignatureId: row['manifest_signature_id'] as string,
    providerPaymentId: row['provider_payment_id'] as string | null,
    failedPayments: row['failed_payments'] as number,
    ledgerTransactionIds: JSON.parse(row['ledger_transaction_ids'] as string) as string[],
    reason: row['reason'] as string | null,
    createdSeq: row['created_seq'] as number,
    updatedSeq: row['updated_seq'] as number,
  };
}

export async function findOrder(tx: ProjectionExecutor, orderId: string): Promise<OrderView | undefined> {
  const { rows } = await tx.query<Record<string, unknown>>(`SELECT ${COLUMNS} FROM orders WHERE order_id = $1`, [
    orderId,
  ]);
  return rows[0] && orderOf(rows[0]);
}

export interface OrderFilter {
  buyerId?: string | undefined;
  sellerId?: string | undefined;
  after?: string | undefined;
  limit?: number | undefined;
}

/** Orders in order id order, optionally of one buyer and/or one seller. */
export async function listOrders(tx: ProjectionExecutor, filter: OrderFilter = {}): Promise<Page<OrderView>> {
  const limit = pageSize(filter.limit);
  const { rows } = await tx.query<Record<string, unknown>>(
    `SELECT ${COLUMNS} FROM orders
     WHERE ($1::text IS NULL OR buyer_id = $1) AND ($2::text IS NULL OR seller_id = $2) AND ($3::text IS NULL OR order_id > $3)
     ORDER BY order_id LIMIT $4`,
    [filter.buyerId ?? null, filter.sellerId ?? null, filter.after ?? null, limit + 1],
  );
  return pageOf(rows, limit, orderOf, (row) => row['order_id'] as string);
}

/**
 * The orders `actor` may see (ORDER_READERS), as a filter: every order, the
 * orders it placed (a Buyer), or the orders of its listings (a Publisher);
 * undefined when it sees none.
 */
export function visibleTo(actor: Actor): Pick<OrderFilter, 'buyerId' | 'sellerId'> | undefined {
  if (hasRole(actor, ORDER_READERS.all)) return {};
  if (hasRole(actor, ORDER_READERS.buyer)) return { buyerId: actor.id };
  if (hasRole(actor, ORDER_READERS.seller)) return { sellerId: actor.id };
  return undefined;
}

/** The order, when `actor` may see it; someone else's order is not found, so that its existence is not disclosed. */
export async function findOrderFor(
  tx: ProjectionExecutor,
  actor: Actor,
  orderId: string,
): Promise<OrderView | undefined> {
  const visible = visibleTo(actor);
  if (!visible) return undefined;
  const order = await findOrder(tx, orderId);
  if (
    !order ||
    (visible.buyerId !== undefined && order.buyerId !== visible.buyerId) ||
    (visible.sellerId !== undefined && order.sellerId !== visible.sellerId)
  )
    return undefined;
  return order;
}

/** The orders `actor` may see, narrowed by `filter`; what it may see wins over what the filter asks. */
export async function listOrdersFor(
  tx: ProjectionExecutor,
  actor: Actor,
  filter: OrderFilter = {},
): Promise<Page<OrderView>> {
  const visible = visibleTo(actor);
  if (!visible) return { items: [], next: null };
  return listOrders(tx, { ...filter, ...visible });
}
