/**
 * Idempotency-Key over HTTP is the command layer's idempotency: the key goes
 * down as given with the caller, a retry is answered from the chain's record
 * byte for byte, and a library call under the same caller and key meets the
 * same record (test/idempotency.int.test.ts for the library side).
 */
import { createHash } from 'node:crypto';
import test from 'ava';
import { chainKeyOf } from '../../../../commands/idempotency.ts';
import { postLedgerTransaction } from '../../../../commands/ledger/postLedgerTransaction.ts';
import { ChainError } from '../../../../chain/errors.ts';
import { deliveryKey, demoArtifact } from '../../../../commands/demo/marketplaceFlow.ts';
import type { ListableBlobStore } from '../../../../commands/blobStore.ts';
import { contextFor } from '../../../../commands/context.ts';
import {
  ACTORS,
  listedProduct,
  PRODUCT,
  testServer,
  type ActorName,
  type HttpResponse,
  type TestServer,
} from '../../../helpers/http.ts';

const KEY = deliveryKey();

function adjustment(amountMinor: number) {
  return {
    reason: 'opening',
    entries: [
      { account: 'asset:bank', direction: 'debit', amountMinor, currency: 'EUR' },
      { account: 'equity:capital', direction: 'credit', amountMinor, currency: 'EUR' },
    ],
  };
}

async function twice(
  server: TestServer,
  as: ActorName,
  path: string,
  body: unknown,
  key: string,
): Promise<[HttpResponse, HttpResponse]> {
  const first = await server.request('POST', path, { as, body, headers: { 'idempotency-key': key } });
  const again = await server.request('POST', path, { as, body, headers: { 'idempotency-key': key } });
  return [first, again];
}

test('a retry gets the first body, with the ids and documents the command created and replayed: true, and appends nothing', async (t) => {
  const server = await testServer(t);
  const [submitted, submittedAgain] = await twice(server, 'publisher', '/manifests', PRODUCT, 'submit-1');
  const manifestId = submitted.body.manifestId as string;
  const upload = () =>
    server.request('POST', `/manifests/${manifestId}/artifact`, {
      as: 'publisher',
      raw: demoArtifact(PRODUCT['sizeBytes'] as number),
      headers: { 'content-type': 'application/octet-stream', 'idempotency-key': 'upload-1' },
    });
  const uploaded = await upload();
  const uploadedAgain = await upload();
  const artifacts = server.app.deps.artifacts.store as ListableBlobStore;
  t.deepEqual(await artifacts.keys('artifacts/'), [uploaded.body.objectKey], 'the retry left no second object');
  const [approved, approvedAgain] = await twice(
    server,
    'operator',
    `/manifests/${manifestId}/approve`,
    undefined,
    'approve-1',
  );
  const [listed] = await twice(server, 'publisher', '/listings', { manifestId }, 'list-1');
  const [ordered, orderedAgain] = await twice(
    server,
    'buyer',
    '/orders',
    { listingId: listed.body.listingId, deliveryPublicKey: KEY },
    'order-1',
  );
  const before = await server.snapshot();
  const [proved, provedAgain] = await twice(server, 'operator', '/ledger/proofs', {}, 'proof-1');
  t.is((await server.snapshot()).head.seq, before.head.seq + 1, 'one proof recorded');
  for (const [first, again, field] of [
    [submitted, submittedAgain, 'manifestId'],
    [uploaded, uploadedAgain, 'objectKey'],
    [approved, approvedAgain, 'manifestSignatureId'],
    [ordered, orderedAgain, 'orderId'],
    [proved, provedAgain, 'proof'],
  ] as const) {
    t.is(first.status, 200, first.text);
    t.truthy(first.body[field], `${field} in the first response`);
    t.is(first.headers.get('idempotent-replayed'), null);
    t.is(again.headers.get('idempotent-replayed'), 'true');
    t.false(first.body.replayed);
    t.true(again.body.replayed, `${field}: the retry's body says it is a replay`);
    t.deepEqual({ ...again.body, replayed: false }, first.body, `${field}: the retry's body is the first one`);
  }
});

test('parallel requests under one key append once and all get the same body', async (t) => {
  const server = await testServer(t);
  await listedProduct(server);
  const responses = await Promise.all(
    Array.from({ length: 8 }, () =>
      server.request('POST', '/ledger/proofs', { as: 'operator', body: {}, headers: { 'idempotency-key': 'proof-9' } }),
    ),
  );
  for (const response of responses) t.is(response.status, 200, response.text);
  t.is(new Set(responses.map((response) => JSON.stringify({ ...response.body, replayed: false }))).size, 1);
  t.is(responses.filter((response) => response.headers.get('idempotent-replayed') === null).length, 1);
  for (const response of responses)
    t.is(response.body.replayed, response.headers.get('idempotent-replayed') === 'true', 'body and header agree');
});

test('HTTP and a library call under the same caller and key meet one record: the same result, or IDEMPOTENCY_KEY_REUSED from the same check', async (t) => {
  const server = await testServer(t);
  const posted = await server.request('POST', '/ledger/transactions', {
    as: 'operator',
    body: adjustment(500),
    headers: { 'idempotency-key': 'adjust-1' },
  });
  t.is(posted.status, 200, posted.text);
  // What the record carries is what records carried before: the caller's key scoped by the actor.
  const scoped = `http-${createHash('sha256').update(`${ACTORS.operator.id}\nadjust-1`).digest('hex')}`;
  const [record] = await server.app.deps.store.readChain('main', {
    fromSeq: posted.body.seqs[0],
    toSeq: posted.body.seqs[0],
  });
  t.is(record!.record.meta.idempotencyKey, scoped);
  const before = await server.snapshot();
  const context = contextFor(ACTORS.operator, { idempotencyKey: 'adjust-1' });
  const library = await postLedgerTransaction(server.app.deps, adjustment(500), context);
  t.like(library, {
    replayed: true,
    seqs: posted.body.seqs,
    transactionId: posted.body.transactionId,
    versions: posted.body.versions,
  });
  const refused = await t.throwsAsync(postLedgerTransaction(server.app.deps, adjustment(7), context), {
    instanceOf: ChainError,
  });
  t.is(refused.code, 'IDEMPOTENCY_KEY_REUSED');
  const overHttp = await server.request('POST', '/ledger/transactions', {
    as: 'operator',
    body: adjustment(7),
    headers: { 'idempotency-key': 'adjust-1' },
  });
  t.is(overHttp.status, 422);
  t.deepEqual(overHttp.body.error, {
    code: refused.code,
    message: refused.message,
    details: { idempotencyKey: chainKeyOf(ACTORS.operator.id, 'adjust-1') },
  });
  t.deepEqual(await server.snapshot(), before);
});
