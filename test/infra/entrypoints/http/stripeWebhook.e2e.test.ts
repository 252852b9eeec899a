/**
 * PAYOUT_PROVIDER=stripe over HTTP on PostgreSQL: a payout run sends its
 * transfers to a loopback stand-in for Stripe's API (test/helpers/stripeStandIn.ts,
 * not Stripe), and Stripe's signed events on POST /webhooks/stripe answer the payouts.
 */
import test, { type ExecutionContext } from 'ava';
import { deliveryKey } from '../../../../commands/demo/marketplaceFlow.ts';
import { webhookSignature } from '../../../../infra/entrypoints/http/routes/webhooks.ts';
import { listedProduct, testServer, WEBHOOK_SECRET, type TestServer } from '../../../helpers/http.ts';
import {
  STAND_IN_SECRET_KEY,
  STAND_IN_WEBHOOK_SECRET,
  stripeEvent,
  stripeStandIn,
  type StripeStandIn,
} from '../../../helpers/stripeStandIn.ts';

async function stripeServer(t: ExecutionContext, standIn: StripeStandIn): Promise<TestServer> {
  return testServer(t, {
    env: {
      PAYOUT_PROVIDER: 'stripe',
      STRIPE_SECRET_KEY: STAND_IN_SECRET_KEY,
      STRIPE_WEBHOOK_SECRET: STAND_IN_WEBHOOK_SECRET,
      STRIPE_CONNECTED_ACCOUNTS: 'publisher-1:acct_1Publisher,artist-7:acct_2Artist',
      STRIPE_API_BASE: standIn.url,
    },
  });
}

/** One finalized sale of the test product (publisher-1, with a royalty to artist-7). */
async function sale(server: TestServer, listingId: string, paymentId: string): Promise<void> {
  const created = await server.request('POST', '/orders', {
    as: 'buyer',
    body: { listingId, deliveryPublicKey: deliveryKey() },
  });
  const raw = JSON.stringify({
    eventId: `evt-${paymentId}`,
    orderId: created.body.orderId as string,
    providerPaymentId: paymentId,
    amountMinor: 1999,
    currency: 'EUR',
    outcome: 'succeeded',
  });
  const t = Math.floor(Date.now() / 1000);
  await server.request('POST', '/webhooks/payments', {
    raw,
    headers: {
      'content-type': 'application/json',
      'payment-signature': `t=${t},v1=${webhookSignature(WEBHOOK_SECRET, t, raw)}`,
    },
  });
  const finalized = await server.request('POST', `/orders/${created.body.orderId as string}/finalize`, {
    as: 'service',
  });
  if (finalized.status !== 200) throw new Error(finalized.text);
}

/** The stand-in's transfer of one payout. */
function transferOf(standIn: StripeStandIn, payoutId: string): Record<string, unknown> {
  const transfer = [...standIn.transfers.values()].find(
    (candidate) => (candidate['metadata'] as { payoutId: string }).payoutId === payoutId,
  );
  if (!transfer) throw new Error(`no transfer for ${payoutId}`);
  return transfer;
}

async function unchanged(
  t: ExecutionContext,
  server: TestServer,
  status: number,
  expected: string | undefined,
  step: () => Promise<{ status: number; body: { error?: { code: string }; ignored?: boolean } }>,
) {
  const before = await server.snapshot();
  const response = await step();
  t.is(response.status, status);
  if (expected === undefined) t.deepEqual(response.body, { ignored: true });
  else t.is(response.body.error?.code, expected);
  t.deepEqual(await server.snapshot(), before, `${expected ?? 'ignored'}: nothing appended`);
}

