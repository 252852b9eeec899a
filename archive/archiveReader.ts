/**
 * The verifier's view of an archive (docs/FORMAT.md section 8): record
 * texts of each chain in seq order, read batch by batch through the
 * RecordReader interface, so audit-verify and replay treat the archive as
 * they treat a database.
 *
 * Before serving a batch's records it checks, in this order: the batch
 * follows the one before it (no seq missing, none twice), its manifest
 * parses and describes its key, the manifest's signature verifies under the
 * registry, its first_prev_hash is the previous manifest's last_hash, the
 * object's SHA-256 is object_sha256, and the decompressed lines agree with
 * the manifest (count, first seq and prevHash, last seq and hash, the date in
 * the key). The first problem ends the chain's pages and is reported through
 * sourceFinding; the records themselves are the verifier's to check.
 */
import { sha256Hex } from '../chain/hash.ts';
import { HASH_PATTERN, ZERO_HASH } from '../chain/record.ts';
import type { SignerRegistry } from '../chain/registry.ts';
import { appendLeaves, edgeRoot, emptyEdge, type TreeEdge } from '../chain/tiles.ts';
import { leafOf, treeHasher } from '../chain/treeCommit.ts';
import { CodedError } from '../domain/errors.ts';
import type { RecordReader, SourceFinding, SourceFindingReason } from '../verifier/reader.ts';
import type { ArchiveIndex, IndexedBatch } from './archiveIndex.ts';
import { MAX_ARCHIVE_BATCH_BYTES, MAX_BATCHES_IN_FLIGHT, MAX_MANIFEST_BYTES } from './limits.ts';
import { manifestSignatureProblem, parseManifest, type Manifest } from './manifest.ts';
import type { Compression, ObjectStore } from './objectStore.ts';

/** Records per page served to the verifier. */
const PAGE_RECORDS = 1000;

export interface ArchiveSource {
  store: ObjectStore;
  compression: Compression;
  registry: SignerRegistry;
  index: ArchiveIndex;
}

interface Loaded {
  manifest: Uint8Array | undefined;
  object: Uint8Array | undefined;
}

interface LineFacts {
  seq: unknown;
  prevHash: unknown;
  hash: unknown;
  ts: unknown;
}

function factsOf(line: string | undefined): LineFacts | undefined {
  try {
    return JSON.parse(line ?? '') as LineFacts;
  } catch {
    return undefined; // a line that does not parse is the verifier's to report, at its seq
  }
}

type Checked = { finding: SourceFinding } | { manifest: Manifest; lines: string[] };

/**
 * The leaf of a record line (docs/FORMAT.md section 14); undefined for a line
 * that is not a record with a hash (the verifier's to report: the tree then
 * takes a placeholder leaf, and a root kept past it is no root).
 */
function leafOrUndefined(line: string): Uint8Array | undefined {
  let hash: unknown;
  try {
    hash = (JSON.parse(line) as { hash?: unknown }).hash;
  } catch {
    hash = undefined;
  }
  return typeof hash === 'string' && HASH_PATTERN.test(hash) ? leafOf(hash) : undefined;
}

/** A root kept as the records passed (ArchiveReader.keepRootAt), or where a line was no record. */
export type KeptRoot = { root: Uint8Array; lastTs: unknown } | { malformed: number };

/** A manifest's tree_root against the root of the records read up to its to_seq. */
function treeProblem(batch: IndexedBatch, manifest: Manifest, tree: TreeEdge): SourceFinding | undefined {
  if (manifest.tree_root === undefined) return undefined;
  const root = Buffer.from(edgeRoot(treeHasher, tree)).toString('hex');
  if (root === manifest.tree_root) return undefined;
  return {
    chain: batch.chain,
    seq: manifest.to_seq,
    reason: 'batch-tree-mismatch',
    message: `batch ${batch.key}: the records up to seq ${manifest.to_seq} have the Merkle root ${root}, the manifest's tree_root is ${manifest.tree_root}`,
    batch: batch.key,
  };
}

export class ArchiveReader implements RecordReader {
  readonly description: string;
  /** What the listing found (batches by chain, objects without a manifest, stray keys): for reports. */
  readonly index: ArchiveIndex;
  readonly #source: ArchiveSource;
  readonly #findings = new Map<string, SourceFinding>();
  /** SHA-256 of each object (batch and manifest) as it was when it passed the checks, by key. */
  readonly #verified = new Map<string, string>();
  /** Tree sizes whose root is kept as a read from seq 1 passes them (audit-verify --archive --checkpoint), by chain. */
  readonly #wanted = new Map<string, Set<number>>();
  readonly #kept = new Map<string, Map<number, KeptRoot>>();

