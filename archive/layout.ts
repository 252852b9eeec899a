/**
 * Object keys of docs/FORMAT.md section 8:
 *
 *   <service>/<yyyy-mm-dd>/<chain>-<fromSeq 12 digits>-<toSeq 12 digits>.jsonl.gz
 *   <service>/<yyyy-mm-dd>/<chain>-<fromSeq 12 digits>-<toSeq 12 digits>.manifest.json
 *
 * The date is the UTC date of the batch's first record. Keys sort by date,
 * then chain, then seq, so a listing reads a chain's batches in seq order.
 */
import { CHAIN_NAME_PATTERN } from '../chain/record.ts';
import { assert } from '../domain/errors.ts';

export const BATCH_SUFFIX = '.jsonl.gz';
export const MANIFEST_SUFFIX = '.manifest.json';
/** A service names the archive's top folder: the same rule as a chain name. */
export const SERVICE_PATTERN = CHAIN_NAME_PATTERN;
/** Seqs are written with 12 digits. */
export const MAX_ARCHIVED_SEQ = 999_999_999_999;

const KEY_PATTERN =
  /^([a-z0-9][a-z0-9-]{0,62})\/(\d{4}-\d{2}-\d{2})\/([a-z0-9][a-z0-9-]{0,62})-(\d{12})-(\d{12})(\.jsonl\.gz|\.manifest\.json)$/;

export interface ArchiveKey {
  service: string;
  /** yyyy-mm-dd */
  date: string;
  chain: string;
  fromSeq: number;
  toSeq: number;
  kind: 'batch' | 'manifest';
}

function seq12(seq: number): string {
  assert(Number.isSafeInteger(seq) && seq >= 1 && seq <= MAX_ARCHIVED_SEQ, `seq ${seq} does not fit 12 digits`);
  return String(seq).padStart(12, '0');
}

/** The batch object's key; `firstTs` is the first record's ts. */
export function batchKey(service: string, chain: string, fromSeq: number, toSeq: number, firstTs: string): string {
  assert(SERVICE_PATTERN.test(service) && CHAIN_NAME_PATTERN.test(chain), `bad service ${service} or chain ${chain}`);
  return `${service}/${firstTs.slice(0, 10)}/${chain}-${seq12(fromSeq)}-${seq12(toSeq)}${BATCH_SUFFIX}`;
}

export function manifestKeyOf(batch: string): string {
  assert(batch.endsWith(BATCH_SUFFIX), `${batch} is not a batch key`);
  return `${batch.slice(0, -BATCH_SUFFIX.length)}${MANIFEST_SUFFIX}`;
}

export function batchKeyOf(manifest: string): string {
  assert(manifest.endsWith(MANIFEST_SUFFIX), `${manifest} is not a manifest key`);
  return `${manifest.slice(0, -MANIFEST_SUFFIX.length)}${BATCH_SUFFIX}`;
}

/** The parts of an archive key, or undefined for any other key. */
export function parseArchiveKey(key: string): ArchiveKey | undefined {
  const match = KEY_PATTERN.exec(key);
  if (!match) return undefined;
  const [, service, date, chain, from, to, suffix] = match as unknown as [
    string,
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  const fromSeq = Number(from);
  const toSeq = Number(to);
  if (fromSeq < 1 || toSeq < fromSeq) return undefined;
  return { service, date, chain, fromSeq, toSeq, kind: suffix === BATCH_SUFFIX ? 'batch' : 'manifest' };
}
