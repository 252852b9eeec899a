/**
 * Payout reads and the payout provider's webhook. Finance and Auditors read
 * every party's payouts and statements; a Publisher reads its own (another
 * party's statement answers 404). The webhook is signed like the payment
 * webhook (routes/webhooks.ts: the same provider, secret, header and
 * tolerance); its event id is the idempotency key of the answer it records.
 */
import { z } from 'zod';
import { recordPayoutOutcome } from '../../../../commands/payouts/recordPayoutOutcome.ts';
import { READ_ROLES } from '../../../../domain/authorization.ts';
import { PAYOUT_DISCREPANCY_KINDS } from '../../../../domain/payouts/payoutEvents.ts';
import { amountSchema, currencySchema, idSchema, textSchema } from '../../../../domain/schemas.ts';
import {
  orderHoldPage,
  payoutDiscrepancyPage,
  payoutPage,
  readablePartyId,
  statementOf,
} from '../../../../projections/payouts/payoutQueries.ts';
import { commandResponseSchema, runCommand } from '../commandRoute.ts';
import { HttpError } from '../errors.ts';
import { defineRoute, QUERY_ERRORS, type RouteSpec } from '../route.ts';
import { idParameter, pageQuery, pageSchema } from './queryCommon.ts';
import { PAYMENT_PROVIDER, WEBHOOK_SIGNATURE_HEADER } from './webhooks.ts';

export const payoutEventSchema = z.strictObject({
  eventId: idSchema.describe("the provider's event id: redeliveries carry the same one"),
  payoutId: idSchema,
  status: z.enum(['settled', 'failed']),
  amountMinor: amountSchema,
  currency: currencySchema,
  failureReason: textSchema.optional(),
});

const payoutSchema = z.object({
  payoutId: z.string(),
  runId: z.string(),
  partyId: z.string(),
  currency: z.string(),
  amountMinor: z.number().int(),
  amount: z.string().describe('the amount in the major unit, with the ISO 4217 exponent of its currency'),
  nettedMinor: z.number().int(),
  status: z
    .enum(['initiated', 'settled', 'failed', 'reversed'])
    .describe('reversed: the provider took it back after it settled; the money is owed to the party again'),
  ledgerTransactionId: z.string(),
  providerReference: z.string().nullable().describe('the provider’s id of what it made for it (Stripe: tr_…)'),
  providerEventId: z.string().nullable(),
  failureReason: z.string().nullable(),
  initiatedSeq: z.number().int(),
  initiatedAt: z.string(),
  submittedAt: z
    .string()
    .nullable()
    .describe('when the provider was recorded accepting it; null while initiated: POST /payouts/{payoutId}/resubmit'),
  decidedAt: z.string().nullable(),
});

const statementSchema = z.object({
  partyId: z.string(),
  lines: z.array(
    z.object({
      currency: z.string(),
      sellerPayableMinor: z.number().int(),
      royaltyPayableMinor: z.number().int(),
      inTransitMinor: z.number().int(),
      owedToPlatformMinor: z.number().int().describe('a refund after the party was paid; its next payout nets it'),
      netPayableMinor: z.number().int(),
      netPayable: z.string(),
    }),
  ),
  payouts: z.array(payoutSchema),
});