test('a payout run pays through Stripe transfers, and Stripe’s signed events settle and fail the payouts', async (t) => {
  const standIn = await stripeStandIn(t);
  const server = await stripeServer(t, standIn);
  const { listingId } = await listedProduct(server);
  await sale(server, listingId, 'pay-1');

  const run = await server.request('POST', '/payouts/runs', { as: 'lead', body: {} });
  t.is(run.status, 200, run.text);
  const payouts = run.body.payouts as { partyId: string; payoutId: string; amountMinor: number; submitted: boolean }[];
  t.deepEqual(payouts.map((payout) => [payout.partyId, payout.amountMinor, payout.submitted]).sort(), [
    ['artist-7', 360, true],
    ['publisher-1', 1440, true],
  ]);
  t.true((run.body.events as { type: string }[]).some((event) => event.type === 'payout.submitted'));
  t.deepEqual(
    standIn.requests.map((request) => [request.path, request.headers['idempotency-key']]).sort(),
    payouts.map((payout) => ['/v1/transfers', `chainbook-payout-${payout.payoutId}`]).sort(),
  );
  const publisher = payouts.find((payout) => payout.partyId === 'publisher-1')!;
  const artist = payouts.find((payout) => payout.partyId === 'artist-7')!;
  t.like(transferOf(standIn, publisher.payoutId), {
    destination: 'acct_1Publisher',
    transfer_group: run.body.runId,
    currency: 'eur',
  });

  const created = (options: { secret?: string; nowMs?: number } = {}) =>
    stripeEvent('evt_1Created', 'transfer.created', transferOf(standIn, publisher.payoutId), options);
  const post = (event: { raw: string; headers: Record<string, string> }) =>
    server.request('POST', '/webhooks/stripe', { raw: event.raw, headers: event.headers });
  await unchanged(t, server, 401, 'WEBHOOK_SIGNATURE_INVALID', () =>
    server.request('POST', '/webhooks/stripe', {
      raw: created().raw,
      headers: { 'content-type': 'application/json' },
    }),
  );
  await unchanged(t, server, 401, 'WEBHOOK_SIGNATURE_INVALID', () =>
    post(created({ secret: 'whsec_someone_else_0123456789' })),
  );
  await unchanged(t, server, 401, 'WEBHOOK_SIGNATURE_INVALID', () => post(created({ nowMs: Date.now() - 3_600_000 })));
  await unchanged(t, server, 401, 'WEBHOOK_SIGNATURE_INVALID', () =>
    server.request('POST', '/webhooks/stripe', {
      raw: created().raw,
      headers: created({ secret: WEBHOOK_SECRET }).headers,
    }),
  );
  const rotated = created();
  const otherSignature = webhookSignature('whsec_retired_0123456789abcdef', 1, rotated.raw);
  rotated.headers['stripe-signature'] = `${rotated.headers['stripe-signature']!},v1=${otherSignature}`;

  const settled = await post(rotated);
  t.is(settled.status, 200, settled.text);
  t.deepEqual(
    settled.body.events.map((event: { type: string }) => event.type),
    ['payout.settled', 'ledger.posted'],
  );
  const statement = await server.request('GET', '/parties/publisher-1/statement', { as: 'lead' });
  t.like(statement.body.lines[0], { sellerPayableMinor: 0, inTransitMinor: 0 });
  t.like(statement.body.payouts[0], { status: 'settled', providerEventId: 'evt-1Created' });
  const journal = await server.request('GET', '/ledger/journal', { as: 'auditor' });
  t.true(
    JSON.stringify(journal.body).includes(`payout-settled-${publisher.payoutId}`),
    'the settlement posting, as for /webhooks/payouts',
  );

  const before = await server.snapshot();
  const redelivered = await post(created());
  t.is(redelivered.status, 200, redelivered.text);
  t.is(redelivered.headers.get('idempotent-replayed'), 'true');
  t.deepEqual(redelivered.body.seqs, settled.body.seqs);
  t.deepEqual(await server.snapshot(), before, 'a redelivery appends nothing');

  const reversed = await post(
    stripeEvent('evt_1Reversed', 'transfer.reversed', {
      ...transferOf(standIn, artist.payoutId),
      amount_reversed: 360,
      reversed: true,
    }),
  );
  t.is(reversed.status, 200, reversed.text);
  const artistStatement = await server.request('GET', '/parties/artist-7/statement', { as: 'lead' });
  t.like(artistStatement.body.lines[0], { royaltyPayableMinor: 360, inTransitMinor: 0 });
  t.like(artistStatement.body.payouts[0], {
    status: 'failed',
    failureReason: `Stripe transfer ${transferOf(standIn, artist.payoutId)['id'] as string} was reversed`,
  });

  await unchanged(t, server, 200, undefined, () =>
    post(stripeEvent('evt_1Balance', 'balance.available', { object: 'balance', available: [] })),
  );
  await unchanged(t, server, 200, undefined, () =>
    post(stripeEvent('evt_1Foreign', 'transfer.created', { ...transferOf(standIn, artist.payoutId), metadata: {} })),
  );
  await unchanged(t, server, 404, 'PAYOUT_NOT_FOUND', () =>
    post(
      stripeEvent('evt_1Unknown', 'transfer.created', {
        ...transferOf(standIn, artist.payoutId),
        metadata: { payoutId: 'po-unknown' },
      }),
    ),
  );

  const trial = await server.request('GET', '/ledger/trial-balance', { as: 'auditor' });
  t.is(trial.body.lines[0].totalMinor, 0);
  t.false(server.logText().includes(STAND_IN_SECRET_KEY), 'the secret key is never logged');
  t.false(server.logText().includes(STAND_IN_WEBHOOK_SECRET), 'nor the webhook secret');
});

