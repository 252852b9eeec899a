/**
 * Delivery over HTTP, the whole path (docs/DOMAIN.md, "Delivery"): a
 * publisher uploads, the kernel approves, three buyers (an RSA-3072 key, an
 * X25519 key, a managed key) check out, pay, are finalized, download within
 * the link's lifetime and decrypt to the exact bytes; the delivery proof
 * verifies with OpenSSL alone; the link is refused after its TTL; a refund
 * revokes the link and deletes the ciphertext; a missing artifact is
 * recorded as a failure and retried; every bad request appends nothing.
 */
import { createHash, createSecretKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { decryptEnvelope } from '../../../../commands/delivery/deliveryEnvelope.ts';
import { demoArtifact, demoArtifactFields } from '../../../../commands/demo/marketplaceFlow.ts';
import { webhookSignature } from '../../../../infra/entrypoints/http/routes/webhooks.ts';
import { metricsRegistry } from '../../../../infra/adapters/metrics.ts';
import { sweepDeliveries } from '../../../../commands/delivery/sweepDeliveries.ts';
import { databaseReader } from '../../../../infra/adapters/sql/databaseReader.ts';
import { verifyProof } from '../../../../verifier/verifyProof.ts';
import { startS3 } from '../../../helpers/archive.ts';
import { ENGINES } from '../../../helpers/databases.ts';
import {
  ACTORS,
  listedProduct,
  PRODUCT,
  testServer,
  WEBHOOK_SECRET,
  type ActorName,
  type TestServer,
} from '../../../helpers/http.ts';
import { tempDir } from '../../../helpers/runtime.ts';

/** Three chunks and a short fourth: the envelope's chunking is exercised at its default chunk size. */
const SIZE = 3 * 1024 * 1024 + 5;
const ARTIFACT = demoArtifact(SIZE);
const ARTIFACT_SHA256 = createHash('sha256').update(ARTIFACT).digest('hex');

async function* once(bytes: Uint8Array): AsyncIterable<Uint8Array> {
  yield bytes;
}

async function collect(chunks: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const pieces: Uint8Array[] = [];
  for await (const piece of chunks) pieces.push(piece);
  return Buffer.concat(pieces);
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function keyPair(type: 'rsa' | 'x25519'): { publicPem: string; privateKey: KeyObject } {
  const pair = type === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: 3072 }) : generateKeyPairSync('x25519');
  return { publicPem: pair.publicKey.export({ type: 'spki', format: 'pem' }) as string, privateKey: pair.privateKey };
}

async function paidAndFinalized(
  server: TestServer,
  as: ActorName,
  listingId: string,
  key: { deliveryPublicKey: string } | { deliveryKeyMode: 'managed' },
): Promise<string> {
  const created = await server.request('POST', '/orders', { as, body: { listingId, ...key } });
  if (created.status !== 200) throw new Error(`checkout: ${created.text}`);
  const orderId = created.body.orderId as string;
  const raw = JSON.stringify({
    eventId: `evt-${orderId}`,
    orderId,
    providerPaymentId: `pay-${orderId}`,
    amountMinor: PRODUCT['priceMinor'],
    currency: PRODUCT['currency'],
    outcome: 'succeeded',
  });
  const t = Math.floor(Date.now() / 1000);
  const paid = await server.request('POST', '/webhooks/payments', {
    raw,
    headers: {
      'content-type': 'application/json',
      'payment-signature': `t=${t},v1=${webhookSignature(WEBHOOK_SECRET, t, raw)}`,
    },
  });
  if (paid.status !== 200) throw new Error(`payment: ${paid.text}`);
  const finalized = await server.request('POST', `/orders/${orderId}/finalize`, { as: 'service' });
  if (finalized.status !== 200) throw new Error(`finalize: ${finalized.text}`);
  return orderId;
}

async function download(url: string): Promise<{ status: number; bytes: Buffer }> {
  const response = await fetch(url);
  return { status: response.status, bytes: Buffer.from(await response.arrayBuffer()) };
}

async function decrypted(envelope: Buffer, key: KeyObject): Promise<Buffer> {
  return collect(decryptEnvelope(once(envelope), key));
}

