/**
 * Input that used to answer 500 or to be changed silently before being
 * signed (issue 13, items 6, 7 and 10): each is refused with 400 (or its own
 * status) in the error format, and leaves the chain head and the projections
 * as they were, on both engines.
 */
import { connect } from 'node:net';
import test, { type ExecutionContext } from 'ava';
import { deliveryKey } from '../../../../commands/demo/marketplaceFlow.ts';
import { ENGINES } from '../../../helpers/databases.ts';
import { webhookSignature } from '../../../../infra/entrypoints/http/routes/webhooks.ts';
import {
  listedProduct,
  PRODUCT,
  testServer,
  WEBHOOK_SECRET,
  type HttpResponse,
  type TestServer,
} from '../../../helpers/http.ts';

function refusedInErrorFormat(t: ExecutionContext, response: HttpResponse, status: number, what: string): void {
  t.is(response.status, status, `${what}: ${response.text}`);
  t.is(typeof response.body?.error?.code, 'string', `${what}: error format`);
  t.false(/\n\s+at /.test(response.text), `${what}: no stack trace`);
}

async function orderOf(server: TestServer, listingId: string): Promise<string> {
  const created = await server.request('POST', '/orders', {
    as: 'buyer',
    body: { listingId, deliveryPublicKey: deliveryKey() },
  });
  if (created.status !== 200) throw new Error(created.text);
  return created.body.orderId as string;
}

function json(text: string): { raw: string; headers: Record<string, string> } {
  return { raw: text, headers: { 'content-type': 'application/json' } };
}

for (const engine of ENGINES) {
  test(`${engine}: NUL and lone surrogates in any string of a body, a path or a query are 400, nothing appended`, async (t) => {
    const server = await testServer(t, { engine });
    const { listingId, manifestId } = await listedProduct(server);
    const orderId = await orderOf(server, listingId);
    const before = await server.snapshot();
    const product = JSON.stringify(PRODUCT);
    const cases: [string, () => Promise<HttpResponse>][] = [
      [
        'lone surrogate in a manifest name',
        () => server.request('POST', '/manifests', { as: 'publisher', ...json(product.replace('Terrain', '\\ud800')) }),
      ],
      [
        'NUL in a manifest name',
        () =>
          server.request('POST', '/manifests', { as: 'publisher', ...json(product.replace('Terrain', 'a\\u0000b')) }),
      ],
      [
        'NUL in a rejection reason',
        () =>
          server.request('POST', `/manifests/${manifestId}/reject`, {
            as: 'operator',
            ...json('{"reason":"no\\u0000"}'),
          }),
      ],
      [
        'NUL in a cancellation reason',
        () => server.request('POST', `/orders/${orderId}/cancel`, { as: 'buyer', ...json('{"reason":"\\u0000"}') }),
      ],
      [
        'lone surrogate in a cancellation reason',
        () => server.request('POST', `/orders/${orderId}/cancel`, { as: 'buyer', ...json('{"reason":"\\udfff"}') }),
      ],
      [
        'NUL in a payment failureReason',
        () =>
          server.request('POST', `/orders/${orderId}/payments`, {
            as: 'service',
            ...json(
              '{"providerPaymentId":"p-1","amountMinor":1999,"currency":"EUR","outcome":"failed","failureReason":"card\\u0000"}',
            ),
          }),
      ],
      ['an undecodable path parameter', () => server.request('GET', '/orders/%ud800', { as: 'buyer' })],
      ['a lone surrogate in a path parameter', () => server.request('GET', '/orders/%ED%A0%80', { as: 'buyer' })],
      ['NUL in a path parameter', () => server.request('GET', '/orders/a%00b', { as: 'buyer' })],
      ['NUL in a query', () => server.request('GET', '/ledger/accounts?account=%00', { as: 'auditor' })],
      ['NUL in a query key', () => server.request('GET', '/catalog?status%00=active', { as: 'auditor' })],
    ];
    for (const [what, send] of cases) refusedInErrorFormat(t, await send(), 400, what);
    t.deepEqual(await server.snapshot(), before);
  });
}