// The stand-in refuses (429, as Stripe rate-limits) and then, asked again, accepts: as Stripe does for a request that
// never began to execute. A refusal Stripe executed it would answer again under the same key (docs/DOMAIN.md, "Payouts").
test('a payout Stripe did not accept stays initiated; resubmitted, it is the same transfer request under the same key', async (t) => {
  const standIn = await stripeStandIn(t);
  const server = await stripeServer(t, standIn);
  const { listingId } = await listedProduct(server);
  await sale(server, listingId, 'pay-1');
  standIn.answer = () => ({ status: 429, body: { error: { type: 'invalid_request_error', code: 'rate_limit' } } });
  const run = await server.request('POST', '/payouts/runs', { as: 'lead', body: {} });
  t.is(run.status, 200, run.text);
  const payouts = run.body.payouts as { partyId: string; payoutId: string; submitted: boolean }[];
  t.deepEqual(
    payouts.map((payout) => payout.submitted),
    [false, false],
  );
  const publisher = payouts.find((payout) => payout.partyId === 'publisher-1')!;
  const path = `/payouts/${publisher.payoutId}/resubmit`;
  const refused = await server.request('POST', path, { as: 'lead' });
  t.is(refused.status, 503);
  t.is(refused.body.error.code, 'PAYOUT_PROVIDER_UNAVAILABLE');
  standIn.answer = undefined;
  const resubmitted = await server.request('POST', path, { as: 'lead' });
  t.is(resubmitted.status, 200, resubmitted.text);
  const sent = standIn.requests.filter((request) =>
    request.form.some(([name, value]) => name === 'metadata[payoutId]' && value === publisher.payoutId),
  );
  t.is(sent.length, 3, 'the run, the refused resubmission and this one');
  t.true(sent.every((request) => request.headers['idempotency-key'] === `chainbook-payout-${publisher.payoutId}`));
  t.true(sent.every((request) => JSON.stringify(request.form) === JSON.stringify(sent[0]!.form)));
});

