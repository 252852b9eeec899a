/** Payouts over HTTP: the run, the provider's signed answers, resubmission, the reads of each role, the metric. */
import test, { type ExecutionContext } from 'ava';
import { deliveryKey } from '../../../../commands/demo/marketplaceFlow.ts';
import { webhookSignature } from '../../../../infra/entrypoints/http/routes/webhooks.ts';
import { PayoutRefusal, type PayoutProvider } from '../../../../commands/payouts/payoutProvider.ts';
import { runCli } from '../../../helpers/cli.ts';
import { ENGINES } from '../../../helpers/databases.ts';
import { listedProduct, testServer, WEBHOOK_SECRET, type TestServer } from '../../../helpers/http.ts';

function signed(event: Record<string, unknown>, secret = WEBHOOK_SECRET, nowMs = Date.now()) {
  const raw = JSON.stringify(event);
  const t = Math.floor(nowMs / 1000);
  return {
    raw,
    headers: {
      'content-type': 'application/json',
      'payment-signature': `t=${t},v1=${webhookSignature(secret, t, raw)}`,
    },
  };
}

/** One finalized sale of the test product (publisher-1, with a royalty to artist-7); its order id. */
async function sale(server: TestServer, listingId: string, paymentId: string): Promise<string> {
  const created = await server.request('POST', '/orders', {
    as: 'buyer',
    body: { listingId, deliveryPublicKey: deliveryKey() },
  });
  const orderId = created.body.orderId as string;
  const payment = signed({
    eventId: `evt-${paymentId}`,
    orderId,
    providerPaymentId: paymentId,
    amountMinor: 1999,
    currency: 'EUR',
    outcome: 'succeeded',
  });
  await server.request('POST', '/webhooks/payments', { raw: payment.raw, headers: payment.headers });
  const finalized = await server.request('POST', `/orders/${orderId}/finalize`, { as: 'service' });
  if (finalized.status !== 200) throw new Error(finalized.text);
  return orderId;
}

async function unchanged(
  t: ExecutionContext,
  server: TestServer,
  status: number,
  code: string,
  step: () => Promise<{ status: number; body: { error?: { code: string } } }>,
) {
  const before = await server.snapshot();
  const response = await step();
  t.is(response.status, status, code);
  t.is(response.body.error?.code, code);
  t.deepEqual(await server.snapshot(), before, `${code}: nothing appended`);
}

