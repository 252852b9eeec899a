/**
 * `archive.exported`: every batch written to the archive is recorded in the
 * chain it comes from (not a domain event: the projections record it and
 * fold nothing). Its data is a function of the batch and the target alone,
 * so a retried export appends nothing new (the idempotency key is the batch
 * key and a hash of the target).
 */
import { sha256Hex } from '../chain/hash.ts';
import type { EventStore } from '../chain/store.ts';
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

export function exportedData(
  manifest: Manifest,
  batchKey: string,
  manifestKey: string,
  target: string,
): ArchiveExported {
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

/**
 * The batch key and the target: exporting the same batch again to the same
 * place appends nothing; to another place (a second archive) is another export.
 */
export function exportIdempotencyKey(data: Pick<ArchiveExported, 'batchKey' | 'target'>): string {
  return `archive:${data.batchKey}:${sha256Hex(data.target).slice(0, 16)}`;
}

/** `recordExport` for the exporter over any event store: appends archive.exported to the batch's chain, idempotently. */
export function appendExported(
  store: Pick<EventStore, 'append'>,
): (chain: string, data: ArchiveExported) => Promise<void> {
  return async (chain, data) => {
    const event = {
      stream: archiveStream(data.service, chain),
      type: ARCHIVE_EXPORTED_TYPE,
      data,
      actor: { ...ARCHIVE_ACTOR },
    };
    await store.append(chain, [event], { idempotencyKey: exportIdempotencyKey(data) });
  };
}