export const payoutRoutes: readonly RouteSpec[] = [
  defineRoute({
    method: 'post',
    path: '/webhooks/payouts',
    operationId: 'payoutWebhook',
    summary: 'Payout provider events (settled, failed), signed with HMAC-SHA256 over the raw body',
    tag: 'finance',
    routeClass: 'webhook',
    roles: 'webhook',
    body: payoutEventSchema,
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
      // Only the sandbox's answers come here: with a real provider (Stripe) they come through its own webhook, and
      // this secret (the payment provider's) must not be able to settle or fail the payouts another provider sent.
      if (services.config.payouts.provider !== 'sandbox')
        throw new HttpError(
          'WEBHOOK_NOT_CONFIGURED',
          `payouts go through ${services.config.payouts.provider}; its answers come through its own webhook, not this one`,
        );
      const { eventId, status, failureReason, ...payout } = request.body;
      return runCommand(services, {
        operationId: 'recordPayoutOutcome',
        handler: recordPayoutOutcome,
        actor: PAYMENT_PROVIDER,
        input: {
          ...payout,
          outcome: status,
          providerEventId: eventId,
          ...(failureReason === undefined ? {} : { reason: failureReason }),
        },
        idempotencyKey: `payout-event:${eventId}`,
        request,
      });
    },
  }),
  defineRoute({
    method: 'get',
    path: '/payouts',
    operationId: 'listPayouts',
    summary: 'Payouts in the order they were made, paged; of one party and/or one run (a Publisher: its own)',
    tag: 'finance',
    routeClass: 'query',
    roles: READ_ROLES.payouts,
    query: z.object({
      limit: pageQuery.limit,
      after: z.coerce.number().int().min(0).optional().describe('the `next` of the previous page (a seq)'),
      partyId: idParameter.optional(),
      runId: idParameter.optional(),
    }),
    response: pageSchema(payoutSchema),
    errors: [...QUERY_ERRORS, 404],
    handle: async ({ query, actor }, { db }) => ({
      body: await payoutPage(db, { ...query, partyId: readablePartyId(actor!, query.partyId) }),
    }),
  }),
  defineRoute({
    method: 'get',
    path: '/payout-holds',
    operationId: 'listOrderHolds',
    summary: 'Orders that have had a payout hold (held or released), with the reasons and who gave them, paged',
    tag: 'finance',
    routeClass: 'query',
    roles: READ_ROLES.ledger,
    query: z.object({
      limit: pageQuery.limit,
      after: idParameter.optional().describe('the `next` of the previous page (an order id)'),
      status: z.enum(['held', 'released']).optional(),
    }),
    response: pageSchema(
      z.object({
        orderId: z.string(),
        status: z.enum(['held', 'released']),
        reason: z.string(),
        placedBy: z.string(),
        placedAt: z.string(),
        releasedBy: z.string().nullable(),
        releasedReason: z.string().nullable(),
        releasedAt: z.string().nullable(),
      }),
    ),
    errors: QUERY_ERRORS,
    handle: async ({ query }, { db }) => ({ body: await orderHoldPage(db, query) }),
  }),
  defineRoute({
    method: 'get',
    path: '/payout-discrepancies',
    operationId: 'listPayoutDiscrepancies',
    summary:
      'Provider answers about payouts that did not fit them (a second transfer, another account, a reversal), open or resolved, paged; an open one holds its parties’ payouts',
    tag: 'finance',
    routeClass: 'query',
    roles: READ_ROLES.ledger,
    query: z.object({
      limit: pageQuery.limit,
      after: z.coerce.number().int().min(0).optional().describe('the `next` of the previous page (a seq)'),
      status: z.enum(['open', 'resolved']).optional(),
    }),
    response: pageSchema(
      z.object({
        payoutId: z.string(),
        discrepancyId: z.string(),
        kind: z.enum(PAYOUT_DISCREPANCY_KINDS),
        providerEventId: z.string(),
        providerReference: z.string().nullable(),
        detail: z.string(),
        partyIds: z.array(z.string()),
        status: z.enum(['open', 'resolved']),
        openedSeq: z.number().int(),
        openedAt: z.string(),
        resolvedBy: z.string().nullable(),
        resolvedReason: z.string().nullable(),
        resolvedAt: z.string().nullable(),
      }),
    ),
    errors: QUERY_ERRORS,
    handle: async ({ query }, { db }) => ({ body: await payoutDiscrepancyPage(db, query) }),
  }),
  defineRoute({
    method: 'get',
    path: '/parties/:partyId/statement',
    operationId: 'getPartyStatement',
    summary: 'A party’s statement: payables, in transit, owed to the platform per currency, and its latest payouts',
    tag: 'finance',
    routeClass: 'query',
    roles: READ_ROLES.payouts,
    params: z.object({ partyId: idParameter }),
    response: statementSchema,
    errors: [...QUERY_ERRORS, 404],
    handle: async ({ params, actor }, { db }) => ({
      body: await statementOf(db, readablePartyId(actor!, params.partyId)!),
    }),
  }),
];