/** The delivery proof checked with the openssl binary alone, as docs/FORMAT.md section 13 shows. */
function opensslVerifies(server: TestServer, proof: Record<string, unknown>, tamper = false): boolean {
  const dir = tempDir('delivery-proof');
  const registry = JSON.parse(readFileSync(server.services.config.signersPath, 'utf8')) as {
    signers: { signer_kid: string; public_key_pem: string }[];
  };
  const signer = registry.signers.find((entry) => entry.signer_kid === proof['signer_kid'])!;
  writeFileSync(join(dir, 'pub.pem'), signer.public_key_pem);
  const payload = String(proof['canonical_payload']);
  writeFileSync(
    join(dir, 'payload.json'),
    tamper ? payload.replace('"kind":"delivery"', '"kind":"deliverx"') : payload,
  );
  writeFileSync(join(dir, 'sig.bin'), Buffer.from(String(proof['signature']), 'base64'));
  try {
    execFileSync(
      'openssl',
      [
        'pkeyutl',
        '-verify',
        '-pubin',
        '-inkey',
        join(dir, 'pub.pem'),
        '-rawin',
        '-in',
        join(dir, 'payload.json'),
        '-sigfile',
        join(dir, 'sig.bin'),
      ],
      { stdio: 'pipe' },
    );
    return true;
  } catch {
    return false;
  }
}

async function failuresCounted(reason: string): Promise<number> {
  const metric = await metricsRegistry.getSingleMetric('marketplace_delivery_encrypt_failures_total')!.get();
  return metric.values.find((value) => value.labels['reason'] === reason)?.value ?? 0;
}

async function unchanged(
  t: ExecutionContext,
  server: TestServer,
  status: number,
  code: string,
  step: () => Promise<{ status: number; body: { error?: { code: string } } }>,
): Promise<void> {
  const before = await server.snapshot();
  const response = await step();
  t.is(response.status, status, `${code}: ${JSON.stringify(response.body)}`);
  t.is(response.body.error?.code, code);
  t.deepEqual(await server.snapshot(), before, `${code}: nothing appended`);
}

