/**
 * Delivery's checks at the command level (commands/delivery/deliverOrder.ts):
 * the kernel's signature is checked again against the signer registry before
 * anything is encrypted, and a manifest whose signature no longer verifies
 * (its signer left out of the registry, or the key in the registry is
 * another) is recorded as a failed delivery, with nothing stored.
 */
import { generateKeyPairSync } from 'node:crypto';
import test from 'ava';
import { parseRegistry, registryJson } from '../../chain/registry.ts';
import { contextFor } from '../../commands/context.ts';
import { requestDelivery, DeliveryFailed } from '../../commands/delivery/deliverOrder.ts';
import { deliveryKey, listProduct, purchase } from '../../commands/demo/marketplaceFlow.ts';
import { documentSignatureProblem } from '../../verifier/line.ts';
import { ENGINES } from '../helpers/databases.ts';
import { testApp } from '../helpers/app.ts';
import { productFor } from '../helpers/fixtures.ts';

const publisher = { id: 'publisher-1', role: 'Publisher' };
const buyer = { id: 'buyer-1', role: 'Buyer' };

for (const engine of ENGINES) {
  test(`${engine}: a kernel signature that no longer verifies under the registry is not delivered: delivery.failed, nothing stored, and a good registry delivers`, async (t) => {
    const app = await testApp(t, engine);
    const delivery = app.deps.delivery!;
    const listing = await listProduct(app.deps, publisher, productFor(publisher));
    const { orderId } = await purchase(app.deps, buyer, listing, 'pay-1', deliveryKey());
    const genuine = app.runtime.registry;
    const kid = app.runtime.signer.kid;
    const entries = registryJson(genuine).signers;
    const otherKey = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }) as string;
    const registries = {
      'the signer left out': parseRegistry({ signers: entries.filter((entry) => entry.signer_kid !== kid) }),
      'another key under the kid': parseRegistry({
        signers: entries.map((entry) => (entry.signer_kid === kid ? { ...entry, public_key_pem: otherKey } : entry)),
      }),
    };
    for (const [what, registry] of Object.entries(registries)) {
      app.deps.delivery = {
        ...delivery,
        kernelSignatureProblem: (signature, tsMs, message) =>
          documentSignatureProblem(registry, signature, tsMs, message),
      };
      const before = await app.runtime.store.head('main');
      const failed = await requestDelivery(app.deps, { orderId }, contextFor(buyer)).catch((error: unknown) => error);
      t.true(failed instanceof DeliveryFailed, what);
      t.is((failed as DeliveryFailed).failure, 'manifest_signature_invalid', what);
      const after = await app.runtime.store.head('main');
      t.is(after.seq, before.seq + 1, `${what}: only delivery.failed is appended`);
      const [record] = await app.runtime.store.readChain('main', { fromSeq: after.seq, toSeq: after.seq, limit: 1 });
      t.is(record!.record.type, 'delivery.failed');
      t.deepEqual(await app.delivery.store.keys(`deliveries/${orderId}`), [], `${what}: nothing stored`);
    }
    app.deps.delivery = delivery;
    const delivered = await requestDelivery(app.deps, { orderId }, contextFor(buyer));
    t.truthy(delivered.link);
    t.is(delivered.keyProvenance?.type, 'buyer-key');
  });
}

test('postgres: two requests for one order at once record one delivery and leave one object; a retry under the same key is the first answer', async (t) => {
  const app = await testApp(t, 'postgres');
  const listing = await listProduct(app.deps, publisher, productFor(publisher));
  const { orderId } = await purchase(app.deps, buyer, listing, 'pay-1', deliveryKey());
  const [first, second] = await Promise.all([
    requestDelivery(app.deps, { orderId }, contextFor(buyer)),
    requestDelivery(app.deps, { orderId }, contextFor(buyer)),
  ]);
  t.is(first.deliveryId, second.deliveryId, 'both answer the one delivery recorded');
  const records = await app.runtime.store.readStream(`delivery-${orderId}`);
  t.deepEqual(
    records.map(({ record }) => record.type),
    ['delivery.prepared', 'delivery.proof_issued', 'delivery.link_issued', 'delivery.link_issued'],
  );
  t.deepEqual(
    await app.delivery.store.keys(`deliveries/${orderId}/`),
    [first.objectKey!],
    'the loser deleted its object',
  );

  const keyed = contextFor(buyer, { idempotencyKey: 'download-1' });
  const once = await requestDelivery(app.deps, { orderId }, keyed);
  const head = await app.runtime.store.head('main');
  const again = await requestDelivery(app.deps, { orderId }, contextFor(buyer, { idempotencyKey: 'download-1' }));
  t.true(again.replayed);
  t.deepEqual(again.link, once.link, 'the same link');
  t.deepEqual(await app.runtime.store.head('main'), head, 'nothing appended, nothing encrypted');
});
