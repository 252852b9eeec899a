/**
 * The payment provider's webhook. The provider signs `<timestamp>.<raw body>`
 * with HMAC-SHA256 under PAYMENT_PROVIDER_WEBHOOK_SECRET and sends
 * `Payment-Signature: t=<unix seconds>,v1=<hex>` (several v1 during a secret
 * rotation). A bad or stale signature is 401 and appends nothing. Each
 * provider event id is an idempotency key: a redelivered event is answered
 * with the first response; the same payment id is a no-op in the domain too.
 *
 * Stripe's webhook, `POST /webhooks/stripe` (PAYOUT_PROVIDER=stripe), is
 * signed by the same scheme under STRIPE_WEBHOOK_SECRET in `Stripe-Signature`,
 * with the same tolerance; the events about our transfers are the payouts'
 * answers (infra/adapters/payouts/stripeEvents.ts), recorded as those of
 * `POST /webhooks/payouts` are, the event id their idempotency key.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { recordPayment } from '../../../../commands/orders/recordPayment.ts';
import { recordProviderAnswer, type ProviderAnswerResult } from '../../../../commands/payouts/recordPayoutOutcome.ts';
import { reconciliationDiscrepanciesTotal } from '../../../adapters/metrics.ts';
import { isLiveModeKey, stripeEventSchema, translateStripeEvent } from '../../../adapters/payouts/stripeEvents.ts';
import type { Actor } from '../../../../domain/actor.ts';
import { PAYOUT_DISCREPANCY_KINDS } from '../../../../domain/payouts/payoutEvents.ts';
import { amountSchema, currencySchema, idSchema, textSchema } from '../../../../domain/schemas.ts';
import { commandResponseSchema, runCommand } from '../commandRoute.ts';
import { HttpError } from '../errors.ts';
import { defineRoute, type RouteSpec, type WebhookSigning } from '../route.ts';

export const WEBHOOK_SIGNATURE_HEADER = 'Payment-Signature';
export const STRIPE_SIGNATURE_HEADER = 'Stripe-Signature';
/** The actor payments are recorded as. */
export const PAYMENT_PROVIDER: Actor = { id: 'payment-provider', role: 'Service' };
/** The actor Stripe's answers are recorded as. */
export const STRIPE: Actor = { id: 'stripe', role: 'Service' };

export const PAYMENT_WEBHOOK_SIGNING: WebhookSigning = {
  header: WEBHOOK_SIGNATURE_HEADER,
  variable: 'PAYMENT_PROVIDER_WEBHOOK_SECRET',
  secret: (services) => services.http.webhookSecret,
};
const STRIPE_WEBHOOK_SIGNING: WebhookSigning = {
  header: STRIPE_SIGNATURE_HEADER,
  variable: 'STRIPE_WEBHOOK_SECRET',
  secret: (services) => services.config.payouts.stripe?.webhookSecret,
};
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
  headerName = WEBHOOK_SIGNATURE_HEADER,
): void {
  if (header === undefined || header.length > 1024) throw invalid(`missing or oversized ${headerName} header`);
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
    throw invalid(`${headerName} must be t=<unix seconds>,v1=<hex HMAC-SHA256>`);
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
  defineRoute({
    method: 'post',
    path: '/webhooks/stripe',
    operationId: 'stripeWebhook',
    summary:
      "Stripe's events (PAYOUT_PROVIDER=stripe): a transfer's creation settles its payout, its reversal fails or reverses it; what does not fit opens a payout discrepancy",
    tag: 'finance',
    routeClass: 'webhook',
    roles: 'webhook',
    signing: STRIPE_WEBHOOK_SIGNING,
    body: stripeEventSchema,
    headers: [
      {
        name: STRIPE_SIGNATURE_HEADER,
        required: true,
        schema: { type: 'string' },
        description: 't=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>"> under STRIPE_WEBHOOK_SECRET',
      },
    ],
    response: z.union([
      commandResponseSchema.extend({
        discrepancies: z
          .array(z.object({ discrepancyId: z.string(), kind: z.enum(PAYOUT_DISCREPANCY_KINDS) }))
          .describe('the payout discrepancies this answer opened (GET /payout-discrepancies); empty when it fit'),
      }),
      z.object({ ignored: z.literal(true) }).describe('not an answer about a payout: nothing appended'),
    ]),
    errors: [400, 401, 404, 409, 413, 415, 422, 429, 503],
    async handle(request, services) {
      const event = request.body;
      // The route signs nothing in without a webhook secret, which PAYOUT_PROVIDER=stripe requires with the rest.
      const stripe = services.config.payouts.stripe;
      if (stripe === undefined)
        throw new HttpError('WEBHOOK_NOT_CONFIGURED', 'PAYOUT_PROVIDER is not stripe: no Stripe events are taken');
      const translation = translateStripeEvent(event, {
        connectedAccounts: stripe.connectedAccounts,
        livemode: isLiveModeKey(stripe.secretKey),
      });
      if ('ignored' in translation) {
        const log = { stripeEventId: event.id, type: event.type, reason: translation.ignored };
        if (translation.notify) services.logger.warn(log, 'Stripe event ignored: finance should look at it');
        else services.logger.info(log, 'Stripe event ignored');
        return { body: { ignored: true } };
      }
      const answered = await runCommand(services, {
        operationId: 'recordPayoutOutcome',
        handler: recordProviderAnswer,
        actor: STRIPE,
        input: { ...translation.answer },
        idempotencyKey: `stripe-event:${event.id}`,
        request,
      });
      const { discrepancies } = answered.body as ProviderAnswerResult;
      if (discrepancies.length > 0) {
        for (const { kind } of discrepancies) reconciliationDiscrepanciesTotal.inc({ kind });
        services.logger.warn(
          { stripeEventId: event.id, payoutId: translation.answer.payoutId, discrepancies },
          'a Stripe answer did not fit its payout: a discrepancy holds the party (GET /payout-discrepancies)',
        );
      }
      return answered;
    },
  }),
];