async function wholePath(t: ExecutionContext, server: TestServer): Promise<void> {
  const product = { ...PRODUCT, ...demoArtifactFields(SIZE) };
  const { listingId } = await listedProduct(server, product, ARTIFACT);
  const rsa = keyPair('rsa');
  const x25519 = keyPair('x25519');
  const orderA = await paidAndFinalized(server, 'buyer', listingId, { deliveryPublicKey: rsa.publicPem });
  const orderB = await paidAndFinalized(server, 'otherBuyer', listingId, { deliveryPublicKey: x25519.publicPem });
  const orderC = await paidAndFinalized(server, 'thirdBuyer', listingId, { deliveryKeyMode: 'managed' });

  const links: Record<string, string> = {};
  for (const [orderId, as, keyOf] of [
    [orderA, 'buyer', async () => rsa.privateKey],
    [orderB, 'otherBuyer', async () => x25519.privateKey],
    [
      orderC,
      'thirdBuyer',
      async () => {
        const released = await server.request('GET', `/orders/${orderC}/delivery/key`, { as: 'thirdBuyer' });
        t.is(released.status, 200, released.text);
        t.is(released.body.origin, 'local');
        return createSecretKey(Buffer.from(released.body.jwk.k as string, 'base64url'));
      },
    ],
  ] as const) {
    const delivered = await server.request('POST', `/orders/${orderId}/delivery`, { as });
    t.is(delivered.status, 200, delivered.text);
    const { link, ciphertextSha256, proofId } = delivered.body;
    t.truthy(proofId);
    const got = await download(link.url as string);
    t.is(got.status, 200);
    t.is(sha256(got.bytes), ciphertextSha256, 'the ciphertext is the one recorded');
    const plaintext = await decrypted(got.bytes, await keyOf());
    t.is(plaintext.length, SIZE);
    t.is(sha256(plaintext), ARTIFACT_SHA256, 'decrypts to the exact bytes');
    const tampered = Buffer.from(got.bytes);
    tampered[tampered.length - 100]! ^= 1;
    const key = await keyOf();
    await t.throwsAsync(() => decrypted(tampered, key), { message: /decryption failed/ });
    links[orderId] = link.url as string;

    const proof = await server.request('GET', `/orders/${orderId}/delivery/proof`, { as });
    t.is(proof.status, 200, proof.text);
    t.is(proof.body.kind, 'delivery');
    t.is(proof.body.ciphertext_sha256, ciphertextSha256);
    t.is(proof.body.artifact_sha256, ARTIFACT_SHA256);
    t.true(opensslVerifies(server, proof.body), 'the delivery proof verifies with OpenSSL alone');
    t.false(opensslVerifies(server, proof.body, true), 'one changed byte fails');
    t.is((await server.request('GET', `/orders/${orderId}/delivery/proof`, { as: 'auditor' })).status, 200);
    t.is((await server.request('GET', `/ledger/proofs/${proof.body.ledger_proof_id}`, { as: 'auditor' })).status, 200);
  }
  const buyerA = await server.request('GET', `/orders/${orderA}/delivery`, { as: 'buyer' });
  t.is(buyerA.body.keyProvenance.type, 'buyer-key');
  t.is(buyerA.body.keyProvenance.keyType, 'rsa');
  t.is(buyerA.body.linksIssued, 1);

  // A fresh link: recorded, the same ciphertext, nothing encrypted again.
  const again = await server.request('POST', `/orders/${orderA}/delivery`, { as: 'buyer' });
  t.is(again.status, 200, again.text);
  t.is(again.body.deliveryId, buyerA.body.deliveryId);
  t.is((await server.request('GET', `/orders/${orderA}/delivery`, { as: 'buyer' })).body.linksIssued, 2);

  // Only the buyer: another buyer, the seller, an auditor asking for a link; another buyer's key, proof and state.
  await unchanged(t, server, 404, 'ORDER_NOT_FOUND', () =>
    server.request('POST', `/orders/${orderA}/delivery`, { as: 'otherBuyer' }),
  );
  await unchanged(t, server, 403, 'FORBIDDEN_ROLE', () =>
    server.request('POST', `/orders/${orderA}/delivery`, { as: 'publisher' }),
  );
  await unchanged(t, server, 404, 'ORDER_NOT_FOUND', () =>
    server.request('GET', `/orders/${orderC}/delivery/key`, { as: 'buyer' }),
  );
  await unchanged(t, server, 409, 'DELIVERY_KEY_NOT_MANAGED', () =>
    server.request('GET', `/orders/${orderA}/delivery/key`, { as: 'buyer' }),
  );
  await unchanged(t, server, 404, 'ORDER_NOT_FOUND', () =>
    server.request('GET', `/orders/${orderA}/delivery/proof`, { as: 'otherBuyer' }),
  );
  await unchanged(t, server, 404, 'ORDER_NOT_FOUND', () =>
    server.request('GET', `/orders/${orderA}/delivery/proof`, { as: 'publisher' }),
  );

  // A forged or altered link is refused.
  const forged = new URL(links[orderB]!);
  forged.searchParams.set('signature', Buffer.alloc(32).toString('base64url'));
  t.is((await download(forged.toString())).status, 403);
  const otherOrder = links[orderB]!.replace(orderB, orderA);
  t.is((await download(otherOrder)).status, 403);

  // After the TTL, the link is refused; a fresh one works.
  const realNow = server.services.now;
  server.services.now = () =>
    new Date(Date.now() + (server.services.config.delivery.linkTtlSeconds + 1) * 1000).toISOString();
  const expired = await fetch(links[orderB]!);
  t.is(expired.status, 410);
  t.is(((await expired.json()) as { error: { code: string } }).error.code, 'DELIVERY_LINK_EXPIRED');
  server.services.now = realNow;

  // A refund after delivery revokes the link and deletes the ciphertext; the chain keeps the records.
  const state = await server.request('GET', `/orders/${orderB}/delivery`, { as: 'otherBuyer' });
  const refunded = await server.request('POST', `/orders/${orderB}/refund`, {
    as: 'operator',
    body: { reason: 'customer complaint' },
  });
  t.is(refunded.status, 200, refunded.text);
  t.true(refunded.body.events.some((event: { type: string }) => event.type === 'delivery.revoked'));
  t.is(await server.app.delivery.store.head(state.body.objectKey as string), undefined, 'the ciphertext is gone');
  t.is((await download(links[orderB]!)).status, 410);
  t.is((await server.request('GET', `/orders/${orderB}/delivery`, { as: 'otherBuyer' })).body.status, 'revoked');
  await unchanged(t, server, 409, 'ORDER_NOT_DELIVERABLE', () =>
    server.request('POST', `/orders/${orderB}/delivery`, { as: 'otherBuyer' }),
  );
}

