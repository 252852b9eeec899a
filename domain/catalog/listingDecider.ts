/**
 * A listing offers an approved manifest for sale. It can only be published
 * for a manifest the kernel approved; its publisher (or an operator) changes
 * its price or delists it.
 */
import { hasRole, requireRole, type Actor, type Role } from '../actor.ts';
import { COMMAND_ROLES, LISTING_ADMIN_ROLES } from '../authorization.ts';
import type { Decider } from '../decider.ts';
import { assert, assertNever, CodedError } from '../errors.ts';
import { requireText } from '../ids.ts';
import type { ManifestState } from '../manifests/manifestDecider.ts';
import { requireAmount } from '../money.ts';
import type { ListingEvent, ListingPublished } from './listingEvents.ts';

export type ListingCommand =
  | {
      type: 'PublishListing';
      actor: Actor;
      listingId: string;
      manifest: ManifestState;
      priceMinor?: number | undefined;
      /** The listing's text, already screened by the handler. */
      description?: string | undefined;
    }
  | { type: 'ChangeListingPrice'; actor: Actor; priceMinor: number }
  | { type: 'DelistListing'; actor: Actor; reason: string };

export type ListingState = { status: 'absent' } | { status: 'active' | 'delisted'; listing: ListingPublished };

function requireOwner(actor: Actor, roles: readonly Role[], publisherId: string): void {
  requireRole(actor, roles, 'managing a listing');
  if (hasRole(actor, LISTING_ADMIN_ROLES)) return;
  if (actor.id !== publisherId)
    throw new CodedError('LISTING_NOT_OWNER', `${actor.id} is not the publisher ${publisherId}`, { publisherId });
}

function publish(command: Extract<ListingCommand, { type: 'PublishListing' }>, state: ListingState): ListingEvent[] {
  const { actor, listingId, manifest } = command;
  if (state.status !== 'absent')
    throw new CodedError('LISTING_EXISTS', `listing ${listingId} was already published`, { listingId });
  if (manifest.status === 'absent') throw new CodedError('MANIFEST_NOT_FOUND', 'no such manifest');
  requireOwner(actor, COMMAND_ROLES.PublishListing, manifest.manifest.publisherId);
  if (manifest.status !== 'approved') {
    throw new CodedError(
      'MANIFEST_NOT_APPROVED',
      `manifest ${manifest.manifest.manifestId} is ${manifest.status}, not approved by the kernel`,
      {
        manifestId: manifest.manifest.manifestId,
        status: manifest.status,
      },
    );
  }
  const priceMinor = command.priceMinor ?? manifest.manifest.priceMinor;
  requireAmount(priceMinor, 'INVALID_PRICE', 'priceMinor');
  const { manifestId, publisherId, currency, royaltySplits } = manifest.manifest;
  const data: ListingPublished = {
    listingId,
    manifestId,
    publisherId,
    priceMinor,
    currency,
    manifestSignatureId: manifest.manifestSignatureId,
    royaltySplits,
  };
  if (command.description !== undefined) {
    requireText(command.description, 'INVALID_DESCRIPTION', 'description');
    data.description = command.description;
  }
  return [{ type: 'listing.published', data }];
}

function active(state: ListingState, actor: Actor, roles: readonly Role[]): ListingPublished {
  if (state.status === 'absent') throw new CodedError('LISTING_NOT_FOUND', 'no such listing');
  requireOwner(actor, roles, state.listing.publisherId);
  if (state.status !== 'active')
    throw new CodedError('LISTING_NOT_ACTIVE', `listing ${state.listing.listingId} is ${state.status}`, {
      status: state.status,
    });
  return state.listing;
}

export const listingDecider: Decider<ListingCommand, ListingEvent, ListingState> = {
  initialState: { status: 'absent' },
  decide(command, state) {
    switch (command.type) {
      case 'PublishListing':
        return publish(command, state);
      case 'ChangeListingPrice': {
        const listing = active(state, command.actor, COMMAND_ROLES.ChangeListingPrice);
        requireAmount(command.priceMinor, 'INVALID_PRICE', 'priceMinor');
        if (command.priceMinor === listing.priceMinor) {
          throw new CodedError(
            'LISTING_PRICE_UNCHANGED',
            `listing ${listing.listingId} already costs ${listing.priceMinor}`,
            { priceMinor: listing.priceMinor },
          );
        }
        const data = {
          listingId: listing.listingId,
          priceMinor: command.priceMinor,
          previousPriceMinor: listing.priceMinor,
          currency: listing.currency,
        };
        return [{ type: 'listing.price_changed', data }];
      }
      case 'DelistListing': {
        const listing = active(state, command.actor, COMMAND_ROLES.DelistListing);
        requireText(command.reason, 'INVALID_REASON', 'reason');
        return [
          {
            type: 'listing.delisted',
            data: { listingId: listing.listingId, delistedBy: command.actor.id, reason: command.reason },
          },
        ];
      }
      default:
        return assertNever(command, 'listing command');
    }
  },
  evolve(state, event) {
    if (event.type === 'listing.published') return { status: 'active', listing: event.data };
    assert(state.status !== 'absent', `${event.type} follows listing.published`);
    switch (event.type) {
      case 'listing.price_changed':
        return { ...state, listing: { ...state.listing, priceMinor: event.data.priceMinor } };
      case 'listing.delisted':
        return { ...state, status: 'delisted' };
      default:
        return assertNever(event, 'listing event');
    }
  },
};
