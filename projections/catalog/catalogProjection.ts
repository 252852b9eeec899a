/**
 * The catalog: manifests with their kernel decision and signature id, and
 * listings with their current price and the approval they rest on.
 */
import { jcs } from '../../chain/canonical.ts';
import type { ListingEvent } from '../../domain/catalog/listingEvents.ts';
import { assertNever } from '../../domain/errors.ts';
import type { ManifestEvent } from '../../domain/manifests/manifestEvents.ts';
import { foldRows, requireRow, type RowFold } from '../foldRows.ts';
import type { Projection, ProjectedRecord } from '../projection.ts';
import type { Row, TableSpec } from '../rowStore.ts';

export const MANIFESTS: TableSpec = {
  name: 'catalog_manifests',
  key: ['manifest_id'],
  columns: {
    manifest_id: 'text',
    publisher_id: 'text',
    name: 'text',
    version: 'text',
    artifact_sha256: 'text',
    size_bytes: 'int8',
    price_minor: 'int8',
    currency: 'text',
    royalty_splits: 'text',
    status: 'text',
    manifest_sha256: 'text',
    manifest_signature_id: 'text',
    decided_by: 'text',
    reason: 'text',
    submitted_seq: 'int8',
    updated_seq: 'int8',
    /** Where the publisher's upload is in the artifact store (migration 0005); null until it is stored. */
    artifact_object_key: 'text',
  },
};

export const LISTINGS: TableSpec = {
  name: 'catalog_listings',
  key: ['listing_id'],
  columns: {
    listing_id: 'text',
    manifest_id: 'text',
    publisher_id: 'text',
    price_minor: 'int8',
    currency: 'text',
    status: 'text',
    manifest_signature_id: 'text',
    royalty_splits: 'text',
    published_seq: 'int8',
    updated_seq: 'int8',
  },
};

const manifestFold: RowFold<ManifestEvent> = {
  spec: MANIFESTS,
  keyOf: (event) => ({ manifest_id: event.data.manifestId }),
  evolve(row, event, record) {
    switch (event.type) {
      case 'manifest.submitted': {
        const m = event.data;
        return {
          manifest_id: m.manifestId,
          publisher_id: m.publisherId,
          name: m.name,
          version: m.version,
          artifact_sha256: m.artifactSha256,
          size_bytes: m.sizeBytes,
          price_minor: m.priceMinor,
          currency: m.currency,
          royalty_splits: jcs(m.royaltySplits),
          status: 'submitted',
          manifest_sha256: null,
          manifest_signature_id: null,
          decided_by: null,
          reason: null,
          submitted_seq: record.seq,
          updated_seq: record.seq,
          artifact_object_key: null,
        };
      }
      case 'manifest.artifact_stored':
        return { ...requireRow(row, record), artifact_object_key: event.data.objectKey, updated_seq: record.seq };
      case 'manifest.approved': {
        const { manifestSha256, manifestSignatureId, approvedBy } = event.data;
        return {
          ...requireRow(row, record),
          status: 'approved',
          manifest_sha256: manifestSha256,
          manifest_signature_id: manifestSignatureId,
          decided_by: approvedBy,
          updated_seq: record.seq,
        };
      }
      case 'manifest.rejected':
        return {
          ...requireRow(row, record),
          status: 'rejected',
          decided_by: event.data.rejectedBy,
          reason: event.data.reason,
          updated_seq: record.seq,
        };
      default:
        return assertNever(event, 'manifest event');
    }
  },
};

const listingFold: RowFold<ListingEvent> = {
  spec: LISTINGS,
  keyOf: (event) => ({ listing_id: event.data.listingId }),
  evolve(row, event, record): Row {
    switch (event.type) {
      case 'listing.published': {
        const l = event.data;
        return {
          listing_id: l.listingId,
          manifest_id: l.manifestId,
          publisher_id: l.publisherId,
          price_minor: l.priceMinor,
          currency: l.currency,
          status: 'active',
          manifest_signature_id: l.manifestSignatureId,
          royalty_splits: jcs(l.royaltySplits),
          published_seq: record.seq,
          updated_seq: record.seq,
        };
      }
      case 'listing.price_changed':
        return { ...requireRow(row, record), price_minor: event.data.priceMinor, updated_seq: record.seq };
      case 'listing.delisted':
        return { ...requireRow(row, record), status: 'delisted', updated_seq: record.seq };
      default:
        return assertNever(event, 'listing event');
    }
  },
};

const isManifest = (record: ProjectedRecord): boolean => record.event.type.startsWith('manifest.');

export const catalogProjection: Projection = {
  name: 'catalog',
  // Still 1 with artifact_object_key (migration 0005): no chain before it holds manifest.artifact_stored, so the
  // NULL the migration leaves in every existing row is what a rebuild would fold.
  version: 1,
  tables: [MANIFESTS, LISTINGS],
  eventTypes: new Set([
    'manifest.submitted',
    'manifest.artifact_stored',
    'manifest.approved',
    'manifest.rejected',
    'listing.published',
    'listing.price_changed',
    'listing.delisted',
  ]),
  async apply(tx, records) {
    const manifests = records.filter(isManifest);
    if (manifests.length > 0) await foldRows(tx, manifestFold, manifests);
    const listings = records.filter((record) => !isManifest(record));
    if (listings.length > 0) await foldRows(tx, listingFold, listings);
  },
};
