import test, { type ExecutionContext } from 'ava';
import { deliveryKey } from '../../../../commands/demo/marketplaceFlow.ts';
import { databaseReader } from '../../../../infra/adapters/sql/databaseReader.ts';
import { webhookSignature } from '../../../../infra/entrypoints/http/routes/webhooks.ts';
import { inProcessChecker } from '../../../../verifier/inProcessChecker.ts';
import { verify } from '../../../../verifier/verify.ts';
import { runCli } from '../../../helpers/cli.ts';
import { ENGINES } from '../../../helpers/databases.ts';
import {
  listedProduct,
  testServer,
  WEBHOOK_SECRET,
  type HttpResponse,
  type TestServer,
} from '../../../helpers/http.ts';

const KEY = deliveryKey();

function signedWebhook(
  event: Record<string, unknown>,
  nowMs = Date.now(),
): { raw: string; headers: Record<string, string> } {
  const raw = JSON.stringify(event);
  const t = Math.floor(nowMs / 1000);
  return {
    raw,
    headers: {
      'content-type': 'application/json',
      'payment-signature': `t=${t},v1=${webhookSignature(WEBHOOK_SECRET, t, raw)}`,
    },
  };
}

function ok(t: ExecutionContext, response: HttpResponse, what: string): void {
  t.is(response.status, 200, `${what}: ${response.text}`);
}

async function checkout(server: TestServer, listingId: string, as: 'buyer' | 'otherBuyer' = 'buyer'): Promise<string> {
  const created = await server.request('POST', '/orders', { as, body: { listingId, deliveryPublicKey: KEY } });
  if (created.status !== 200) throw new Error(created.text);
  return created.body.orderId as string;
}

for (const engine of ENGINES) {
  test(`${engine}: a manifest answers its product version and its stream version under distinct names, and catalog rows carry name and version`, async (t) => {
    const server = await testServer(t, { engine });
    const { manifestId, listingId } = await listedProduct(server);
    const manifest = await server.request('GET', `/manifests/${manifestId}`, { as: 'buyer' });
    ok(t, manifest, 'manifest');
    t.like(manifest.body, { name: 'Terrain generator', productVersion: '1.0.0', version: 3 });
    t.is(manifest.headers.get('etag'), '"3"');
    const catalog = await server.request('GET', '/catalog', { as: 'buyer' });
    t.like(catalog.body.items[0], { listingId, name: 'Terrain generator', productVersion: '1.0.0' });
    const listing = await server.request('GET', `/listings/${listingId}`, { as: 'buyer' });
    t.like(listing.body, { name: 'Terrain generator', productVersion: '1.0.0', version: 1 });
  });

  test(`${engine}: the whole checkout flow over HTTP, then audit-verify passes`, async (t) => {
    const server = await testServer(t, { engine });
    const { listingId } = await listedProduct(server);
    const catalog = await server.request('GET', '/catalog?publisherId=publisher-1', { as: 'buyer' });
    ok(t, catalog, 'catalog');
    t.deepEqual(
      catalog.body.items.map((item: { listingId: string }) => item.listingId),
      [listingId],
    );
    const orderId = await checkout(server, listingId);
    const webhook = signedWebhook({
      eventId: 'evt-1',
      orderId,
      providerPaymentId: 'pay-1',
      amountMinor: 1999,
      currency: 'EUR',
      outcome: 'succeeded',
    });
    const paid = await server.request('POST', '/webhooks/payments', { raw: webhook.raw, headers: webhook.headers });
    ok(t, paid, 'webhook');
    t.is(paid.body.seqs.length, 2, 'order.paid and its ledger post');
    const finalized = await server.request('POST', `/orders/${orderId}/finalize`, {
      as: 'service',
      headers: { 'if-match': `"${paid.body.versions[`order-${orderId}`]}"` },
    });
    ok(t, finalized, 'finalize');
    const order = await server.request('GET', `/orders/${orderId}`, { as: 'buyer' });
    t.like(order.body, { status: 'finalized', deliveryState: 'deliverable', providerPaymentId: 'pay-1', version: 3 });
    t.is(order.headers.get('etag'), '"3"');
    const trial = await server.request('GET', '/ledger/trial-balance', { as: 'auditor' });
    t.deepEqual(trial.body.lines, [{ currency: 'EUR', debitMinor: 3998, creditMinor: 3998, totalMinor: 0 }]);
    const journal = await server.request('GET', '/ledger/journal?limit=1', { as: 'auditor' });
    t.is(journal.body.items.length, 1);
    const rest = await server.request('GET', `/ledger/journal?after=${journal.body.next as string}`, { as: 'auditor' });
    t.deepEqual(
      rest.body.items.map((item: { transactionId: string }) => item.transactionId),
      [`finalize-${orderId}`],
    );
    const head = await server.request('GET', '/chain/head', { as: 'auditor' });
    const records = await server.request('GET', `/chain/records?from=1&limit=200`, { as: 'auditor' });
    t.is(records.body.records.length, head.body.seq);
    const last = await server.request('GET', `/chain/records/${head.body.seq as number}`, { as: 'auditor' });
    t.is(last.body.hash, head.body.hash);
    const digests = await server.request('GET', '/projections/digests', { as: 'auditor' });
    t.is(digests.body.foldedSeq, head.body.seq);
    const report = await verify(databaseReader(server.app.runtime.db), inProcessChecker(server.app.runtime.registry), {
      chains: ['main'],
    });
    t.true(report.ok, JSON.stringify(report.finding));
    if (engine === 'postgres') {
      const cli = await runCli(['audit-verify', '-d', server.test.location, '-s', server.services.config.signersPath]);
      t.is(cli.code, 0, cli.stderr + cli.stdout);
    }
  });
}

