/**
 * `archive.exported`: every batch written to the archive is recorded in the
 * chain it comes from (not a domain event: the projections record it and
 * fold nothing). Its data is a function of the batch alone, so a retried
 * export appends nothing new (the idempotency key is the batch key).
 */
import type { JsonObject } from '../domain/json.ts';
import type { Manifest } from './manifest.ts';

export const ARCHIVE_EXPORTED_TYPE = 'archive.exported';
export const ARCHIVE_ACTOR = { id: 'service:chainbook-archive', role: 'Service' } as const;

export interface ArchiveExported extends JsonObject {
  service: string;
  chain: string;
  batchKey: string;
  manifestKey: string;
  fromSeq: number;
  toSeq: number;
  count: number;
  firstPrevHash: string;
  lastHash: string;
  objectSha256: string;
  /** Where it was written (a folder, or s3://bucket/prefix), without credentials. */
  target: string;
}

/** One stream per service and chain: `archive-<service>.<chain>`. */
export function archiveStream(service: string, chain: string): string {
  return `archive-${service}.${chain}`;
}

export function exportedData(manifest: Manifest, batchKey: string, manifestKey: string, target: string): ArchiveExported {
  return {
    service: manifest.service,
    chain: manifest.chain,
    batchKey,
    manifestKey,
    fromSeq: manifest.from_seq,
    toSeq: manifest.to_seq,
    count: manifest.count,
    firstPrevHash: manifest.first_prev_hash,
    lastHash: manifest.last_hash,
    objectSha256: manifest.object_sha256,
    target,
  };
}

export function exportIdempotencyKey(batchKey: string): string {
  return `archive:${batchKey}`;
}