  constructor(source: ArchiveSource) {
    this.#source = source;
    this.index = source.index;
    this.description = `archive ${source.store.description} (service ${source.index.service})`;
  }

  async chains(): Promise<string[]> {
    return [...this.#source.index.chains.keys()];
  }

  #batches(chain: string): IndexedBatch[] {
    const batches = this.#source.index.chains.get(chain);
    if (!batches)
      throw new CodedError('UNKNOWN_CHAIN', `chain ${JSON.stringify(chain)} is not in ${this.description}`, { chain });
    return batches;
  }

  async lastSeq(chain: string): Promise<number> {
    return this.#batches(chain).at(-1)?.toSeq ?? 0;
  }

  /**
   * Keep the root of `chain`'s tree at `size` leaves when a read from seq 1
   * passes it, so that a checkpoint is held to the records the verification
   * read rather than read again (rootKept).
   */
  keepRootAt(chain: string, size: number): void {
    const sizes = this.#wanted.get(chain) ?? new Set<number>();
    sizes.add(size);
    this.#wanted.set(chain, sizes);
  }

  /** The root kept at `size` (keepRootAt), with the last record's ts; or the seq of the first line that is no record. */
  rootKept(chain: string, size: number): KeptRoot | undefined {
    return this.#kept.get(chain)?.get(size);
  }

  /** The batch's leaves appended to `tree`, keeping the roots wanted at sizes inside it. */
  #grow(chain: string, tree: TreeEdge, lines: readonly string[], malformed: { seq?: number }): TreeEdge {
    const base = tree.size;
    const leaves = lines.map((line, offset) => {
      const leaf = leafOrUndefined(line);
      if (!leaf) malformed.seq ??= base + offset + 1;
      return leaf ?? treeHasher.leaf(new Uint8Array(0));
    });
    const sizes = [...(this.#wanted.get(chain) ?? [])].filter((size) => size > base && size <= base + leaves.length);
    let done = 0;
    let edge = tree;
    for (const size of sizes.sort((a, b) => a - b)) {
      edge = appendLeaves(treeHasher, edge, leaves.slice(done, size - base)).edge;
      done = size - base;
      const kept: KeptRoot =
        malformed.seq !== undefined && malformed.seq <= size
          ? { malformed: malformed.seq }
          : { root: edgeRoot(treeHasher, edge), lastTs: factsOf(lines[done - 1])?.ts };
      const byChain = this.#kept.get(chain) ?? new Map<number, KeptRoot>();
      byChain.set(size, kept);
      this.#kept.set(chain, byChain);
    }
    return appendLeaves(treeHasher, edge, leaves.slice(done)).edge;
  }

  sourceFinding(chain: string): SourceFinding | undefined {
    return this.#findings.get(chain);
  }

  async *pages(chain: string, fromSeq: number, toSeq: number): AsyncIterable<readonly string[]> {
    this.#findings.delete(chain);
    const batches = this.#batches(chain);
    const start = batches.findIndex((batch) => batch.toSeq >= fromSeq);
    if (start < 0) return;
    let previous = start > 0 ? await this.#uncheckedManifest(batches[start - 1]!) : undefined;
    // Read from the first batch, the records' Merkle tree is rebuilt as they come, to hold each manifest's tree_root to.
    let tree = start === 0 ? emptyEdge() : undefined;
    const malformed: { seq?: number } = {};
    const loads: Promise<Loaded>[] = [];
    let next = start;
    for (let index = start; index < batches.length && batches[index]!.fromSeq <= toSeq; index++) {
      // Read ahead: the next batches' objects arrive while this one is verified.
      while (loads.length <= MAX_BATCHES_IN_FLIGHT && next < batches.length && batches[next]!.fromSeq <= toSeq)
        loads.push(this.#load(batches[next++]!));
      const expectedFrom = index === 0 ? 1 : batches[index - 1]!.toSeq + 1;
      const checked = await this.#check(batches[index]!, expectedFrom, previous, await loads.shift()!);
      if ('finding' in checked) {
        this.#findings.set(chain, checked.finding);
        return;
      }
      previous = checked.manifest;
      if (tree) {
        tree = this.#grow(chain, tree, checked.lines, malformed);
        const treeFinding = treeProblem(batches[index]!, checked.manifest, tree);
        if (treeFinding) {
          this.#findings.set(chain, treeFinding);
          return;
        }
      }
      const first = Math.max(0, fromSeq - checked.manifest.from_seq);
      const end = Math.min(checked.lines.length, toSeq - checked.manifest.from_seq + 1);
      for (let offset = first; offset < end; offset += PAGE_RECORDS)
        yield checked.lines.slice(offset, Math.min(end, offset + PAGE_RECORDS));
    }
  }

  #load(batch: IndexedBatch): Promise<Loaded> {
    const { store } = this.#source;
    const loaded = Promise.all([
      store.get(batch.manifestKey, MAX_MANIFEST_BYTES),
      store.get(batch.key, MAX_ARCHIVE_BATCH_BYTES),
    ]).then(([manifest, object]) => ({ manifest, object }));
    loaded.catch(() => undefined); // read ahead and maybe never awaited: its failure surfaces where it is awaited
    return loaded;
  }

  async #uncheckedManifest(batch: IndexedBatch): Promise<Manifest | undefined> {
    const bytes = await this.#source.store.get(batch.manifestKey, MAX_MANIFEST_BYTES);
    const parsed = bytes === undefined ? undefined : parseManifest(bytes);
    return typeof parsed === 'object' ? parsed : undefined;
  }