for (const engine of ENGINES) {
  test(`${engine}: three buyers (RSA-3072, X25519, managed key) receive, decrypt and prove; links expire; a refund revokes`, async (t) => {
    const server = await testServer(t, { engine });
    await wholePath(t, server);
  });
}

test('postgres, S3 stores: delivery links are S3 pre-signed GETs of the delivery bucket', async (t) => {
  const s3 = await startS3(t);
  const server = await testServer(t, {
    env: {
      S3_BUCKET: s3.bucket,
      DELIVERY_S3_BUCKET: s3.bucket,
      S3_ENDPOINT: s3.endpoint,
      S3_FORCE_PATH_STYLE: 'true',
      S3_ACCESS_KEY_ID: 'S3RVER',
      S3_SECRET_ACCESS_KEY: 'S3RVER',
      DELIVERY_LINK_TTL: '2h',
    },
  });
  const { listingId } = await listedProduct(server, { ...PRODUCT, ...demoArtifactFields(SIZE) }, ARTIFACT);
  const x25519 = keyPair('x25519');
  const orderId = await paidAndFinalized(server, 'buyer', listingId, { deliveryPublicKey: x25519.publicPem });
  const delivered = await server.request('POST', `/orders/${orderId}/delivery`, { as: 'buyer' });
  t.is(delivered.status, 200, delivered.text);
  const url = new URL(delivered.body.link.url as string);
  t.true(url.toString().startsWith(s3.endpoint), url.toString());
  const expiresIn = Number(url.searchParams.get('X-Amz-Expires'));
  t.true(
    expiresIn > 2 * 3600 - 60 && expiresIn <= 2 * 3600,
    `X-Amz-Expires ${expiresIn}: DELIVERY_LINK_TTL from the request`,
  );
  const got = await download(url.toString());
  t.is(got.status, 200);
  t.is(sha256(await decrypted(got.bytes, x25519.privateKey)), ARTIFACT_SHA256);
  const store = server.app.delivery.store;
  t.deepEqual(await sweepDeliveries(store, 3600, Date.now()), [], 'the bucket keeps a fresh ciphertext');
  t.deepEqual(
    await sweepDeliveries(store, 3600, Date.now() + 7200 * 1000),
    [delivered.body.objectKey],
    'and sweeps an old one',
  );
  const again = await server.request('POST', `/orders/${orderId}/delivery`, { as: 'buyer' });
  t.is(again.status, 200, again.text);
  t.not(again.body.objectKey, delivered.body.objectKey, 'prepared again');
  const refunded = await server.request('POST', `/orders/${orderId}/refund`, {
    as: 'operator',
    body: { reason: 'chargeback' },
  });
  t.is(refunded.status, 200, refunded.text);
  t.is(await server.app.delivery.store.head(again.body.objectKey as string), undefined, 'deleted from the bucket');
  t.not((await download(url.toString())).status, 200, 'the pre-signed GET finds nothing');
});

test('postgres: a missing artifact is recorded as delivery.failed and counted, the order stays finalized, and asking again retries', async (t) => {
  const server = await testServer(t);
  const { manifestId, listingId } = await listedProduct(server);
  const x25519 = keyPair('x25519');
  const orderId = await paidAndFinalized(server, 'buyer', listingId, { deliveryPublicKey: x25519.publicPem });
  const manifest = await server.request('GET', `/manifests/${manifestId}`, { as: 'buyer' });
  const objectKey = manifest.body.artifactObjectKey as string;
  const store = server.app.deps.artifacts.store;
  const bytes = await collect((await store.get(objectKey))!);
  await store.delete(objectKey);
  const counted = await failuresCounted('artifact_missing');

  const failed = await server.request('POST', `/orders/${orderId}/delivery`, { as: 'buyer' });
  t.is(failed.status, 503, failed.text);
  t.is(failed.body.error.code, 'DELIVERY_FAILED');
  t.is(failed.body.error.details.failure, 'artifact_missing');
  t.is(await failuresCounted('artifact_missing'), counted + 1);
  const state = await server.request('GET', `/orders/${orderId}/delivery`, { as: 'buyer' });
  t.is(state.body.status, 'failed');
  t.is(state.body.lastFailure.code, 'artifact_missing');
  t.is((await server.request('GET', `/orders/${orderId}`, { as: 'buyer' })).body.status, 'finalized');
  const record = await server.request('GET', `/chains/main/records/${failed.body.error.details.seq}`, {
    as: 'auditor',
  });
  if (record.status === 200) t.is(record.body.type, 'delivery.failed');
  t.deepEqual(
    (await server.app.delivery.store.keys(`deliveries/${orderId}`)).length,
    0,
    'no partial ciphertext left behind',
  );

  await store.put(objectKey, once(bytes));
  const retried = await server.request('POST', `/orders/${orderId}/delivery/prepare`, {
    as: 'operator',
  });
  t.is(retried.status, 200, retried.text);
  const delivered = await server.request('POST', `/orders/${orderId}/delivery`, { as: 'buyer' });
  t.is(delivered.status, 200, delivered.text);
  t.is(delivered.body.deliveryId, retried.body.deliveryId, 'the operator prepared it; the buyer gets a link to it');
});

