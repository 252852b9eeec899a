/**
 * The delivery store's lifetime (docs/DOMAIN.md, "Delivery"): ciphertexts
 * older than DELIVERY_OBJECT_LIFETIME are deleted. Nothing is recorded: the
 * chain keeps what was delivered, and a buyer who asks after the lifetime
 * gets the artifact prepared again, under a new delivery id and proof. A
 * lifetime shorter than a link's would cut links short, so the wiring keeps
 * it at least DELIVERY_LINK_TTL.
 */
import type { ListableBlobStore } from '../blobStore.ts';

/** Where ciphertexts are in the delivery store: `deliveries/<orderId>/<deliveryId>`. */
export const DELIVERY_OBJECT_PREFIX = 'deliveries/';

/** Deletes the ciphertexts last written before `nowMs − lifetimeSeconds`; returns their keys. */
export async function sweepDeliveries(
  store: ListableBlobStore,
  lifetimeSeconds: number,
  nowMs: number,
): Promise<string[]> {
  const expired = await store.olderThan(DELIVERY_OBJECT_PREFIX, nowMs - lifetimeSeconds * 1000);
  for (const key of expired) await store.delete(key);
  return expired;
}
