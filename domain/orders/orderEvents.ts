/** Events of a marketplace order (stream `order-<orderId>`). */
import { z } from 'zod';
import { royaltySplitSchema } from '../manifests/manifestEvents.ts';
import { amountSchema, currencySchema, idSchema, textSchema } from '../schemas.ts';

/** Failed payment attempts recorded on one order before it refuses more. */
export const MAX_PAYMENT_ATTEMPTS = 20;
/** Length of a delivery public key (SPKI PEM), in characters. */
export const MAX_PUBLIC_KEY_LENGTH = 4096;

export const orderCreatedSchema = z.strictObject({
  orderId: idSchema,
  buyerId: idSchema,
  listingId: idSchema,
  manifestId: idSchema,
  sellerId: idSchema,
  /** The listing's price at checkout: what the buyer owes, whatever the listing costs later. */
  priceMinor: amountSchema,
  currency: currencySchema,
  royaltySplits: z.array(royaltySplitSchema).min(1),
  platformFeeBasisPoints: z.number().int().nonnegative().max(10_000),
  manifestSignatureId: idSchema,
  /** The buyer's public key (SPKI PEM) the artifact is encrypted for on delivery (Option A). */
  deliveryPublicKey: z.string().min(1).max(MAX_PUBLIC_KEY_LENGTH).optional(),
  /** `managed`: no buyer key, the artifact is encrypted to a marketplace-managed data key (Option B). */
  deliveryKeyMode: z.literal('managed').optional(),
});
export const orderPaymentFailedSchema = z.strictObject({
  orderId: idSchema,
  providerPaymentId: idSchema,
  reason: textSchema,
});
export const orderPaidSchema = z.strictObject({
  orderId: idSchema,
  providerPaymentId: idSchema,
  amountMinor: amountSchema,
  currency: currencySchema,
  ledgerTransactionId: idSchema,
});
export const orderFinalizedSchema = z.strictObject({
  orderId: idSchema,
  ledgerTransactionId: idSchema,
  manifestSignatureId: idSchema,
});
export const orderRefundedSchema = z.strictObject({
  orderId: idSchema,
  amountMinor: amountSchema,
  currency: currencySchema,
  reason: textSchema,
  ledgerTransactionIds: z.array(idSchema).min(1).max(2),
});
export const orderCancelledSchema = z.strictObject({ orderId: idSchema, cancelledBy: idSchema, reason: textSchema });

export type OrderCreated = z.infer<typeof orderCreatedSchema>;

export type OrderEvent =
  | { type: 'order.created'; data: OrderCreated }
  | { type: 'order.payment_failed'; data: z.infer<typeof orderPaymentFailedSchema> }
  | { type: 'order.paid'; data: z.infer<typeof orderPaidSchema> }
  | { type: 'order.finalized'; data: z.infer<typeof orderFinalizedSchema> }
  | { type: 'order.refunded'; data: z.infer<typeof orderRefundedSchema> }
  | { type: 'order.cancelled'; data: z.infer<typeof orderCancelledSchema> };

export const orderEventSchemas = {
  'order.created': orderCreatedSchema,
  'order.payment_failed': orderPaymentFailedSchema,
  'order.paid': orderPaidSchema,
  'order.finalized': orderFinalizedSchema,
  'order.refunded': orderRefundedSchema,
  'order.cancelled': orderCancelledSchema,
} as const;
