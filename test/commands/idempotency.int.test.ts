/**
 * One idempotency mechanism for every caller: a library call with an
 * idempotency key gets what an HTTP request with one gets (test/httpIdempotency.e2e.test.ts),
 * from the chain's idempotency record.
 */
import { createHash } from 'node:crypto';
import test from 'ava';
import { ChainError } from '../../chain/errors.ts';
import { chainKeyOf, requestHashOf } from '../../commands/idempotency.ts';
import { changeListingPrice } from '../../commands/catalog/listingCommands.ts';
import { issueLedgerProof } from '../../commands/ledger/issueLedgerProof.ts';
import { postLedgerTransaction } from '../../commands/ledger/postLedgerTransaction.ts';
import { approveManifest } from '../../commands/manifests/approveManifest.ts';
import { submitManifest } from '../../commands/manifests/submitManifest.ts';
import { checkout } from '../../commands/orders/checkout.ts';
import {
  deliveryKey,
  demoArtifact,
  FINANCE_LEAD,
  KERNEL_OPERATOR,
  listProduct,
  uploadDemoArtifact,
} from '../../commands/demo/marketplaceFlow.ts';
import { contextFor } from '../../commands/context.ts';
import { ENGINES } from '../helpers/databases.ts';
import { testApp, type TestApp } from '../helpers/app.ts';
import { productFor } from '../helpers/fixtures.ts';

const publisher = { id: 'publisher-1', role: 'Publisher' };
const otherPublisher = { id: 'publisher-2', role: 'Publisher' };
const buyer = { id: 'buyer-1', role: 'Buyer' };
const product = productFor(publisher, [{ partyId: publisher.id, basisPoints: 10_000 }]);
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

async function keyRows(app: TestApp): Promise<{ key: string; request_hash: string; response: string | null }[]> {
  return (
    await app.test.db.query<{ key: string; request_hash: string; response: string | null }>(
      'SELECT key, request_hash, response FROM idempotency_keys ORDER BY key',
    )
  ).rows;
}

