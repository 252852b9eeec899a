/** Events of a marketplace listing (stream `listing-<listingId>`). */
import { z } from 'zod';
import { royaltySplitSchema } from '../manifests/manifestEvents.ts';
import { amountSchema, currencySchema, idSchema, textSchema } from '../schemas.ts';

export const listingPublishedSchema = z.strictObject({
  listingId: idSchema,
  manifestId: idSchema,
  publisherId: idSchema,
  priceMinor: amountSchema,
  currency: currencySchema,
  /** The kernel's approval this listing rests on. */
  manifestSignatureId: idSchema,
  /** Copied from the approved manifest: what checkout uses to split proceeds. */
  royaltySplits: z.array(royaltySplitSchema).min(1),
  /** The listing's text for buyers, as inspected (docs/DOMAIN.md, "Content inspection"); absent on listings without one. */
  description: textSchema.optional(),
});
export const listingPriceChangedSchema = z.strictObject({
  listingId: idSchema,
  priceMinor: amountSchema,
  previousPriceMinor: amountSchema,
  currency: currencySchema,
});
export const listingDelistedSchema = z.strictObject({ listingId: idSchema, delistedBy: idSchema, reason: textSchema });

export type ListingPublished = z.infer<typeof listingPublishedSchema>;

export type ListingEvent =
  | { type: 'listing.published'; data: ListingPublished }
  | { type: 'listing.price_changed'; data: z.infer<typeof listingPriceChangedSchema> }
  | { type: 'listing.delisted'; data: z.infer<typeof listingDelistedSchema> };

export const listingEventSchemas = {
  'listing.published': listingPublishedSchema,
  'listing.price_changed': listingPriceChangedSchema,
  'listing.delisted': listingDelistedSchema,
} as const;