test('with Stripe paying, resubmission past its idempotency window, or for a held party, is refused before Stripe is called; the sandbox webhook settles nothing', async (t) => {
  const standIn = await stripeStandIn(t);
  const server = await stripeServer(t, standIn);
  const { listingId } = await listedProduct(server);
  await sale(server, listingId, 'pay-1');
  standIn.answer = () => ({ status: 429, body: { error: { type: 'invalid_request_error', code: 'rate_limit' } } });
  const run = await server.request('POST', '/payouts/runs', { as: 'lead', body: {} });
  standIn.answer = undefined;
  const [payout] = run.body.payouts as { payoutId: string; amountMinor: number }[];
  const sentBefore = standIn.requests.length;

  // The payment provider's secret cannot answer for Stripe's payouts.
  const answer = JSON.stringify({
    eventId: 'pevt-1',
    payoutId: payout!.payoutId,
    status: 'failed',
    amountMinor: payout!.amountMinor,
    currency: 'EUR',
    failureReason: 'forged',
  });
  const t0 = Math.floor(Date.now() / 1000);
  const before = await server.snapshot();
  const forged = await server.request('POST', '/webhooks/payouts', {
    raw: answer,
    headers: {
      'content-type': 'application/json',
      'payment-signature': `t=${t0},v1=${webhookSignature(WEBHOOK_SECRET, t0, answer)}`,
    },
  });
  t.is(forged.status, 503, forged.text);
  t.is(forged.body.error.code, 'WEBHOOK_NOT_CONFIGURED');
  t.deepEqual(await server.snapshot(), before, 'nothing appended');

  // A party held by an open discrepancy is not paid by resubmission.
  const ledger = server.app.deps.ledger;
  server.app.deps.ledger = { ...ledger, heldParties: async () => new Set(['publisher-1', 'artist-7']) };
  const held = await server.request('POST', `/payouts/${payout!.payoutId}/resubmit`, { as: 'lead' });
  t.is(held.status, 409, held.text);
  t.is(held.body.error.code, 'PAYOUT_PARTY_HELD');
  server.app.deps.ledger = ledger;

  // A day later Stripe may have forgotten the key: refused, finance checks Stripe and records the outcome by hand.
  const realNow = server.services.now;
  server.services.now = () => new Date(Date.now() + 24 * 3600 * 1000).toISOString();
  const late = await server.request('POST', `/payouts/${payout!.payoutId}/resubmit`, { as: 'lead' });
  server.services.now = realNow;
  t.is(late.status, 409, late.text);
  t.is(late.body.error.code, 'PAYOUT_RESUBMIT_WINDOW_PASSED');
  t.is(standIn.requests.length, sentBefore, 'Stripe was not called');
  t.deepEqual(await server.snapshot(), before, 'nothing appended');
});

test('POST /webhooks/stripe answers 503 when STRIPE_WEBHOOK_SECRET is not set, appending nothing', async (t) => {
  const server = await testServer(t);
  const event = stripeEvent('evt_1Any', 'transfer.created', { object: 'transfer' });
  const response = await server.request('POST', '/webhooks/stripe', { raw: event.raw, headers: event.headers });
  t.is(response.status, 503);
  t.is(response.body.error.code, 'WEBHOOK_NOT_CONFIGURED');
  t.regex(response.body.error.message, /STRIPE_WEBHOOK_SECRET/);
});

/** The count of one kind in finance_reconciliation_discrepancies_total, as /metrics shows it. */
async function discrepancyMetric(server: TestServer, kind: string): Promise<number> {
  const metrics = await server.request('GET', '/metrics');
  const line = metrics.text
    .split('\n')
    .find((l) => l.startsWith(`finance_reconciliation_discrepancies_total{kind="${kind}"}`));
  return line === undefined ? 0 : Number(line.split(' ').pop());
}