for (const engine of ENGINES) {
  test(`${engine}: a library retry with the same key and another input is IDEMPOTENCY_KEY_REUSED from the chain's check, found before deciding or by the planner`, async (t) => {
    const app = await testApp(t, engine);
    const context = contextFor(FINANCE_LEAD, { idempotencyKey: 'adjust-1' });
    const first = await postLedgerTransaction(app.deps, adjustment(500), context);
    const before = await app.snapshot();
    const again = await postLedgerTransaction(app.deps, adjustment(500), context);
    t.true(again.replayed);
    t.is(again.transactionId, first.transactionId);
    t.deepEqual(again.seqs, first.seqs);
    // The key's record is found before deciding: the decision (a conflicting transaction) is never made.
    const found = await t.throwsAsync(postLedgerTransaction(app.deps, adjustment(7), context), {
      instanceOf: ChainError,
    });
    t.is(found.code, 'IDEMPOTENCY_KEY_REUSED');
    t.deepEqual(found.details, { idempotencyKey: chainKeyOf(FINANCE_LEAD.id, 'adjust-1') });
    t.deepEqual(await app.snapshot(), before);
    // Two requests under one new key at once, each with its own transaction: the planner takes one.
    const racing = await Promise.allSettled([
      postLedgerTransaction(
        app.deps,
        { ...adjustment(11), transactionId: 'race-a' },
        contextFor(FINANCE_LEAD, { idempotencyKey: 'adjust-2' }),
      ),
      postLedgerTransaction(
        app.deps,
        { ...adjustment(12), transactionId: 'race-b' },
        contextFor(FINANCE_LEAD, { idempotencyKey: 'adjust-2' }),
      ),
    ]);
    t.is(racing.filter((outcome) => outcome.status === 'fulfilled').length, 1);
    const refused = racing.find((outcome) => outcome.status === 'rejected');
    t.true(refused?.reason instanceof ChainError);
    t.is((refused?.reason as ChainError).code, 'IDEMPOTENCY_KEY_REUSED');
    t.is((await app.snapshot()).head.seq, before.head.seq + 1);
  });

  test(`${engine}: a key used by one actor never answers another actor's request`, async (t) => {
    const app = await testApp(t, engine);
    const mine = await submitManifest(app.deps, product, contextFor(publisher, { idempotencyKey: 'submit-1' }));
    // Another publisher, the same key, another manifest: its own request, not IDEMPOTENCY_KEY_REUSED.
    const theirs = await submitManifest(
      app.deps,
      { ...product, name: 'Other' },
      contextFor(otherPublisher, { idempotencyKey: 'submit-1' }),
    );
    t.false(theirs.replayed);
    t.not(theirs.manifestId, mine.manifestId);
    // The same key and the same input: still its own request.
    const same = await submitManifest(
      app.deps,
      product,
      contextFor({ id: 'publisher-3', role: 'Publisher' }, { idempotencyKey: 'submit-1' }),
    );
    t.false(same.replayed);
    t.not(same.manifestId, mine.manifestId);
    t.notDeepEqual(same.seqs, mine.seqs);
    // Each retry answers its own caller's first result.
    const theirsAgain = await submitManifest(
      app.deps,
      { ...product, name: 'Other' },
      contextFor(otherPublisher, { idempotencyKey: 'submit-1' }),
    );
    t.like(theirsAgain, { replayed: true, manifestId: theirs.manifestId, seqs: theirs.seqs });
    t.deepEqual(
      (await keyRows(app)).map((row) => row.key).sort(),
      [publisher.id, otherPublisher.id, 'publisher-3'].map((id) => chainKeyOf(id, 'submit-1')).sort(),
    );
  });

  test(`${engine}: a retry gets the whole first result again, signature ids and signed proofs included, and appends nothing`, async (t) => {
    const app = await testApp(t, engine);
    const { manifestId } = await submitManifest(app.deps, product, contextFor(publisher));
    await uploadDemoArtifact(app.deps, publisher, manifestId, demoArtifact(product.sizeBytes));
    const approved = await approveManifest(
      app.deps,
      { manifestId },
      contextFor(KERNEL_OPERATOR, { idempotencyKey: 'approve-1' }),
    );
    t.truthy(approved.manifestSignatureId);
    const proof = await issueLedgerProof(app.deps, {}, contextFor(FINANCE_LEAD, { idempotencyKey: 'proof-1' }));
    t.truthy(proof.proof);
    const before = await app.snapshot();
    const approvedAgain = await approveManifest(
      app.deps,
      { manifestId },
      contextFor(KERNEL_OPERATOR, { idempotencyKey: 'approve-1' }),
    );
    const proofAgain = await issueLedgerProof(
      app.deps,
      {},
      { ...contextFor(FINANCE_LEAD, { idempotencyKey: 'proof-1' }), now: new Date(Date.now() + 60_000).toISOString() },
    );
    t.deepEqual(approvedAgain, { ...approved, replayed: true });
    t.deepEqual(proofAgain, { ...proof, replayed: true });
    t.deepEqual(await app.snapshot(), before);
  });

  test(`${engine}: a retry is answered from the key's record even when deciding again would append`, async (t) => {
    const app = await testApp(t, engine);
    const listed = await listProduct(app.deps, publisher, product);
    const context = contextFor(publisher, { idempotencyKey: 'price-1' });
    const first = await changeListingPrice(app.deps, { listingId: listed.listingId, priceMinor: 2500 }, context);
    await changeListingPrice(app.deps, { listingId: listed.listingId, priceMinor: 3000 }, contextFor(publisher));
    const before = await app.snapshot();
    const again = await changeListingPrice(app.deps, { listingId: listed.listingId, priceMinor: 2500 }, context);
    t.deepEqual(again, { ...first, replayed: true });
    t.deepEqual(await app.snapshot(), before);
  });
}

test('the chain records a command key scoped by its actor, the request as operation and input, and the rest of the first result; no other idempotency table', async (t) => {
  const app = await testApp(t, 'postgres');
  const listed = await listProduct(app.deps, publisher, product);
  const input = { listingId: listed.listingId, deliveryPublicKey: KEY };
  const created = await checkout(app.deps, input, contextFor(buyer, { idempotencyKey: 'checkout-1' }));
  const scoped = `http-${createHash('sha256').update(`${buyer.id}\ncheckout-1`).digest('hex')}`;
  t.is(chainKeyOf(buyer.id, 'checkout-1'), scoped);
  const [record] = await app.deps.store.readChain(app.deps.chain, {
    fromSeq: created.seqs[0]!,
    toSeq: created.seqs[0]!,
  });
  t.is(record!.record.meta.idempotencyKey, scoped);
  const row = (await keyRows(app)).find((candidate) => candidate.key === scoped);
  t.is(row?.request_hash, requestHashOf({ operation: 'checkout', input }));
  t.deepEqual(JSON.parse(row!.response!), { versions: created.versions });
  const { rows } = await app.test.db.query<{ table: string | null }>(
    "SELECT to_regclass('http_idempotency')::text AS table",
  );
  t.is(rows[0]!.table, null);
});