for (const engine of ENGINES) {
  test(`${engine}: a payout run over HTTP, the provider's signed answers, and who reads which statement`, async (t) => {
    const server = await testServer(t, { engine });
    const { listingId } = await listedProduct(server);
    await sale(server, listingId, 'pay-1');

    await unchanged(t, server, 403, 'FORBIDDEN_ROLE', () =>
      server.request('POST', '/payouts/runs', { as: 'publisher', body: {} }),
    );
    await unchanged(t, server, 400, 'INVALID_INPUT', () =>
      server.request('POST', '/payouts/runs', { as: 'lead', body: { currency: 'euro' } }),
    );
    const run = await server.request('POST', '/payouts/runs', { as: 'lead', body: {} });
    t.is(run.status, 200, run.text);
    const byParty = Object.fromEntries(
      (run.body.payouts as { partyId: string; amountMinor: number; payoutId: string }[]).map((p) => [p.partyId, p]),
    );
    t.deepEqual(Object.fromEntries(Object.entries(byParty).map(([party, p]) => [party, p.amountMinor])), {
      'publisher-1': 1440,
      'artist-7': 360,
    });
    const publisherPayout = byParty['publisher-1']!;
    const artistPayout = byParty['artist-7']!;

    const own = await server.request('GET', '/payouts', { as: 'publisher' });
    t.deepEqual(
      own.body.items.map((p: { partyId: string; amount: string; status: string }) => [p.partyId, p.amount, p.status]),
      [['publisher-1', '14.40', 'initiated']],
      'a publisher sees its own payouts, the amount shown with the currency exponent',
    );
    t.is((await server.request('GET', '/payouts?partyId=publisher-1', { as: 'otherPublisher' })).status, 404);
    t.is((await server.request('GET', '/parties/publisher-1/statement', { as: 'otherPublisher' })).status, 404);
    t.is((await server.request('GET', '/parties/publisher-1/statement', { as: 'buyer' })).status, 403);
    const statement = await server.request('GET', '/parties/publisher-1/statement', { as: 'publisher' });
    t.like(statement.body.lines[0], {
      currency: 'EUR',
      sellerPayableMinor: 0,
      inTransitMinor: 1440,
      netPayable: '0.00',
    });
    const all = await server.request('GET', `/payouts?runId=${run.body.runId as string}`, { as: 'auditor' });
    t.is(all.body.items.length, 2);

    const settle = {
      eventId: 'pevt-1',
      payoutId: publisherPayout.payoutId,
      status: 'settled',
      amountMinor: 1440,
      currency: 'EUR',
    };
    await unchanged(t, server, 401, 'WEBHOOK_SIGNATURE_INVALID', () => {
      const forged = signed(settle, 'whsec_wrong_secret_0123456789');
      return server.request('POST', '/webhooks/payouts', { raw: forged.raw, headers: forged.headers });
    });
    await unchanged(t, server, 401, 'WEBHOOK_SIGNATURE_INVALID', () => {
      const stale = signed(settle, WEBHOOK_SECRET, Date.now() - 3_600_000);
      return server.request('POST', '/webhooks/payouts', { raw: stale.raw, headers: stale.headers });
    });
    await unchanged(t, server, 404, 'PAYOUT_NOT_FOUND', () => {
      const unknown = signed({ ...settle, eventId: 'pevt-0', payoutId: 'po-unknown' });
      return server.request('POST', '/webhooks/payouts', { raw: unknown.raw, headers: unknown.headers });
    });
    const good = signed(settle);
    const settled = await server.request('POST', '/webhooks/payouts', { raw: good.raw, headers: good.headers });
    t.is(settled.status, 200, settled.text);
    t.is(settled.body.seqs.length, 2, 'payout.settled and its ledger post');
    const redelivered = await server.request('POST', '/webhooks/payouts', { raw: good.raw, headers: good.headers });
    t.is(redelivered.headers.get('idempotent-replayed'), 'true');
    t.deepEqual(redelivered.body.seqs, settled.body.seqs);

    const fail = signed({
      eventId: 'pevt-2',
      payoutId: artistPayout.payoutId,
      status: 'failed',
      amountMinor: 360,
      currency: 'EUR',
      failureReason: 'account closed',
    });
    t.is((await server.request('POST', '/webhooks/payouts', { raw: fail.raw, headers: fail.headers })).status, 200);
    const artist = await server.request('GET', '/parties/artist-7/statement', { as: 'lead' });
    t.like(artist.body.lines[0], { royaltyPayableMinor: 360, inTransitMinor: 0 });
    t.like(artist.body.payouts[0], { status: 'failed', failureReason: 'account closed' });
    const trial = await server.request('GET', '/ledger/trial-balance', { as: 'auditor' });
    t.is(trial.body.lines[0].totalMinor, 0);

    const metrics = await server.request('GET', '/metrics');
    for (const event of ['initiated', 'settled', 'failed'])
      t.regex(metrics.text, new RegExp(`marketplace_royalty_payouts_total\\{event="${event}",currency="EUR"\\} [1-9]`));

    await unchanged(t, server, 400, 'LEDGER_INVALID_CURRENCY', () =>
      server.request('POST', '/ledger/transactions', {
        as: 'lead',
        body: {
          reason: 'phantom',
          entries: [
            { account: 'expense:hosting', direction: 'debit', amountMinor: 5, currency: 'ZZZ' },
            { account: 'asset:bank', direction: 'credit', amountMinor: 5, currency: 'ZZZ' },
          ],
        },
      }),
    );
  });
}

/**
 * A payout provider that fails while it is down (an error whose words must not reach finance), refuses when told to
 * (a PayoutRefusal, whose words do), and remembers each payout id it was asked to pay.
 */
function flakyProvider() {
  const calls: string[] = [];
  const state: { mode: 'down' | 'refusing' | 'up' } = { mode: 'down' };
  const provider: PayoutProvider = {
    name: 'flaky',
    accepting: true,
    submit(payout) {
      calls.push(payout.payoutId);
      if (state.mode === 'down') return Promise.reject(new Error('connect ECONNREFUSED payouts.internal.example:443'));
      if (state.mode === 'refusing')
        return Promise.reject(new PayoutRefusal('flaky refused: HTTP 400, code account_closed'));
      return Promise.resolve({ reference: `tr_${payout.payoutId.slice(3, 13)}` });
    },
  };
  return { provider, calls, state };
}