  async #check(
    batch: IndexedBatch,
    expectedFrom: number,
    previous: Manifest | undefined,
    loaded: Loaded,
  ): Promise<Checked> {
    const fail = (reason: SourceFindingReason, message: string, seq = batch.fromSeq): Checked => ({
      finding: { chain: batch.chain, seq, reason, message: `batch ${batch.key}: ${message}`, batch: batch.key },
    });
    if (batch.fromSeq > expectedFrom) return fail('batch-missing', this.#gapMessage(batch, expectedFrom), expectedFrom);
    if (batch.fromSeq < expectedFrom)
      return fail('batch-link-mismatch', `overlaps the batch before it, which ends at seq ${expectedFrom - 1}`);
    const manifest = this.#checkManifest(batch, loaded.manifest, previous);
    if ('finding' in manifest) return fail(manifest.finding[0], manifest.finding[1]);
    if (loaded.object === undefined)
      return fail('batch-missing', 'its manifest is there but the batch object is missing');
    if (sha256Hex(loaded.object) !== manifest.object_sha256) {
      return fail(
        'batch-hash-mismatch',
        `the object's SHA-256 ${sha256Hex(loaded.object)} is not the manifest's object_sha256 ${manifest.object_sha256}`,
      );
    }
    let text: string;
    try {
      text = Buffer.from(await this.#source.compression.gunzip(loaded.object, MAX_ARCHIVE_BATCH_BYTES)).toString(
        'utf8',
      );
    } catch (error) {
      return fail('batch-content-mismatch', `does not decompress: ${(error as Error).message}`);
    }
    const problem = contentProblem(text, manifest, batch.date);
    if (problem) return fail('batch-content-mismatch', problem);
    this.#verified.set(batch.key, manifest.object_sha256);
    this.#verified.set(batch.manifestKey, sha256Hex(loaded.manifest!));
    return { manifest, lines: text.slice(0, -1).split('\n') };
  }

  #gapMessage(batch: IndexedBatch, expectedFrom: number): string {
    const orphan = this.#source.index.unmanifested.find(
      (entry) => entry.chain === batch.chain && entry.fromSeq === expectedFrom,
    );
    const missing = `no batch holds seq ${expectedFrom}..${batch.fromSeq - 1}, the next batch starts at ${batch.fromSeq}`;
    return orphan ? `${missing} (the object ${orphan.key} is there without its manifest)` : missing;
  }

  #checkManifest(
    batch: IndexedBatch,
    bytes: Uint8Array | undefined,
    previous: Manifest | undefined,
  ): Manifest | { finding: [SourceFindingReason, string] } {
    if (bytes === undefined) return { finding: ['manifest-invalid', 'its manifest object is missing'] };
    const manifest = parseManifest(bytes);
    if (typeof manifest === 'string')
      return { finding: ['manifest-invalid', `manifest ${batch.manifestKey}: ${manifest}`] };
    const { service } = this.#source.index;
    if (
      manifest.service !== service ||
      manifest.chain !== batch.chain ||
      manifest.from_seq !== batch.fromSeq ||
      manifest.to_seq !== batch.toSeq
    ) {
      return {
        finding: [
          'manifest-invalid',
          `manifest says service ${manifest.service}, chain ${manifest.chain}, seq ${manifest.from_seq}..${manifest.to_seq}, not what its key names`,
        ],
      };
    }
    const signature = manifestSignatureProblem(manifest, this.#source.registry);
    if (signature) return { finding: ['manifest-signature-invalid', `manifest signature: ${signature}`] };
    const expectedPrev = previous?.last_hash ?? (batch.fromSeq === 1 ? ZERO_HASH : undefined);
    if (expectedPrev !== undefined && manifest.first_prev_hash !== expectedPrev) {
      return {
        finding: [
          'batch-link-mismatch',
          `first_prev_hash ${manifest.first_prev_hash} is not the previous batch's last_hash ${expectedPrev}`,
        ],
      };
    }
    return manifest;
  }

  /**
   * The SHA-256 an object (a batch or its manifest) had when this reader
   * checked it, or undefined when it did not: a copy made later (an audit
   * bundle's) compares its bytes with it, so that it holds what was verified.
   */
  verifiedSha256(key: string): string | undefined {
    return this.#verified.get(key);
  }

  async hashAt(chain: string, seq: number): Promise<string | undefined> {
    const batches = this.#batches(chain);
    const ending = batches.find((batch) => batch.toSeq === seq);
    if (ending) return (await this.#uncheckedManifest(ending))?.last_hash;
    const following = batches.find((batch) => batch.fromSeq === seq + 1);
    if (following) return (await this.#uncheckedManifest(following))?.first_prev_hash;
    const holding = batches.find((batch) => batch.fromSeq <= seq && seq <= batch.toSeq);
    const lines = holding && (await this.#readAlone(holding));
    const hash = factsOf(lines?.[seq - holding!.fromSeq])?.hash;
    return typeof hash === 'string' && HASH_PATTERN.test(hash) ? hash : undefined;
  }

  /**
   * docs/FORMAT.md section 4b, for a range that starts inside a session: the signer.delegated
   * record of `kid` (on its stream `delegation-<chain>.<kid>`, as the writer
   * puts it) in the batches before `beforeSeq`, newest first. The verifier
   * checks it fully; a batch that fails its own checks is skipped here.
   */
  async delegationRecord(chain: string, kid: string, beforeSeq: number): Promise<string | undefined> {
    const stream = `"stream":${JSON.stringify(`delegation-${chain}.${kid}`)}`;
    const earlier = this.#batches(chain).filter((batch) => batch.fromSeq < beforeSeq);
    for (const batch of earlier.reverse()) {
      const found = (await this.#readAlone(batch))?.find(
        (line) => line.includes(stream) && line.includes('"type":"signer.delegated"'),
      );
      if (found !== undefined) return found;
    }
    return undefined;
  }

  /** One batch's lines when it passes its own checks (manifest, signature, object hash, content), without its links; else undefined. */
  async #readAlone(batch: IndexedBatch): Promise<string[] | undefined> {
    const checked = await this.#check(batch, batch.fromSeq, undefined, await this.#load(batch));
    return 'finding' in checked ? undefined : checked.lines;
  }

  /** The newest manifest is a signed checkpoint (docs/FORMAT.md section 8): the chain must reach its to_seq and last_hash. */
  async claimedHead(chain: string): Promise<{ seq: number; hash: string } | undefined> {
    const newest = this.#batches(chain).at(-1);
    const manifest = newest && (await this.#uncheckedManifest(newest));
    return manifest ? { seq: manifest.to_seq, hash: manifest.last_hash } : undefined;
  }

  async close(): Promise<void> {}
}

/** Whether the decompressed batch is what its manifest says: count, ends, and the date in its key. */
function contentProblem(text: string, manifest: Manifest, keyDate: string): string | undefined {
  if (!text.endsWith('\n')) return 'the JSON Lines do not end with a line end';
  let count = 0;
  for (let at = text.indexOf('\n'); at >= 0; at = text.indexOf('\n', at + 1)) count += 1;
  if (count !== manifest.count) return `holds ${count} lines, its manifest says count ${manifest.count}`;
  const firstEnd = text.indexOf('\n');
  const first = factsOf(text.slice(0, firstEnd));
  const last = factsOf(text.slice(text.lastIndexOf('\n', text.length - 2) + 1, -1));
  if (first && (first.seq !== manifest.from_seq || first.prevHash !== manifest.first_prev_hash)) {
    return `its first record (seq ${String(first.seq)}, prevHash ${String(first.prevHash)}) is not from_seq ${manifest.from_seq} with first_prev_hash ${manifest.first_prev_hash}`;
  }
  if (last && (last.seq !== manifest.to_seq || last.hash !== manifest.last_hash)) {
    return `its last record (seq ${String(last.seq)}, hash ${String(last.hash)}) is not to_seq ${manifest.to_seq} with last_hash ${manifest.last_hash}`;
  }
  if (first && typeof first.ts === 'string' && first.ts.slice(0, 10) !== keyDate)
    return `its first record's date ${first.ts.slice(0, 10)} is not the date ${keyDate} in its key`;
  return undefined;
}

/** What a report says of the archive beside its verdict: batches, and objects that are not part of it. */
export function archiveNotes(index: ArchiveIndex): {
  service: string;
  batches: number;
  unmanifested: string[];
  strays: string[];
} {
  return {
    service: index.service,
    batches: [...index.chains.values()].reduce((sum, batches) => sum + batches.length, 0),
    unmanifested: index.unmanifested.map((entry) => entry.key),
    strays: index.strays,
  };
}
