/** Catalog and order reads. A Buyer sees only its own orders, a Publisher those it sells; others with read roles see all. */
import { z } from 'zod';
import { READ_ROLES } from '../../../../domain/authorization.ts';
import { streams } from '../../../../domain/streams.ts';
import { findListing, findManifest, listListings } from '../../../../projections/catalog/catalogQueries.ts';
import {
  DELIVERY_STATES,
  findOrderFor,
  listOrdersFor,
  ORDER_STATUSES,
} from '../../../../projections/orders/orderQueries.ts';
import { streamVersion } from '../../../adapters/sql/eventLog.ts';
import { defineRoute, QUERY_ERRORS, type RouteSpec } from '../route.ts';
import { idParameter, notFound, pageQuery, pageSchema } from './queryCommon.ts';

const royaltySplits = z.array(z.object({ partyId: z.string(), basisPoints: z.number().int() }));

export const listingSchema = z.object({
  listingId: z.string(),
  manifestId: z.string(),
  publisherId: z.string(),
  name: z.string().describe("the product's name, from its manifest"),
  productVersion: z.string().describe("the product's version, from its manifest (not a stream version)"),
  priceMinor: z.number().int(),
  currency: z.string(),
  status: z.enum(['active', 'delisted']),
  manifestSignatureId: z.string(),
  royaltySplits,
  publishedSeq: z.number().int(),
  updatedSeq: z.number().int(),
});
/**
 * A listing as the public catalog shows it: without its royalty splits (who
 * is paid what share: internal actor ids, not for anonymous readers or a
 * CDN); GET /listings/{id} with a token has them.
 */
export const publicListingSchema = listingSchema.omit({ royaltySplits: true }).extend({ status: z.literal('active') });

export const versioned = {
  version: z.number().int().describe('the stream version: send it as If-Match to change this entity'),
};

const manifestSchema = z.object({
  manifestId: z.string(),
  publisherId: z.string(),
  name: z.string(),
  productVersion: z.string().describe("the manifest document's `version`, as the publisher submitted it"),
  artifactSha256: z.string(),
  sizeBytes: z.number().int(),
  priceMinor: z.number().int(),
  currency: z.string(),
  royaltySplits,
  status: z.enum(['submitted', 'approved', 'rejected']),
  artifactObjectKey: z.string().nullable().describe('where the uploaded artifact is stored; null until it is uploaded'),
  manifestSha256: z.string().nullable(),
  manifestSignatureId: z.string().nullable(),
  decidedBy: z.string().nullable(),
  reason: z.string().nullable(),
  submittedSeq: z.number().int(),
  updatedSeq: z.number().int(),
});

export const orderSchema = z.object({
  orderId: z.string(),
  buyerId: z.string(),
  listingId: z.string(),
  manifestId: z.string(),
  sellerId: z.string(),
  priceMinor: z.number().int(),
  currency: z.string(),
  status: z.enum(ORDER_STATUSES),
  deliveryState: z.enum(DELIVERY_STATES),
  deliveryPublicKey: z.string().nullable().describe("the buyer's key (Option A); null for a managed key"),
  deliveryKeyMode: z.enum(['buyer-key', 'managed']),
  manifestSignatureId: z.string(),
  providerPaymentId: z.string().nullable(),
  failedPayments: z.number().int(),
  ledgerTransactionIds: z.array(z.string()),
  reason: z.string().nullable(),
  createdSeq: z.number().int(),
  updatedSeq: z.number().int(),
});

function versionHeaders(version: number): Record<string, string> {
  return { ETag: `"${version}"` };
}

export const marketplaceRoutes: readonly RouteSpec[] = [
  defineRoute({
    method: 'get',
    path: '/catalog',
    operationId: 'listCatalog',
    summary: 'Active listings, paged, optionally of one publisher (public: the shop window)',
    tag: 'marketplace',
    routeClass: 'query',
    // The shop window: readable without credentials (kubelet-like callers, a CDN) and cacheable for CATALOG_CACHE_SECONDS.
    // So it shows what is for sale and nothing else: no delisted listing, no royalty splits.
    roles: 'public',
    publicCache: true,
    query: z.object({
      ...pageQuery,
      publisherId: idParameter.optional(),
      status: z
        .literal('active')
        .optional()
        .describe('only active listings are public; a delisted one is read with GET /listings/{listingId}'),
    }),
    response: pageSchema(publicListingSchema),
    errors: [400, 429],
    async handle({ query }, { db }) {
      const page = await listListings(db, { ...query, status: 'active' });
      return { body: { ...page, items: page.items.map(({ royaltySplits: _private, ...shown }) => shown) } };
    },
  }),
  defineRoute({
    method: 'get',
    path: '/listings/:listingId',
    operationId: 'getListing',
    summary: 'A listing, with its stream version (ETag)',
    tag: 'marketplace',
    routeClass: 'query',
    roles: READ_ROLES.catalog,
    params: z.object({ listingId: idParameter }),
    response: listingSchema.extend(versioned),
    errors: [...QUERY_ERRORS, 404],
    async handle({ params }, { db }) {
      const listing = await findListing(db, params.listingId);
      if (!listing) throw notFound('LISTING_NOT_FOUND', 'listing');
      const version = await streamVersion(db, streams.listing(listing.listingId));
      return { body: { ...listing, version }, headers: versionHeaders(version) };
    },
  }),
  defineRoute({
    method: 'get',
    path: '/manifests/:manifestId',
    operationId: 'getManifest',
    summary: 'A manifest with its kernel decision',
    tag: 'kernel',
    routeClass: 'query',
    roles: READ_ROLES.catalog,
    params: z.object({ manifestId: idParameter }),
    response: manifestSchema.extend(versioned),
    errors: [...QUERY_ERRORS, 404],
    async handle({ params }, { db }) {
      const manifest = await findManifest(db, params.manifestId);
      if (!manifest) throw notFound('MANIFEST_NOT_FOUND', 'manifest');
      const version = await streamVersion(db, streams.manifest(manifest.manifestId));
      return { body: { ...manifest, version }, headers: versionHeaders(version) };
    },
  }),
  defineRoute({
    method: 'get',
    path: '/orders/:orderId',
    operationId: 'getOrder',
    summary: 'An order with its delivery state (a Buyer sees only its own)',
    tag: 'marketplace',
    routeClass: 'query',
    roles: READ_ROLES.orders,
    params: z.object({ orderId: idParameter }),
    response: orderSchema.extend(versioned),
    errors: [...QUERY_ERRORS, 404],
    async handle({ params, actor }, { db }) {
      // Someone else's order is "not found", not "forbidden": its existence is not disclosed.
      const order = await findOrderFor(db, actor!, params.orderId);
      if (!order) throw notFound('ORDER_NOT_FOUND', 'order');
      const version = await streamVersion(db, streams.order(order.orderId));
      return { body: { ...order, version }, headers: versionHeaders(version) };
    },
  }),
  defineRoute({
    method: 'get',
    path: '/orders',
    operationId: 'listOrders',
    summary: "Orders, paged: a Buyer's own, a Publisher's sales, or all (filter by buyerId)",
    tag: 'marketplace',
    routeClass: 'query',
    roles: READ_ROLES.orders,
    query: z.object({ ...pageQuery, buyerId: idParameter.optional() }),
    response: pageSchema(orderSchema),
    errors: QUERY_ERRORS,
    handle: async ({ query, actor }, { db }) => ({ body: await listOrdersFor(db, actor!, query) }),
  }),
];