test('finance resubmits a payout the provider never accepted, under the same payout id, once; a decided payout is refused', async (t) => {
  const flaky = flakyProvider();
  const server = await testServer(t, { payoutProvider: flaky.provider });
  const { listingId } = await listedProduct(server);
  await sale(server, listingId, 'pay-1');
  const run = await server.request('POST', '/payouts/runs', { as: 'lead', body: {} });
  t.is(run.status, 200, run.text);
  const payouts = run.body.payouts as { partyId: string; payoutId: string; submitted: boolean; refusal: string }[];
  t.deepEqual(
    payouts.map((payout) => [payout.submitted, payout.refusal]),
    [
      [false, 'flaky could not be asked (the log has no more)'],
      [false, 'flaky could not be asked (the log has no more)'],
    ],
    'an error that is not a PayoutRefusal keeps its words (a host name) out of the answer',
  );
  t.false(
    (run.body.events as { type: string }[]).some((event) => event.type === 'payout.submitted'),
    'nothing accepted, nothing recorded as accepted',
  );
  const publisherPayout = payouts.find((payout) => payout.partyId === 'publisher-1')!.payoutId;
  const artistPayout = payouts.find((payout) => payout.partyId === 'artist-7')!.payoutId;
  const listed = await server.request('GET', '/payouts', { as: 'auditor' });
  t.deepEqual(
    listed.body.items.map((payout: { submittedAt: string | null }) => payout.submittedAt),
    [null, null],
  );

  const path = `/payouts/${publisherPayout}/resubmit`;
  await unchanged(t, server, 403, 'FORBIDDEN_ROLE', () => server.request('POST', path, { as: 'publisher' }));
  await unchanged(t, server, 403, 'FORBIDDEN_ROLE', () => server.request('POST', path, { as: 'auditor' }));
  await unchanged(t, server, 404, 'PAYOUT_NOT_FOUND', () =>
    server.request('POST', '/payouts/po-unknown/resubmit', { as: 'lead' }),
  );
  await unchanged(t, server, 400, 'INVALID_INPUT', () =>
    server.request('POST', path, { as: 'lead', body: { amountMinor: 5 } }),
  );
  await unchanged(t, server, 503, 'PAYOUT_PROVIDER_UNAVAILABLE', () => server.request('POST', path, { as: 'lead' }));
  flaky.state.mode = 'refusing';
  const refusal = await server.request('POST', path, { as: 'lead' });
  t.is(refusal.status, 503);
  t.like(refusal.body.error.details, { refusal: 'flaky refused: HTTP 400, code account_closed' }, 'its reason, shown');
  t.false(refusal.text.includes('payouts.internal'));

  flaky.state.mode = 'up';
  const resubmitted = await server.request('POST', path, { as: 'lead' });
  t.is(resubmitted.status, 200, resubmitted.text);
  t.deepEqual(
    resubmitted.body.events.map((event: { type: string }) => event.type),
    ['payout.submitted'],
  );
  t.like(resubmitted.body.payouts[0], { payoutId: publisherPayout, partyId: 'publisher-1', amountMinor: 1440 });
  t.deepEqual(
    flaky.calls.filter((id) => id === publisherPayout),
    [publisherPayout, publisherPayout, publisherPayout, publisherPayout],
    'the run, the two refused resubmissions and this one: always the same payout id, the provider’s idempotency key',
  );
  const callsBefore = flaky.calls.length;
  const again = await server.request('POST', path, { as: 'operator' });
  t.is(again.status, 200, again.text);
  t.deepEqual(again.body.seqs, [], 'accepted already: nothing appended');
  t.is(flaky.calls.length, callsBefore, 'and the provider is not asked again');
  const after = await server.request('GET', `/payouts?partyId=publisher-1`, { as: 'lead' });
  t.is(typeof after.body.items[0].submittedAt, 'string');
  t.is(after.body.items[0].providerReference, `tr_${publisherPayout.slice(3, 13)}`, 'what the provider made, kept');

  const fail = signed({
    eventId: 'pevt-9',
    payoutId: artistPayout,
    status: 'failed',
    amountMinor: 360,
    currency: 'EUR',
    failureReason: 'account closed',
  });
  t.is((await server.request('POST', '/webhooks/payouts', { raw: fail.raw, headers: fail.headers })).status, 200);
  const callsBeforeRefusal = flaky.calls.length;
  await unchanged(t, server, 409, 'PAYOUT_ALREADY_DECIDED', () =>
    server.request('POST', `/payouts/${artistPayout}/resubmit`, { as: 'lead' }),
  );
  t.is(flaky.calls.length, callsBeforeRefusal, 'a failed payout is not sent again');

  const settle = signed({
    eventId: 'pevt-10',
    payoutId: publisherPayout,
    status: 'settled',
    amountMinor: 1440,
    currency: 'EUR',
  });
  t.is((await server.request('POST', '/webhooks/payouts', { raw: settle.raw, headers: settle.headers })).status, 200);
  await unchanged(t, server, 409, 'PAYOUT_ALREADY_DECIDED', () => server.request('POST', path, { as: 'lead' }));

  // The CLI runs the same command (the embedded default provider, sandbox).
  const env = { DATABASE_URL: server.test.location, CHAINBOOK_DATA_DIR: server.services.config.dataDir };
  const refused = await runCli(['payouts', 'resubmit', publisherPayout], { env });
  t.is(refused.code, 1, refused.stdout + refused.stderr);
  t.regex(refused.stderr, /PAYOUT_ALREADY_DECIDED/);
});