test('input that JSON.parse would change before it is signed is refused with 400, nothing appended', async (t) => {
  const server = await testServer(t);
  const { listingId } = await listedProduct(server);
  const orderId = await orderOf(server, listingId);
  const before = await server.snapshot();
  const payment = (amount: string, extra = '') =>
    `{"providerPaymentId":"p-1","amountMinor":${amount},"currency":"EUR","outcome":"succeeded"${extra}}`;
  const cases: [string, string | Buffer][] = [
    ['a repeated key', `{"amountMinor":1,${payment('1999').slice(1)}`],
    ['an integer written with a fraction', payment('1999.0000000000001')],
    ['an integer written with an exponent', payment('1.999e3')],
    [
      'invalid UTF-8',
      Buffer.concat([
        Buffer.from(payment('1999', ',"failureReason":"').slice(0, -1)),
        Buffer.from([0xc3, 0x28, 0x22, 0x7d]),
      ]),
    ],
  ];
  for (const [what, raw] of cases) {
    const response = await server.request('POST', `/orders/${orderId}/payments`, {
      as: 'service',
      raw,
      headers: { 'content-type': 'application/json' },
    });
    refusedInErrorFormat(t, response, 400, what);
    t.is(response.body.error.code, 'INVALID_JSON', what);
  }
  const latin1 = await server.request('POST', `/orders/${orderId}/payments`, {
    as: 'service',
    raw: payment('1999'),
    headers: { 'content-type': 'application/json; charset=iso-8859-1' },
  });
  refusedInErrorFormat(t, latin1, 415, 'another charset');
  t.deepEqual(await server.snapshot(), before);
});

test('a signed payment webhook whose body JSON.parse would change is refused with 400, nothing appended', async (t) => {
  const server = await testServer(t);
  const { listingId } = await listedProduct(server);
  const orderId = await orderOf(server, listingId);
  const before = await server.snapshot();
  const fields = `"orderId":"${orderId}","currency":"EUR"`;
  for (const raw of [
    `{"eventId":"evt-1",${fields},"providerPaymentId":"p-1","amountMinor":1,"amountMinor":1999,"outcome":"succeeded"}`,
    `{"eventId":"evt-2",${fields},"providerPaymentId":"p-2","amountMinor":1999.0000000000001,"outcome":"succeeded"}`,
    `{"eventId":"evt-3",${fields},"providerPaymentId":"p-3","amountMinor":1999,"outcome":"failed","failureReason":"\\u0000"}`,
  ]) {
    const seconds = Math.floor(Date.now() / 1000);
    const response = await server.request('POST', '/webhooks/payments', {
      raw,
      headers: {
        'content-type': 'application/json',
        'payment-signature': `t=${seconds},v1=${webhookSignature(WEBHOOK_SECRET, seconds, raw)}`,
      },
    });
    refusedInErrorFormat(t, response, 400, raw);
    t.is(response.body.error.code, 'INVALID_JSON');
  }
  t.deepEqual(await server.snapshot(), before);
});

test('another buyer cancelling an order is told what an unknown id is told: 404, the same body', async (t) => {
  const server = await testServer(t);
  const { listingId } = await listedProduct(server);
  const orderId = await orderOf(server, listingId);
  const before = await server.snapshot();
  const theirs = await server.request('POST', `/orders/${orderId}/cancel`, {
    as: 'otherBuyer',
    body: { reason: 'mine now' },
  });
  const unknown = await server.request('POST', '/orders/no-such-order/cancel', {
    as: 'otherBuyer',
    body: { reason: 'mine now' },
  });
  refusedInErrorFormat(t, theirs, 404, 'another buyer');
  t.deepEqual(theirs.body, unknown.body);
  t.deepEqual(await server.snapshot(), before);
});

test('a wrong method on a known path is 405 with Allow; an unknown path stays 404', async (t) => {
  const server = await testServer(t);
  const deleted = await server.request('DELETE', '/orders/o-1', { as: 'buyer' });
  refusedInErrorFormat(t, deleted, 405, 'DELETE on a query');
  t.is(deleted.headers.get('allow'), 'GET, HEAD');
  const got = await server.request('GET', '/orders/o-1/cancel', { as: 'buyer' });
  refusedInErrorFormat(t, got, 405, 'GET on a command');
  t.is(got.headers.get('allow'), 'POST');
  const both = await server.request('PUT', '/orders', { as: 'buyer' });
  t.is(both.headers.get('allow'), 'POST, GET, HEAD');
  refusedInErrorFormat(t, await server.request('GET', '/no/such/route', { as: 'buyer' }), 404, 'unknown path');
});

/** fetch cannot send a 100 KB header to a server that closes early; a socket can. */
function rawRequest(url: string, request: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.end(request));
    let answer = '';
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString('utf8')));
    socket.on('error', reject);
    socket.on('close', () => resolve(answer));
  });
}

test('headers over the limit (a 100 KB Authorization) get 431 in the error format', async (t) => {
  const server = await testServer(t);
  const answer = await rawRequest(
    server.url,
    `GET /chain/head HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${'a'.repeat(100_000)}\r\n\r\n`,
  );
  t.regex(answer, /^HTTP\/1\.1 431 /);
  const body = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as { error: { code: string } };
  t.is(body.error.code, 'HEADERS_TOO_LARGE');
  const garbage = await rawRequest(server.url, 'NOT HTTP AT ALL\r\n\r\n');
  t.regex(garbage, /^HTTP\/1\.1 400 /);
  t.regex(garbage, /"code":"INVALID_HEADER"/);
});
