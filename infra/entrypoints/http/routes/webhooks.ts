/**
 * The payment provider's webhook. The provider signs `<timestamp>.<raw body>`
 * with HMAC-SHA256 under PAYMENT_PROVIDER_WEBHOOK_SECRET and sends
 * `Payment-Signature: t=<unix seconds>,v1=<hex>` (several v1 during a secret
 * rotation). A bad or stale signature is 401 and appends nothing. Each
 * provider event id is an idempotency key: a redelivered event is answered
 * with the first response; the same payment id is a no-op in the domain too.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { recordPayment } from '../../../../commands/orders/recordPayment.ts';
import type { Actor } from '../../../../domain/actor.ts';
import { amountSchema, currencySchema, idSchema, textSchema } from '../../../../domain/schemas.ts';
import { commandResponseSchema, runCommand } from '../commandRoute.ts';
import { HttpError } from '../errors.ts';
import { defineRoute, type RouteSpec } from '../route.ts';

export const WEBHOOK_SIGNATURE_HEADER = 'Payment-Signature';
/** The actor payments are recorded as. */
export const PAYMENT_PROVIDER: Actor = { id: 'payment-provider', role: 'Service' };
/** v1 signatures read from one header. */
const MAX_SIGNATURES = 4;

export const paymentEventSchema = z.strictObject({
  eventId: idSchema.describe("the provider's event id: redeliveries carry the same one"),
  orderId: idSchema,
  providerPaymentId: idSchema,
  amountMinor: amountSchema,
  currency: currencySchema,
  outcome: z.enum(['succeeded', 'failed']),
  failureReason: textSchema.optional(),
});

export function webhookSignature(secret: string, timestampSeconds: number, rawBody: Buffer | string): string {
  return createHmac('sha256', secret).update(`${timestampSeconds}.`).update(rawBody).digest('hex');
}

function invalid(message: string): HttpError {
  return new HttpError('WEBHOOK_SIGNATURE_INVALID', message);
}

/** Throws 401 unless one v1 signature verifies and the timestamp is within the tolerance. */
export function verifyWebhookSignature(
  header: string | undefined,
  rawBody: Buffer,
  secret: string,
  toleranceSeconds: number,
  nowMs: number,
): void {
  if (header === undefined || header.length > 1024)
    throw invalid(`missing or oversized ${WEBHOOK_SIGNATURE_HEADER} header`);
  const parts = header.split(',').map((part) => part.trim().split('='));
  const timestamp = parts.find(([name]) => name === 't')?.[1];
  const signatures = parts
    .filter(([name, value]) => name === 'v1' && value !== undefined && /^[0-9a-f]{64}$/.test(value))
    .map(([, value]) => Buffer.from(value!, 'hex'));
  if (
    timestamp === undefined ||
    !/^\d{1,12}$/.test(timestamp) ||
    signatures.length === 0 ||
    signatures.length > MAX_SIGNATURES
  ) {
    throw invalid(`${WEBHOOK_SIGNATURE_HEADER} must be t=<unix seconds>,v1=<hex HMAC-SHA256>`);
  }
  const skewSeconds = Math.abs(nowMs / 1000 - Number(timestamp));
  if (skewSeconds > toleranceSeconds)
    throw invalid(
      `the signature timestamp is ${Math.round(skewSeconds)} s away from now (tolerance ${toleranceSeconds} s)`,
    );
  const expected = Buffer.from(webhookSignature(secret, Number(timestamp), rawBody), 'hex');
  if (!signatures.some((signature) => timingSafeEqual(signature, expected)))
    throw invalid('the signature does not match the body');
}

export const webhookRoutes: readonly RouteSpec[] = [
  defineRoute({
    method: 'post',
    path: '/webhooks/payments',
    operationId: 'paymentWebhook',
    summary: 'Payment provider events, signed with HMAC-SHA256 over the raw body',
    tag: 'marketplace',
    routeClass: 'webhook',
    roles: 'webhook',
    body: paymentEventSchema,
    headers: [
      {
        name: WEBHOOK_SIGNATURE_HEADER,
        required: true,
        schema: { type: 'string' },
        description: 't=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">',
      },
    ],
    response: commandResponseSchema,
    errors: [400, 401, 404, 409, 413, 415, 422, 429, 503],
    async handle(request, services) {
      const { eventId, ...payment } = request.body;
      return runCommand(services, {
        operationId: 'recordPayment',
        handler: recordPayment,
        actor: PAYMENT_PROVIDER,
        input: payment,
        idempotencyKey: `payment-event:${eventId}`,
        request,
      });
    },
  }),
];
