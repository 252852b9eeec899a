/**
 * What an archive holds, from its listing alone: per service and chain, the
 * batches (by their keys) in seq order. Nothing listed is trusted: the
 * reader checks each manifest and object as it serves them.
 */
import { CodedError } from '../domain/errors.ts';
import { MAX_LISTED_OBJECTS } from './limits.ts';
import { manifestKeyOf, parseArchiveKey, type ArchiveKey } from './layout.ts';
import type { ObjectStore } from './objectStore.ts';

export interface IndexedBatch {
  /** The batch object's key. */
  key: string;
  manifestKey: string;
  date: string;
  chain: string;
  fromSeq: number;
  toSeq: number;
  hasObject: boolean;
  hasManifest: boolean;
}

export interface ArchiveIndex {
  service: string;
  /** Per chain, the batches that have a manifest, by fromSeq then toSeq. */
  chains: Map<string, IndexedBatch[]>;
  /** Batch objects without a manifest: an export stopped between its two writes (the next export completes it). */
  unmanifested: IndexedBatch[];
  /** Keys under the service folder that are not archive keys (at most MAX_REPORTED_STRAYS). */
  strays: string[];
}

export const MAX_REPORTED_STRAYS = 100;

function collect(entries: Map<string, IndexedBatch>, key: string, parsed: ArchiveKey): void {
  const batch = parsed.kind === 'batch' ? key : `${key.slice(0, -'.manifest.json'.length)}.jsonl.gz`;
  const entry = entries.get(batch) ?? {
    key: batch,
    manifestKey: manifestKeyOf(batch),
    date: parsed.date,
    chain: parsed.chain,
    fromSeq: parsed.fromSeq,
    toSeq: parsed.toSeq,
    hasObject: false,
    hasManifest: false,
  };
  if (parsed.kind === 'batch') entry.hasObject = true;
  else entry.hasManifest = true;
  entries.set(batch, entry);
}

export function bySeq(a: IndexedBatch, b: IndexedBatch): number {
  return a.fromSeq - b.fromSeq || a.toSeq - b.toSeq;
}

function indexOf(service: string, entries: Iterable<IndexedBatch>, strays: string[]): ArchiveIndex {
  const chains = new Map<string, IndexedBatch[]>();
  const unmanifested: IndexedBatch[] = [];
  for (const entry of entries) {
    if (!entry.hasManifest) {
      unmanifested.push(entry);
      continue;
    }
    const list = chains.get(entry.chain) ?? [];
    list.push(entry);
    chains.set(entry.chain, list);
  }
  for (const list of chains.values()) list.sort(bySeq);
  return {
    service,
    chains: new Map([...chains].sort(([a], [b]) => (a < b ? -1 : 1))),
    unmanifested: unmanifested.sort(bySeq),
    strays,
  };
}

/** Lists every key of one service's folder (bounded by MAX_LISTED_OBJECTS). */
export async function readIndex(store: ObjectStore, service: string): Promise<ArchiveIndex> {
  const entries = new Map<string, IndexedBatch>();
  const strays: string[] = [];
  let listed = 0;
  for await (const page of store.list(`${service}/`)) {
    listed += page.keys.length;
    if (listed > MAX_LISTED_OBJECTS)
      throw new CodedError(
        'ARCHIVE_TOO_LARGE',
        `${store.description} holds more than ${MAX_LISTED_OBJECTS} objects under ${service}/`,
      );
    for (const key of page.keys) {
      const parsed = parseArchiveKey(key);
      if (parsed?.service === service) collect(entries, key, parsed);
      else if (strays.length < MAX_REPORTED_STRAYS) strays.push(key);
    }
  }
  return indexOf(service, entries.values(), strays);
}

/** The services (top folders) of an archive. */
export async function listServices(store: ObjectStore): Promise<string[]> {
  const services: string[] = [];
  for await (const page of store.list('', { delimiter: true }))
    services.push(...page.folders.map((folder) => folder.slice(0, -1)));
  return services;
}

export interface ChainTail {
  /** The batch with the newest manifest of the chain (the highest toSeq). */
  last: IndexedBatch | undefined;
  /** A batch object after it without a manifest: an interrupted export to complete. */
  unmanifested: IndexedBatch | undefined;
}

/**
 * The newest batch of one chain, without listing the whole archive: date
 * folders newest first, until one holds a manifest of the chain. Records' ts
 * never decreases along a chain, so no later batch sits in an older folder.
 */
export async function findChainTail(store: ObjectStore, service: string, chain: string): Promise<ChainTail> {
  const folders: string[] = [];
  for await (const page of store.list(`${service}/`, { delimiter: true })) {
    folders.push(...page.folders);
    if (folders.length > MAX_LISTED_OBJECTS)
      throw new CodedError('ARCHIVE_TOO_LARGE', `${store.description} has too many date folders under ${service}/`);
  }
  const found: IndexedBatch[] = [];
  for (const folder of folders.sort().reverse()) {
    const entries = new Map<string, IndexedBatch>();
    for await (const page of store.list(folder)) {
      for (const key of page.keys) {
        const parsed = parseArchiveKey(key);
        if (parsed?.service === service && parsed.chain === chain) collect(entries, key, parsed);
      }
    }
    found.push(...entries.values());
    if (found.some((entry) => entry.hasManifest)) break;
  }
  const last = found
    .filter((entry) => entry.hasManifest)
    .sort(bySeq)
    .at(-1);
  const next = (last?.toSeq ?? 0) + 1;
  const unmanifested = found
    .filter((entry) => !entry.hasManifest && entry.hasObject && entry.fromSeq === next)
    .sort(bySeq)[0];
  return { last, unmanifested };
}
