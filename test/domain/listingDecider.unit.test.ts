import test from 'ava';
import { listingDecider, type ListingCommand } from '../../domain/catalog/listingDecider.ts';
import type { ListingEvent } from '../../domain/catalog/listingEvents.ts';
import { fold } from '../../domain/decider.ts';
import { manifestDecider } from '../../domain/manifests/manifestDecider.ts';
import { given } from '../helpers/given.ts';
import {
  buyer,
  listingPublished,
  manifestApproved,
  manifestDocument,
  operator,
  otherPublisher,
  publisher,
} from '../helpers/fixtures.ts';

const approvedManifest = fold(manifestDecider, manifestApproved());
const submittedManifest = fold(manifestDecider, [{ type: 'manifest.submitted', data: manifestDocument() }]);
const published: ListingEvent[] = [{ type: 'listing.published', data: listingPublished() }];
const publish = (overrides: Partial<Extract<ListingCommand, { type: 'PublishListing' }>> = {}): ListingCommand => ({
  type: 'PublishListing',
  actor: publisher,
  listingId: 'l-1',
  manifest: approvedManifest,
  ...overrides,
});

test('the publisher lists an approved manifest at its price, citing the kernel signature', (t) => {
  given(listingDecider).when(publish()).then(t, published);
  given(listingDecider)
    .when(publish({ priceMinor: 2500 }))
    .then(t, [{ type: 'listing.published', data: listingPublished({ priceMinor: 2500 }) }]);
});

test('publishing is refused for an unapproved or unknown manifest, another publisher, twice, or a bad price', (t) => {
  given(listingDecider)
    .when(publish({ manifest: submittedManifest }))
    .thenRejects(t, 'MANIFEST_NOT_APPROVED');
  given(listingDecider)
    .when(publish({ manifest: manifestDecider.initialState }))
    .thenRejects(t, 'MANIFEST_NOT_FOUND');
  given(listingDecider)
    .when(publish({ actor: otherPublisher }))
    .thenRejects(t, 'LISTING_NOT_OWNER');
  given(listingDecider)
    .when(publish({ actor: buyer }))
    .thenRejects(t, 'FORBIDDEN_ROLE');
  given(listingDecider, published).when(publish()).thenRejects(t, 'LISTING_EXISTS');
  given(listingDecider)
    .when(publish({ priceMinor: -5 }))
    .thenRejects(t, 'INVALID_PRICE');
});

test('the price changes, recording the previous one; not to the same price, not on a delisted listing', (t) => {
  given(listingDecider, published)
    .when({ type: 'ChangeListingPrice', actor: publisher, priceMinor: 2499 })
    .then(t, [
      {
        type: 'listing.price_changed',
        data: { listingId: 'l-1', priceMinor: 2499, previousPriceMinor: 1999, currency: 'EUR' },
      },
    ]);
  given(listingDecider, published)
    .when({ type: 'ChangeListingPrice', actor: publisher, priceMinor: 1999 })
    .thenRejects(t, 'LISTING_PRICE_UNCHANGED');
  given(listingDecider, published)
    .when({ type: 'ChangeListingPrice', actor: otherPublisher, priceMinor: 1 })
    .thenRejects(t, 'LISTING_NOT_OWNER');
  given(listingDecider)
    .when({ type: 'ChangeListingPrice', actor: publisher, priceMinor: 1 })
    .thenRejects(t, 'LISTING_NOT_FOUND');
  const delisted: ListingEvent[] = [
    ...published,
    { type: 'listing.delisted', data: { listingId: 'l-1', delistedBy: operator.id, reason: 'takedown' } },
  ];
  given(listingDecider, delisted)
    .when({ type: 'ChangeListingPrice', actor: publisher, priceMinor: 1 })
    .thenRejects(t, 'LISTING_NOT_ACTIVE');
  given(listingDecider, delisted)
    .when({ type: 'DelistListing', actor: publisher, reason: 'again' })
    .thenRejects(t, 'LISTING_NOT_ACTIVE');
});

test('an operator delists any listing with a reason', (t) => {
  given(listingDecider, published)
    .when({ type: 'DelistListing', actor: operator, reason: 'takedown' })
    .then(t, [{ type: 'listing.delisted', data: { listingId: 'l-1', delistedBy: operator.id, reason: 'takedown' } }]);
  given(listingDecider, published)
    .when({ type: 'DelistListing', actor: operator, reason: '' })
    .thenRejects(t, 'INVALID_REASON');
});