test('every rejected request answers its code and status and leaves the chain head and projections unchanged', async (t) => {
  const server = await testServer(t, { env: { HTTP_MAX_BODY_BYTES: '4096' } });
  const { listingId, manifestId } = await listedProduct(server);
  const orderId = await checkout(server, listingId);
  const first = await server.request('POST', '/ledger/transactions', {
    as: 'operator',
    headers: { 'idempotency-key': 'adjust-1' },
    body: {
      reason: 'opening',
      entries: [
        { account: 'asset:bank', direction: 'debit', amountMinor: 500, currency: 'EUR' },
        { account: 'equity:capital', direction: 'credit', amountMinor: 500, currency: 'EUR' },
      ],
    },
  });
  ok(t, first, 'ledger post');
  const webhook = signedWebhook({
    eventId: 'evt-9',
    orderId,
    providerPaymentId: 'pay-9',
    amountMinor: 1999,
    currency: 'EUR',
    outcome: 'succeeded',
  });
  const cases: [number, string, () => Promise<HttpResponse>][] = [
    [
      400,
      'INVALID_INPUT',
      () => server.request('POST', '/orders', { as: 'buyer', body: { listingId, deliveryPublicKey: 'not a key' } }),
    ],
    [400, 'INVALID_INPUT', () => server.request('POST', '/manifests', { as: 'publisher', body: { name: 'x' } })],
    [
      400,
      'INVALID_JSON',
      () =>
        server.request('POST', '/orders', {
          as: 'buyer',
          raw: '{"listingId": ',
          headers: { 'content-type': 'application/json' },
        }),
    ],
    [
      400,
      'INVALID_HEADER',
      () =>
        server.request('POST', `/listings/${listingId}/price`, {
          as: 'publisher',
          body: { priceMinor: 2500 },
          headers: { 'if-match': 'yesterday' },
        }),
    ],
    [400, 'INVALID_INPUT', () => server.request('GET', '/catalog?limit=100000', { as: 'buyer' })],
    [401, 'UNAUTHENTICATED', () => server.request('POST', '/orders', { body: { listingId, deliveryPublicKey: KEY } })],
    [
      401,
      'UNAUTHENTICATED',
      () =>
        server.request('POST', '/orders', {
          body: { listingId, deliveryPublicKey: KEY },
          headers: { authorization: 'Bearer cb_not-a-token' },
        }),
    ],
    [
      401,
      'WEBHOOK_SIGNATURE_INVALID',
      () =>
        server.request('POST', '/webhooks/payments', {
          raw: webhook.raw,
          headers: {
            ...webhook.headers,
            'payment-signature': `t=${Math.floor(Date.now() / 1000)},v1=${'0'.repeat(64)}`,
          },
        }),
    ],
    [
      401,
      'WEBHOOK_SIGNATURE_INVALID',
      () =>
        server.request('POST', '/webhooks/payments', {
          raw: webhook.raw.replace('1999', '1'),
          headers: webhook.headers,
        }),
    ],
    [
      401,
      'WEBHOOK_SIGNATURE_INVALID',
      () => {
        const stale = signedWebhook({ eventId: 'evt-9' }, Date.now() - 3_600_000);
        return server.request('POST', '/webhooks/payments', stale);
      },
    ],
    [403, 'FORBIDDEN_ROLE', () => server.request('POST', `/orders/${orderId}/finalize`, { as: 'auditor' })],
    [403, 'FORBIDDEN_ROLE', () => server.request('POST', '/ledger/proofs', { as: 'auditor', body: {} })],
    [403, 'FORBIDDEN_ROLE', () => server.request('GET', '/ledger/journal', { as: 'buyer' })],
    [
      403,
      'LISTING_NOT_OWNER',
      () =>
        server.request('POST', `/listings/${listingId}/delist`, { as: 'otherPublisher', body: { reason: 'mine now' } }),
    ],
    [404, 'NOT_FOUND', () => server.request('POST', '/orders/x/teleport', { as: 'buyer', body: {} })],
    [404, 'ORDER_NOT_FOUND', () => server.request('POST', '/orders/no-such-order/finalize', { as: 'service' })],
    [404, 'ORDER_NOT_FOUND', () => server.request('GET', `/orders/${orderId}`, { as: 'otherBuyer' })],
    [404, 'LISTING_NOT_FOUND', () => server.request('GET', '/listings/nope', { as: 'buyer' })],
    [404, 'RECORD_NOT_FOUND', () => server.request('GET', '/chain/records/999999', { as: 'auditor' })],
    [
      409,
      'STREAM_VERSION_CONFLICT',
      () =>
        server.request('POST', `/listings/${listingId}/price`, {
          as: 'publisher',
          body: { priceMinor: 2500 },
          headers: { 'if-match': '"7"' },
        }),
    ],
    [409, 'ORDER_NOT_PAID', () => server.request('POST', `/orders/${orderId}/finalize`, { as: 'service' })],
    [409, 'MANIFEST_NOT_PENDING', () => server.request('POST', `/manifests/${manifestId}/approve`, { as: 'operator' })],
    [
      413,
      'BODY_TOO_LARGE',
      () => server.request('POST', '/manifests', { as: 'publisher', body: { name: 'x'.repeat(10_000) } }),
    ],
    [
      415,
      'UNSUPPORTED_MEDIA_TYPE',
      () =>
        server.request('POST', '/orders', {
          as: 'buyer',
          raw: `listingId=${listingId}`,
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
        }),
    ],
    [
      422,
      'IDEMPOTENCY_KEY_REUSED',
      () =>
        server.request('POST', '/ledger/transactions', {
          as: 'operator',
          headers: { 'idempotency-key': 'adjust-1' },
          body: {
            reason: 'other',
            entries: [
              { account: 'asset:bank', direction: 'debit', amountMinor: 7, currency: 'EUR' },
              { account: 'equity:capital', direction: 'credit', amountMinor: 7, currency: 'EUR' },
            ],
          },
        }),
    ],
    [
      422,
      'LEDGER_UNBALANCED',
      () =>
        server.request('POST', '/ledger/transactions', {
          as: 'operator',
          body: {
            reason: 'typo',
            entries: [
              { account: 'asset:bank', direction: 'debit', amountMinor: 10, currency: 'EUR' },
              { account: 'equity:capital', direction: 'credit', amountMinor: 9, currency: 'EUR' },
            ],
          },
        }),
    ],
    [
      422,
      'PAYMENT_AMOUNT_MISMATCH',
      () =>
        server.request('POST', `/orders/${orderId}/payments`, {
          as: 'service',
          body: { providerPaymentId: 'pay-x', amountMinor: 5, currency: 'EUR', outcome: 'succeeded' },
        }),
    ],
  ];
  for (const [status, code, run] of cases) {
    const before = await server.snapshot();
    const response = await run();
    t.is(response.status, status, `${code}: ${response.text}`);
    t.is(response.body?.error?.code, code, response.text);
    t.is(typeof response.body.error.message, 'string');
    t.false(/\bat .*\.ts:\d+/.test(response.text), `${code}: a stack trace reached the client`);
    t.deepEqual(await server.snapshot(), before, `${code}: the chain head or a projection changed`);
  }
});