test('a Stripe answer that does not fit its payout opens a discrepancy holding the party: a second transfer, another account, a reversal after settling; resolving lifts it', async (t) => {
  const standIn = await stripeStandIn(t);
  const server = await stripeServer(t, standIn);
  const { listingId } = await listedProduct(server);
  await sale(server, listingId, 'pay-1');
  const run = await server.request('POST', '/payouts/runs', { as: 'lead', body: {} });
  const payouts = run.body.payouts as { partyId: string; payoutId: string }[];
  const publisher = payouts.find((payout) => payout.partyId === 'publisher-1')!.payoutId;
  const artist = payouts.find((payout) => payout.partyId === 'artist-7')!.payoutId;
  const publisherTransfer = transferOf(standIn, publisher);
  const listed = await server.request('GET', '/payouts?partyId=publisher-1', { as: 'lead' });
  t.is(listed.body.items[0].providerReference, publisherTransfer['id'], 'the transfer id Stripe answered, recorded');
  const post = (event: { raw: string; headers: Record<string, string> }) =>
    server.request('POST', '/webhooks/stripe', { raw: event.raw, headers: event.headers });
  const metricsBefore = await discrepancyMetric(server, 'second_transfer');

  t.is((await post(stripeEvent('evt_1Created', 'transfer.created', publisherTransfer))).status, 200);
  const reversed = await post(
    stripeEvent('evt_2Reversed', 'transfer.reversed', { ...publisherTransfer, amount_reversed: 1440, reversed: true }),
  );
  t.is(reversed.status, 200, reversed.text);
  t.deepEqual(
    reversed.body.events.map((event: { type: string }) => event.type),
    ['payout.reversed', 'payout.discrepancy_opened', 'ledger.posted'],
  );

  const second = await post(stripeEvent('evt_3Second', 'transfer.created', { ...publisherTransfer, id: 'tr_9Second' }));
  t.is(second.status, 200, second.text);
  t.deepEqual(
    second.body.events.map((event: { type: string }) => event.type),
    ['payout.discrepancy_opened'],
    'a second transfer for one payout settles nothing',
  );
  t.is(await discrepancyMetric(server, 'second_transfer'), metricsBefore + 1);

  const elsewhere = await post(
    stripeEvent('evt_4Elsewhere', 'transfer.created', {
      ...transferOf(standIn, artist),
      destination: 'acct_9Elsewhere',
    }),
  );
  t.is(elsewhere.status, 200, elsewhere.text);
  t.deepEqual(
    elsewhere.body.events.map((event: { type: string }) => event.type),
    ['payout.discrepancy_opened'],
  );

  const statement = await server.request('GET', '/parties/publisher-1/statement', { as: 'lead' });
  t.like(statement.body.lines[0], { sellerPayableMinor: 1440, inTransitMinor: 0 }, 'owed again');
  t.like(statement.body.payouts[0], { status: 'reversed' });

  const open = await server.request('GET', '/payout-discrepancies?status=open', { as: 'auditor' });
  t.deepEqual(
    open.body.items.map((d: { payoutId: string; discrepancyId: string; kind: string; partyIds: string[] }) => [
      d.payoutId === publisher ? 'publisher' : 'artist',
      d.discrepancyId,
      d.kind,
      d.partyIds,
    ]),
    [
      ['publisher', 'd1', 'reversed_after_settlement', ['publisher-1']],
      ['publisher', 'd2', 'second_transfer', ['publisher-1']],
      ['artist', 'd1', 'transfer_mismatch', ['artist-7']],
    ],
  );
  t.regex(open.body.items[2].detail, /acct_9Elsewhere, party artist-7's connected account is acct_2Artist/);

  // Held: a new sale's money, and the reversed payout's, wait until finance has looked.
  await sale(server, listingId, 'pay-2');
  const heldRun = await server.request('POST', '/payouts/runs', { as: 'lead', body: {} });
  t.is(heldRun.status, 200, heldRun.text);
  t.deepEqual(heldRun.body.payouts, [], 'both parties are held');

  const resolve = (payoutId: string, d: string, as: 'lead' | 'publisher' = 'lead') =>
    server.request('POST', `/payouts/${payoutId}/discrepancies/${d}/resolve`, {
      as,
      body: { reason: 'checked in the Stripe dashboard' },
    });
  await unchanged(t, server, 403, 'FORBIDDEN_ROLE', () => resolve(publisher, 'd1', 'publisher'));
  await unchanged(t, server, 404, 'DISCREPANCY_NOT_FOUND', () => resolve(publisher, 'd9'));
  await unchanged(t, server, 400, 'INVALID_INPUT', () => resolve(publisher, 'x1'));
  for (const [payoutId, d] of [
    [publisher, 'd1'],
    [publisher, 'd2'],
    [artist, 'd1'],
  ] as const)
    t.is((await resolve(payoutId, d)).status, 200);
  await unchanged(t, server, 409, 'DISCREPANCY_ALREADY_RESOLVED', () => resolve(publisher, 'd1'));

  const paid = await server.request('POST', '/payouts/runs', { as: 'lead', body: {} });
  t.deepEqual(
    (paid.body.payouts as { partyId: string; amountMinor: number }[]).map((p) => [p.partyId, p.amountMinor]).sort(),
    [
      ['artist-7', 360],
      ['publisher-1', 2880],
    ],
    'resolved: the artist’s new sale (its first payout is still in transit) and both of the publisher’s are paid',
  );
  const trial = await server.request('GET', '/ledger/trial-balance', { as: 'auditor' });
  t.is(trial.body.lines[0].totalMinor, 0);
});
