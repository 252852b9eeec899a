import test from 'ava';
import fc from 'fast-check';
import { deliveryKey } from '../../../../commands/demo/marketplaceFlow.ts';
import { ROUTES } from '../../../../infra/entrypoints/http/server.ts';
import { ACTORS, listedProduct, testServer, type ActorName } from '../../../helpers/http.ts';

/** Statuses a malformed request may get: never 500, never a success. */
const REFUSALS = [400, 401, 403, 404, 409, 413, 415, 422];
const UNSAFE_NUMBERS = [
  '9007199254740993',
  '-1',
  '0',
  '1e400',
  '-0',
  '1.5',
  '19.99',
  '1e2',
  '100000000001',
  'NaN',
  'Infinity',
  '0x10',
  '"12"',
  'null',
  'true',
  '[]',
  '{}',
];

const commandRoutes = ROUTES.filter((route) => route.method === 'post' && route.routeClass === 'command');

function pathOf(template: string, ids: Record<string, string>, id: string | undefined): string {
  return template.replace(/:([A-Za-z]+)/g, (_match, name: string) => encodeURIComponent(id ?? ids[name] ?? 'x'));
}

test('fuzzed command requests (malformed JSON, wrong types, huge bodies, unicode, unsafe amounts, missing headers): no 500, nothing appended', async (t) => {
  const server = await testServer(t, {
    env: { HTTP_MAX_BODY_BYTES: '16384', RATE_LIMIT_COMMANDS_PER_MINUTE: '1000000' },
  });
  const { listingId, manifestId } = await listedProduct(server);
  const created = await server.request('POST', '/orders', {
    as: 'buyer',
    body: { listingId, deliveryPublicKey: deliveryKey() },
  });
  const ids = { listingId, manifestId, orderId: created.body.orderId as string, upgradeId: 'u-1' };
  const before = await server.snapshot();
  const field = fc.constantFrom(
    'listingId',
    'deliveryPublicKey',
    'priceMinor',
    'amountMinor',
    'entries',
    'reason',
    'currency',
    'expectedVersion',
    'name',
    'royaltySplits',
    'outcome',
    'orderId',
    '__proto__',
    'constructor',
  );
  const unicode = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 50 }),
    fc.constantFrom('\u0000', '\ud800', '\uffff', 'e\u0301', '\u202e', '😀'.repeat(300), 'Ω'.repeat(70_000)),
  );
  const rawValue = fc.oneof(
    fc.constantFrom(...UNSAFE_NUMBERS),
    unicode.map((text) => JSON.stringify(text)),
    fc.jsonValue({ maxDepth: 3 }).map((value) => JSON.stringify(value) ?? 'null'),
  );
  const objectBody = fc.dictionary(field, rawValue, { maxKeys: 6 }).map(
    (entries) =>
      `{${Object.entries(entries)
        .map(([key, value]) => `${JSON.stringify(key)}:${value}`)
        .join(',')}}`,
  );
  const body = fc.oneof(
    objectBody.map((text) => text.slice(0, 30_000)),
    fc.string({ maxLength: 40 }),
    fc.constantFrom('{', '{"a":', '[1,2', '{"amountMinor": 1e999999}', '\u0000', '', 'null', '[]', '"text"'),
    fc.constant('{"reason":"' + 'x'.repeat(20_000) + '"}'),
  );
  const request = fc.record({
    route: fc.constantFrom(...commandRoutes.map((route) => route.operationId)),
    body,
    as: fc.option(fc.constantFrom(...(Object.keys(ACTORS) as ActorName[])), { nil: undefined }),
    contentType: fc.constantFrom('application/json', 'text/plain', 'application/json; charset=latin1', undefined),
    id: fc.option(
      unicode.filter((text) => text.length > 0 && text.length < 200 && text.isWellFormed()),
      { nil: undefined },
    ),
    idempotencyKey: fc.option(
      fc.oneof(
        fc.constant('k-1'),
        fc.string({ maxLength: 300 }).filter((key) => /^[\x20-\x7e]*$/.test(key)),
      ),
      { nil: undefined },
    ),
  });
  await fc.assert(
    fc.asyncProperty(request, async ({ route: operationId, body: raw, as, contentType, id, idempotencyKey }) => {
      const route = commandRoutes.find((candidate) => candidate.operationId === operationId)!;
      // An empty body is a valid proof request (the whole chain): not malformed.
      fc.pre(!(operationId === 'issueLedgerProof' && ['', '{}'].includes(raw.trim())));
      // Nor is it for a payout run (here it finds no one owed anything and appends nothing).
      fc.pre(!(operationId === 'runPayouts' && ['', '{}'].includes(raw.trim())));
      const headers: Record<string, string> = {};
      if (contentType !== undefined) headers['content-type'] = contentType;
      if (idempotencyKey !== undefined) headers['idempotency-key'] = idempotencyKey;
      const response = await server.request('POST', pathOf(route.path, ids, id), { as, raw, headers });
      if (!REFUSALS.includes(response.status))
        throw new Error(
          `${route.operationId} answered ${response.status}: ${response.text.slice(0, 300)} to ${raw.slice(0, 200)}`,
        );
      if (typeof response.body?.error?.code !== 'string')
        throw new Error(`no error body: ${response.text.slice(0, 200)}`);
    }),
    { numRuns: 300 },
  );
  t.deepEqual(await server.snapshot(), before, 'a fuzzed request appended something');
});