test('an Idempotency-Key retry answers the first response and appends nothing; 20 parallel requests with one key append once', async (t) => {
  const server = await testServer(t);
  const { listingId } = await listedProduct(server);
  const body = { listingId, deliveryPublicKey: KEY };
  const responses = await Promise.all(
    Array.from({ length: 20 }, () =>
      server.request('POST', '/orders', { as: 'buyer', body, headers: { 'idempotency-key': 'checkout-42' } }),
    ),
  );
  for (const response of responses) ok(t, response, 'parallel checkout');
  const orderIds = new Set(responses.map((response) => response.body.orderId as string));
  t.is(orderIds.size, 1);
  const appended = new Set(responses.flatMap((response) => response.body.seqs as number[]));
  t.is(appended.size, 1, 'one order.created appended');
  const before = await server.snapshot();
  const retry = await server.request('POST', '/orders', {
    as: 'buyer',
    body,
    headers: { 'idempotency-key': 'checkout-42' },
  });
  t.is(retry.headers.get('idempotent-replayed'), 'true');
  t.deepEqual(retry.body.seqs, [...appended]);
  t.deepEqual(await server.snapshot(), before);
  // Another buyer's key of the same name is another request.
  const other = await server.request('POST', '/orders', {
    as: 'otherBuyer',
    body,
    headers: { 'idempotency-key': 'checkout-42' },
  });
  ok(t, other, 'other buyer');
  t.not(other.body.orderId, [...orderIds][0]);
  const orders = await server.request('GET', '/orders', { as: 'buyer' });
  t.deepEqual(
    orders.body.items.map((order: { orderId: string }) => order.orderId),
    [...orderIds],
  );
});

