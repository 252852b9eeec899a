/** Reads of the catalog projection: listings (paged, by publisher) and manifests. */
import type { RoyaltySplit } from '../../domain/manifests/manifestEvents.ts';
import { pageOf, pageSize, type Page } from '../page.ts';
import type { ProjectionExecutor } from '../rowStore.ts';

export interface ListingView {
  listingId: string;
  manifestId: string;
  publisherId: string;
  /** The product's name and version, from its manifest document. */
  name: string;
  productVersion: string;
  priceMinor: number;
  currency: string;
  status: 'active' | 'delisted';
  manifestSignatureId: string;
  royaltySplits: RoyaltySplit[];
  publishedSeq: number;
  updatedSeq: number;
}

export interface ManifestView {
  manifestId: string;
  publisherId: string;
  name: string;
  /** The document's `version` (the product's, "1.0.0"): the stream version is another thing, named `version` by the HTTP API. */
  productVersion: string;
  artifactSha256: string;
  sizeBytes: number;
  priceMinor: number;
  currency: string;
  royaltySplits: RoyaltySplit[];
  status: 'submitted' | 'approved' | 'rejected';
  /** Where the uploaded artifact is in the artifact store; null until the publisher uploaded it. */
  artifactObjectKey: string | null;
  manifestSha256: string | null;
  manifestSignatureId: string | null;
  decidedBy: string | null;
  reason: string | null;
  submittedSeq: number;
  updatedSeq: number;
}

// Name and version are the manifest's: a listing's manifest row always exists (the listing decider requires it approved).
const LISTING_COLUMNS = `l.listing_id, l.manifest_id, l.publisher_id, m.name, m.version AS product_version, l.price_minor, l.currency,
  l.status, l.manifest_signature_id, l.royalty_splits, l.published_seq, l.updated_seq`;
const LISTING_FROM = 'catalog_listings l JOIN catalog_manifests m ON m.manifest_id = l.manifest_id';

type ListingRow = {
  listing_id: string;
  manifest_id: string;
  publisher_id: string;
  name: string;
  product_version: string;
  price_minor: number;
  currency: string;
  status: ListingView['status'];
  manifest_signature_id: string;
  royalty_splits: string;
  published_seq: number;
  updated_seq: number;
};

function listingOf(row: ListingRow): ListingView {
  return {
    listingId: row.listing_id,
    manifestId: row.manifest_id,
    publisherId: row.publisher_id,
    name: row.name,
    productVersion: row.product_version,
    priceMinor: row.price_minor,
    currency: row.currency,
    status: row.status,
    manifestSignatureId: row.manifest_signature_id,
    royaltySplits: JSON.parse(row.royalty_splits) as RoyaltySplit[],
    publishedSeq: row.published_seq,
    updatedSeq: row.updated_seq,
  };
}

export interface ListingFilter {
  publisherId?: string | undefined;
  status?: ListingView['status'] | undefined;
  after?: string | undefined;
  limit?: number | undefined;
}

/** Listings in listing id order, optionally of one publisher or status. */
export async function listListings(tx: ProjectionExecutor, filter: ListingFilter = {}): Promise<Page<ListingView>> {
  const limit = pageSize(filter.limit);
  const { rows } = await tx.query<ListingRow>(
    `SELECT ${LISTING_COLUMNS} FROM ${LISTING_FROM}
     WHERE ($1::text IS NULL OR l.publisher_id = $1) AND ($2::text IS NULL OR l.status = $2) AND ($3::text IS NULL OR l.listing_id > $3)
     ORDER BY l.listing_id LIMIT $4`,
    [filter.publisherId ?? null, filter.status ?? null, filter.after ?? null, limit + 1],
  );
  return pageOf(rows, limit, listingOf, (row) => row.listing_id);
}

export async function findListing(tx: ProjectionExecutor, listingId: string): Promise<ListingView | undefined> {
  const { rows } = await tx.query<ListingRow>(
    `SELECT ${LISTING_COLUMNS} FROM ${LISTING_FROM} WHERE l.listing_id = $1`,
    [listingId],
  );
  return rows[0] && listingOf(rows[0]);
}

type ManifestRow = Record<string, unknown>;

export async function findManifest(tx: ProjectionExecutor, manifestId: string): Promise<ManifestView | undefined> {
  const { rows } = await tx.query<ManifestRow>(
    `SELECT manifest_id, publisher_id, name, version, artifact_sha256, size_bytes, price_minor, currency, royalty_splits, status, artifact_object_key, manifest_sha256,
       manifest_signature_id, decided_by, reason, submitted_seq, updated_seq FROM catalog_manifests WHERE manifest_id = $1`,
    [manifestId],
  );
  const row = rows[0];
  if (!row) return undefined;
  return {
    manifestId: row['manifest_id'] as string,
    publisherId: row['publisher_id'] as string,
    name: row['name'] as string,
    productVersion: row['version'] as string,
    artifactSha256: row['artifact_sha256'] as string,
    sizeBytes: row['size_bytes'] as number,
    priceMinor: row['price_minor'] as number,
    currency: row['currency'] as string,
    royaltySplits: JSON.parse(row['royalty_splits'] as string) as RoyaltySplit[],
    status: row['status'] as ManifestView['status'],
    artifactObjectKey: row['artifact_object_key'] as string | null,
    manifestSha256: row['manifest_sha256'] as string | null,
    manifestSignatureId: row['manifest_signature_id'] as string | null,
    decidedBy: row['decided_by'] as string | null,
    reason: row['reason'] as string | null,
    submittedSeq: row['submitted_seq'] as number,
    updatedSeq: row['updated_seq'] as number,
  };
}