test('finance holds an order with a reason: a payout run leaves what it put in the payables until it is released', async (t) => {
  const server = await testServer(t);
  const { listingId } = await listedProduct(server);
  const held = await sale(server, listingId, 'pay-1');
  await sale(server, listingId, 'pay-2');
  const hold = `/orders/${held}/hold`;
  const reason = { reason: 'the provider disputes the payment' };
  await unchanged(t, server, 403, 'FORBIDDEN_ROLE', () =>
    server.request('POST', hold, { as: 'publisher', body: reason }),
  );
  await unchanged(t, server, 403, 'FORBIDDEN_ROLE', () => server.request('POST', hold, { as: 'buyer', body: reason }));
  await unchanged(t, server, 400, 'INVALID_INPUT', () => server.request('POST', hold, { as: 'lead', body: {} }));
  await unchanged(t, server, 404, 'ORDER_NOT_FOUND', () =>
    server.request('POST', '/orders/no-such-order/hold', { as: 'lead', body: reason }),
  );
  await unchanged(t, server, 409, 'ORDER_NOT_HELD', () =>
    server.request('POST', `/orders/${held}/release`, { as: 'lead', body: { reason: 'cleared' } }),
  );
  const placed = await server.request('POST', hold, { as: 'lead', body: reason });
  t.is(placed.status, 200, placed.text);
  t.deepEqual(
    placed.body.events.map((event: { type: string; stream: string }) => [event.type, event.stream]),
    [['hold.placed', `hold-${held}`]],
  );
  const holds = await server.request('GET', '/payout-holds?status=held', { as: 'auditor' });
  t.is(holds.status, 200, holds.text);
  t.like(holds.body, { items: [{ orderId: held, status: 'held', reason: reason.reason, placedBy: 'lead-1' }] });
  t.is((await server.request('GET', '/payout-holds', { as: 'publisher' })).status, 403);
  await unchanged(t, server, 409, 'ORDER_ALREADY_HELD', () =>
    server.request('POST', hold, { as: 'operator', body: reason }),
  );

  const amounts = (run: { body: { payouts: { partyId: string; amountMinor: number }[] } }) =>
    Object.fromEntries(run.body.payouts.map((payout) => [payout.partyId, payout.amountMinor]));
  const first = await server.request('POST', '/payouts/runs', { as: 'lead', body: {} });
  t.is(first.status, 200, first.text);
  t.deepEqual(amounts(first), { 'publisher-1': 1440, 'artist-7': 360 }, 'the other sale only');
  const statement = await server.request('GET', '/parties/publisher-1/statement', { as: 'lead' });
  t.like(statement.body.lines[0], { sellerPayableMinor: 1440, inTransitMinor: 1440 }, 'the held share stays payable');
  const idle = await server.request('POST', '/payouts/runs', { as: 'lead', body: {} });
  t.deepEqual(idle.body.payouts, [], 'held, it is not paid by the next run either');

  const released = await server.request('POST', `/orders/${held}/release`, {
    as: 'operator',
    body: { reason: 'the provider confirmed the payment' },
  });
  t.is(released.status, 200, released.text);
  t.deepEqual(
    released.body.events.map((event: { type: string }) => event.type),
    ['hold.released'],
  );
  const after = await server.request('GET', '/payout-holds', { as: 'lead' });
  t.like(after.body.items[0], {
    orderId: held,
    status: 'released',
    releasedBy: 'operator-1',
    releasedReason: 'the provider confirmed the payment',
  });
  t.deepEqual((await server.request('GET', '/payout-holds?status=held', { as: 'lead' })).body.items, []);
  const second = await server.request('POST', '/payouts/runs', { as: 'lead', body: {} });
  t.deepEqual(amounts(second), { 'publisher-1': 1440, 'artist-7': 360 }, 'released: the held sale is paid');
  const trial = await server.request('GET', '/ledger/trial-balance', { as: 'auditor' });
  t.is(trial.body.lines[0].totalMinor, 0);
});
