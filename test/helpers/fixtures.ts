/** Domain objects for tests: a manifest, its approval, a listing, an order. */
import type { Actor } from '../../domain/actor.ts';
import type { ListingPublished } from '../../domain/catalog/listingEvents.ts';
import type { ManifestDocument, ManifestEvent } from '../../domain/manifests/manifestEvents.ts';
import type { OrderCreated } from '../../domain/orders/orderEvents.ts';
import { PLATFORM_FEE_BASIS_POINTS } from '../../domain/orders/orderPostings.ts';
import { demoArtifactFields, type Product } from '../../commands/demo/marketplaceFlow.ts';

export const publisher: Actor = { id: 'publisher-1', role: 'Publisher' };
export const otherPublisher: Actor = { id: 'publisher-2', role: 'Publisher' };
export const operator: Actor = { id: 'operator-1', role: 'Operator' };
export const superAdmin: Actor = { id: 'admin-1', role: 'SuperAdmin' };
export const buyer: Actor = { id: 'buyer-1', role: 'Buyer' };
export const otherBuyer: Actor = { id: 'buyer-2', role: 'Buyer' };
export const paymentService: Actor = { id: 'payments', role: 'Service' };
export const auditor: Actor = { id: 'auditor-1', role: 'Auditor' };

export const DELIVERY_KEY =
  '-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VuAyEA4Vboh5YUMzhbkay2VG1haFFxFz7SPFZesz7A2xttgVw=\n-----END PUBLIC KEY-----\n';

export function manifestDocument(overrides: Partial<ManifestDocument> = {}): ManifestDocument {
  return {
    manifestId: 'm-1',
    publisherId: publisher.id,
    name: 'Terrain generator',
    version: '1.2.0',
    artifactSha256: 'a'.repeat(64),
    sizeBytes: 1_048_576,
    priceMinor: 1999,
    currency: 'EUR',
    royaltySplits: [
      { partyId: publisher.id, basisPoints: 8000 },
      { partyId: 'artist-7', basisPoints: 2000 },
    ],
    ...overrides,
  };
}

/** What a publisher submits for listing (commands/demo/marketplaceFlow.ts listProduct): EUR 19.99, 80/20 with an artist unless `royaltySplits` says otherwise. */
export function productFor(owner: Actor, royaltySplits?: Product['royaltySplits']): Product {
  return {
    name: 'Terrain generator',
    version: '1.0.0',
    priceMinor: 1999,
    currency: 'EUR',
    ...demoArtifactFields(4096),
    royaltySplits: royaltySplits ?? [
      { partyId: owner.id, basisPoints: 8000 },
      { partyId: 'artist-7', basisPoints: 2000 },
    ],
  };
}

export const SIGNATURE = { kid: 'kernel-test', alg: 'ed25519', value: 'c2lnbmF0dXJl' };

/** The publisher's upload of the manifest's artifact, as the decider records it. */
export function artifactStored(manifest = manifestDocument()): ManifestEvent {
  return {
    type: 'manifest.artifact_stored',
    data: {
      manifestId: manifest.manifestId,
      artifactSha256: manifest.artifactSha256,
      sizeBytes: manifest.sizeBytes,
      objectKey: `artifacts/${manifest.manifestId}/upload-1`,
      storedBy: manifest.publisherId,
    },
  };
}

export function manifestApproved(manifest = manifestDocument()): ManifestEvent[] {
  return [
    { type: 'manifest.submitted', data: manifest },
    artifactStored(manifest),
    {
      type: 'manifest.approved',
      data: {
        manifestId: manifest.manifestId,
        manifestSha256: 'b'.repeat(64),
        manifestSignatureId: 'msig-1',
        approvedBy: operator.id,
        signature: SIGNATURE,
      },
    },
  ];
}

export function listingPublished(overrides: Partial<ListingPublished> = {}): ListingPublished {
  const manifest = manifestDocument();
  return {
    listingId: 'l-1',
    manifestId: manifest.manifestId,
    publisherId: manifest.publisherId,
    priceMinor: manifest.priceMinor,
    currency: manifest.currency,
    manifestSignatureId: 'msig-1',
    royaltySplits: manifest.royaltySplits,
    ...overrides,
  };
}

export function orderCreated(overrides: Partial<OrderCreated> = {}): OrderCreated {
  const listing = listingPublished();
  return {
    orderId: 'o-1',
    buyerId: buyer.id,
    listingId: listing.listingId,
    manifestId: listing.manifestId,
    sellerId: listing.publisherId,
    priceMinor: listing.priceMinor,
    currency: listing.currency,
    royaltySplits: listing.royaltySplits,
    platformFeeBasisPoints: PLATFORM_FEE_BASIS_POINTS,
    manifestSignatureId: listing.manifestSignatureId,
    deliveryPublicKey: DELIVERY_KEY,
    ...overrides,
  };
}