test('a redelivered payment event is answered again; the same event id with another body is refused', async (t) => {
  const server = await testServer(t);
  const { listingId } = await listedProduct(server);
  const orderId = await checkout(server, listingId);
  const event = {
    eventId: 'evt-7',
    orderId,
    providerPaymentId: 'pay-7',
    amountMinor: 1999,
    currency: 'EUR',
    outcome: 'succeeded',
  };
  const first = await server.request('POST', '/webhooks/payments', signedWebhook(event));
  ok(t, first, 'first delivery');
  const before = await server.snapshot();
  const again = await server.request('POST', '/webhooks/payments', signedWebhook(event));
  ok(t, again, 'redelivery');
  t.deepEqual(again.body.seqs, first.body.seqs);
  const changed = await server.request(
    'POST',
    '/webhooks/payments',
    signedWebhook({ ...event, providerPaymentId: 'pay-8' }),
  );
  t.is(changed.status, 422, changed.text);
  t.is(changed.body.error.code, 'IDEMPOTENCY_KEY_REUSED');
  t.deepEqual(await server.snapshot(), before);
});

test('an Auditor reads everything and writes nothing; a Buyer sees only its own orders', async (t) => {
  const server = await testServer(t);
  const { listingId } = await listedProduct(server);
  const mine = await checkout(server, listingId, 'buyer');
  const theirs = await checkout(server, listingId, 'otherBuyer');
  for (const path of [
    '/catalog',
    `/orders/${mine}`,
    '/orders',
    '/ledger/accounts',
    '/ledger/journal',
    '/ledger/trial-balance',
    '/upgrades',
    '/chain/head',
    '/chain/records',
    '/projections/digests',
    '/kernel/security/status',
  ]) {
    const response = await server.request('GET', path, { as: 'auditor' });
    t.is(response.status, 200, `${path}: ${response.text}`);
  }
  const all = await server.request('GET', '/orders', { as: 'auditor' });
  t.is(all.body.items.length, 2);
  const own = await server.request('GET', `/orders?buyerId=buyer-2`, { as: 'buyer' });
  t.deepEqual(
    own.body.items.map((order: { orderId: string }) => order.orderId),
    [mine],
  );
  t.is((await server.request('GET', `/orders/${theirs}`, { as: 'buyer' })).status, 404);
  const sales = await server.request('GET', '/orders', { as: 'publisher' });
  t.is(sales.body.items.length, 2, 'a publisher sees its sales');
});

test('the public catalog is the shop window: active listings only, without royalty splits; a delisted listing stays readable with a token', async (t) => {
  const server = await testServer(t);
  const { listingId } = await listedProduct(server);
  const shown = await server.request('GET', '/catalog');
  ok(t, shown, 'public catalog');
  t.regex(String(shown.headers.get('cache-control')), /^public, max-age=\d+$/);
  t.deepEqual(
    shown.body.items.map((item: { listingId: string }) => item.listingId),
    [listingId],
  );
  t.false('royaltySplits' in shown.body.items[0], 'who is paid what share is not for anonymous readers or a CDN');

  ok(
    t,
    await server.request('POST', `/listings/${listingId}/delist`, { as: 'operator', body: { reason: 'takedown' } }),
    'delist',
  );
  for (const path of ['/catalog', `/catalog?publisherId=publisher-1`, '/catalog?status=active']) {
    const answer = await server.request('GET', path);
    ok(t, answer, path);
    t.deepEqual(answer.body.items, [], `${path}: a delisted listing is out of the shop window`);
  }
  const asked = await server.request('GET', '/catalog?status=delisted');
  t.is(asked.status, 400);
  t.is(asked.headers.get('cache-control'), 'no-store');
  const listing = await server.request('GET', `/listings/${listingId}`, { as: 'buyer' });
  ok(t, listing, 'listing');
  t.like(listing.body, { listingId, status: 'delisted' });
  t.true(Array.isArray(listing.body.royaltySplits));
});