test('postgres: past DELIVERY_OBJECT_LIFETIME the ciphertext is swept; the next request prepares it again under a new id and proof, and both proofs verify', async (t) => {
  const server = await testServer(t);
  const { listingId } = await listedProduct(server);
  const x25519 = keyPair('x25519');
  const orderId = await paidAndFinalized(server, 'buyer', listingId, { deliveryPublicKey: x25519.publicPem });
  const first = await server.request('POST', `/orders/${orderId}/delivery`, { as: 'buyer' });
  t.is(first.status, 200, first.text);
  const store = server.app.delivery.store;
  const lifetime = server.services.config.delivery.objectLifetimeSeconds;
  t.deepEqual(await sweepDeliveries(store, lifetime, Date.now()), [], 'a fresh ciphertext stays');
  const swept = await sweepDeliveries(store, lifetime, Date.now() + (lifetime + 60) * 1000);
  t.deepEqual(swept, [first.body.objectKey]);
  t.is((await download(first.body.link.url as string)).status, 410, 'its links answer 410');
  const second = await server.request('POST', `/orders/${orderId}/delivery`, { as: 'buyer' });
  t.is(second.status, 200, second.text);
  t.not(second.body.deliveryId, first.body.deliveryId);
  t.not(second.body.proofId, first.body.proofId);
  t.is(
    sha256(await decrypted((await download(second.body.link.url as string)).bytes, x25519.privateKey)),
    sha256(demoArtifact(PRODUCT['sizeBytes'] as number)),
  );
  const { rows } = await server.test.db.query<{ document: string }>(
    'SELECT document FROM delivery_proofs WHERE order_id = $1 ORDER BY delivery_seq',
    [orderId],
  );
  t.is(rows.length, 2);
  for (const { document } of rows) {
    const checked = await verifyProof(
      document,
      { registry: server.app.runtime.registry },
      { reader: databaseReader(server.test.db) },
    );
    t.true(checked.ok && checked.chainChecked, JSON.stringify(checked.finding));
  }
});

test('postgres: delivery is refused for an unpaid, a paid-not-finalized and a cancelled order, appending nothing', async (t) => {
  const server = await testServer(t);
  const { listingId } = await listedProduct(server);
  const x25519 = keyPair('x25519');
  const unpaid = await server.request('POST', '/orders', {
    as: 'buyer',
    body: { listingId, deliveryPublicKey: x25519.publicPem },
  });
  await unchanged(t, server, 409, 'DELIVERY_NOT_READY', () =>
    server.request('POST', `/orders/${unpaid.body.orderId}/delivery`, { as: 'buyer' }),
  );
  await unchanged(t, server, 409, 'DELIVERY_NOT_READY', () =>
    server.request('POST', `/orders/${unpaid.body.orderId}/delivery/prepare`, { as: 'operator' }),
  );
  const cancelled = await server.request('POST', `/orders/${unpaid.body.orderId}/cancel`, {
    as: 'buyer',
    body: { reason: 'changed my mind' },
  });
  t.is(cancelled.status, 200, cancelled.text);
  await unchanged(t, server, 409, 'ORDER_NOT_DELIVERABLE', () =>
    server.request('POST', `/orders/${unpaid.body.orderId}/delivery`, { as: 'buyer' }),
  );
  await unchanged(t, server, 404, 'ORDER_NOT_FOUND', () =>
    server.request('POST', `/orders/no-such-order/delivery`, { as: 'buyer' }),
  );
  await unchanged(t, server, 400, 'INVALID_INPUT', () =>
    server.request('POST', `/orders/%00bad/delivery`, { as: 'buyer' }),
  );
  t.is(ACTORS.buyer.role, 'Buyer');
});
