/**
 * Export (docs/FORMAT.md section 8): the chain's records after the newest
 * batch in the archive, verified as they are read (docs/FORMAT.md section 5, anchored on that
 * batch's last_hash), cut into batches bounded in records and bytes,
 * written as gzip JSON Lines with a signed manifest beside each.
 *
 * Resuming comes from the archive itself: the newest manifest of the chain
 * says where the next batch starts. Per batch, in this order:
 *   1. the object (put-if-absent; one already there must have the same bytes),
 *   2. `archive.exported` in the chain (idempotent: keyed by the batch key),
 *   3. the manifest, the commit point (one already there must agree).
 * A run killed anywhere leaves at most an object without its manifest; the
 * next run makes the same batch again (same range, same bytes), finds the
 * object, and writes what is missing: no gap, no duplicate, nothing rewritten.
 * Manifests are written in seq order, so the newest always closes a
 * contiguous archive.
 */
import { sha256Hex } from '../chain/hash.ts';
import { ZERO_HASH } from '../chain/record.ts';
import type { SignerRegistry } from '../chain/registry.ts';
import type { Signer } from '../chain/signer.ts';
import { assert } from '../domain/errors.ts';
import type { LineChecker, RecordReader } from '../verifier/reader.ts';
import { verify, type Finding } from '../verifier/verify.ts';
import { findChainTail, type ChainTail } from './archiveIndex.ts';
import { ARCHIVE_EXPORTED_TYPE, exportedData, type ArchiveExported } from './exportedEvent.ts';
import { batchKey, manifestKeyOf } from './layout.ts';
import {
  MAX_ARCHIVE_BATCH_BYTES,
  MAX_ARCHIVE_BATCH_RECORDS,
  MAX_BATCHES_IN_FLIGHT,
  MAX_MANIFEST_BYTES,
} from './limits.ts';
import {
  manifestSignatureProblem,
  manifestText,
  parseManifest,
  signManifest,
  type Manifest,
  type ManifestPayload,
} from './manifest.ts';
import type { Compression, ObjectLock, ObjectStore } from './objectStore.ts';

/** Pending records that are all `archive.exported` (and at most this many) do not start a batch: see quietTail. */
export const MAX_QUIET_TAIL_RECORDS = 100;

export interface ExportSettings {
  service: string;
  env: string;
  version: string;
  piiIncluded: boolean;
  piiPolicyVersion: string;
  lockMode: ObjectLock['mode'];
  retentionDays: number;
  batchRecords: number;
  batchBytes: number;
  /** Chains to export; default every chain of the database. */
  chains?: readonly string[] | undefined;
}

export interface ExportDependencies {
  store: ObjectStore;
  compression: Compression;
  /** The event log. */
  database: RecordReader;
  checker: LineChecker;
  /** The registry the manifests must verify under (the archive's and the batch's own are checked against it). */
  registry: SignerRegistry;
  signer: Pick<Signer, 'signMessage' | 'kid' | 'algorithm'>;
  /** Appends `archive.exported` to `chain` with this idempotency key. */
  recordExport: (chain: string, data: ArchiveExported) => Promise<void>;
  nowMs: () => number;
  onBatch?: (batch: ExportedBatch) => void;
}

export interface ExportedBatch {
  chain: string;
  key: string;
  fromSeq: number;
  toSeq: number;
  count: number;
  objectSha256: string;
  /** False when the object was already there (an interrupted export completed). */
  objectWritten: boolean;
}

export interface ChainExport {
  chain: string;
  /** Seq the export started after (the archive's newest to_seq, 0 when none). */
  archivedSeq: number;
  /** The database's last seq when the export started. */
  databaseSeq: number;
  batches: ExportedBatch[];
  /** Why nothing was exported, when nothing was. */
  skipped?: string;
}

export interface ExportReport {
  ok: boolean;
  finding: Finding | undefined;
  target: string;
  chains: ChainExport[];
  records: number;
  elapsedMs: number;
}

export function clampBatchRecords(value: number): number {
  return Math.max(1, Math.min(MAX_ARCHIVE_BATCH_RECORDS, value));
}

export async function exportArchive(deps: ExportDependencies, settings: ExportSettings): Promise<ExportReport> {
  const started = deps.nowMs();
  const chains: ChainExport[] = [];
  let finding: Finding | undefined;
  for (const chain of settings.chains ?? (await deps.database.chains())) {
    const result = await exportChain(deps, settings, chain);
    chains.push(result.export);
    finding = result.finding;
    if (finding) break;
  }
  return {
    ok: finding === undefined,
    finding,
    target: deps.store.description,
    chains,
    records: chains.reduce((sum, chain) => sum + chain.batches.reduce((count, batch) => count + batch.count, 0), 0),
    elapsedMs: deps.nowMs() - started,
  };
}

/** Where the chain's export starts, or the integrity failure that forbids it: the archive's tail against the database. */
async function startOf(
  deps: ExportDependencies,
  service: string,
  chain: string,
  tail: ChainTail,
): Promise<{ anchor: string; archivedSeq: number } | Finding> {
  if (!tail.last) return { anchor: ZERO_HASH, archivedSeq: 0 };
  const fail = (reason: Finding['reason'], seq: number, message: string): Finding => ({
    chain,
    seq,
    reason,
    message,
    batch: tail.last!.key,
  });
  const bytes = await deps.store.get(tail.last.manifestKey, MAX_MANIFEST_BYTES);
  const manifest = bytes === undefined ? 'missing' : parseManifest(bytes);
  if (typeof manifest === 'string')
    return fail(
      'manifest-invalid',
      tail.last.fromSeq,
      `the newest manifest of ${service}/${chain} is not valid: ${manifest}`,
    );
  const signature = manifestSignatureProblem(manifest, deps.registry);
  if (signature)
    return fail(
      'manifest-signature-invalid',
      tail.last.fromSeq,
      `the newest manifest of ${service}/${chain}: ${signature}`,
    );
  const databaseSeq = await deps.database.lastSeq(chain);
  if (databaseSeq < manifest.to_seq) {
    return fail(
      'database-behind-archive',
      databaseSeq + 1,
      `the database's chain ends at seq ${databaseSeq} but the archive's signed manifest reaches seq ${manifest.to_seq}: records were removed or the database was rolled back`,
    );
  }
  const hash = await deps.database.hashAt(chain, manifest.to_seq);
  if (hash !== manifest.last_hash) {
    return fail(
      'database-mismatch',
      manifest.to_seq,
      `record ${manifest.to_seq} in the database has hash ${hash ?? '(unreadable)'}, the archive's signed manifest says ${manifest.last_hash}`,
    );
  }
  return { anchor: manifest.last_hash, archivedSeq: manifest.to_seq };
}

/**
 * A run that would archive only the `archive.exported` records of earlier
 * runs waits for other records: otherwise a scheduled export would write a
 * batch every run for the record of the run before it.
 */
async function quietTail(database: RecordReader, chain: string, fromSeq: number, toSeq: number): Promise<boolean> {
  if (toSeq - fromSeq + 1 > MAX_QUIET_TAIL_RECORDS) return false;
  for await (const page of database.pages(chain, fromSeq, toSeq)) {
    if (
      !page.every(
        (line) =>
          line.includes(`"type":"${ARCHIVE_EXPORTED_TYPE}"`) &&
          (JSON.parse(line) as { type: unknown }).type === ARCHIVE_EXPORTED_TYPE,
      )
    )
      return false;
  }
  return true;
}

async function exportChain(
  deps: ExportDependencies,
  settings: ExportSettings,
  chain: string,
): Promise<{ export: ChainExport; finding: Finding | undefined }> {
  const tail = await findChainTail(deps.store, settings.service, chain);
  const start = await startOf(deps, settings.service, chain, tail);
  const databaseSeq = await deps.database.lastSeq(chain);
  const result: ChainExport = {
    chain,
    archivedSeq: 'anchor' in start ? start.archivedSeq : 0,
    databaseSeq,
    batches: [],
  };
  if (!('anchor' in start)) return { export: result, finding: start };
  const fromSeq = start.archivedSeq + 1;
  if (databaseSeq < fromSeq) return { export: { ...result, skipped: 'up to date' }, finding: undefined };
  if (!tail.unmanifested && (await quietTail(deps.database, chain, fromSeq, databaseSeq))) {
    return { export: { ...result, skipped: `only ${ARCHIVE_EXPORTED_TYPE} records are pending` }, finding: undefined };
  }
  const pipeline = new BatchPipeline(deps, settings, chain, fromSeq, tail.unmanifested?.toSeq, (batch) => {
    result.batches.push(batch);
    deps.onBatch?.(batch);
  });
  const verified = await verify(withoutClaimedHead(deps.database), deps.checker, {
    chains: [chain],
    fromSeq,
    toSeq: databaseSeq,
    prevHash: start.anchor,
    onVerifiedPage: (_chain, lines) => pipeline.add(lines),
  });
  const finding = verified.finding ?? (await pipeline.finish());
  return { export: result, finding };
}

/** The exporter's own appends move the head while it runs: the head row is not compared here (audit-verify does that). */
function withoutClaimedHead(reader: RecordReader): RecordReader {
  const delegationRecord = reader.delegationRecord?.bind(reader);
  return {
    description: reader.description,
    chains: () => reader.chains(),
    lastSeq: (chain) => reader.lastSeq(chain),
    pages: (chain, fromSeq, toSeq) => reader.pages(chain, fromSeq, toSeq),
    hashAt: (chain, seq) => reader.hashAt(chain, seq),
    ...(delegationRecord ? { delegationRecord } : {}),
    close: () => reader.close(),
  };
}

interface SealedBatch {
  key: string;
  manifest: Manifest;
  object: Uint8Array;
}

/**
 * Cuts verified lines into batches and commits them in seq order: each batch
 * is sealed (gzip, hash, signed manifest) as soon as it is full, while the one
 * before it is being written; at most MAX_BATCHES_IN_FLIGHT wait.
 */
class BatchPipeline {
  readonly #deps: ExportDependencies;
  readonly #settings: ExportSettings;
  readonly #chain: string;
  readonly #onCommitted: (batch: ExportedBatch) => void;
  #fromSeq: number;
  #lines: string[] = [];
  #bytes = 0;
  /** The first batch ends here when an interrupted export left its object: the same range makes the same bytes. */
  #resumeToSeq: number | undefined;
  #pending: Promise<Finding | undefined>[] = [];
  #committed: Promise<Finding | undefined> = Promise.resolve(undefined);
  /** Set once a commit found the archive holding something else: nothing more is sealed. */
  #stopped = false;

  constructor(
    deps: ExportDependencies,
    settings: ExportSettings,
    chain: string,
    fromSeq: number,
    resumeToSeq: number | undefined,
    onCommitted: (batch: ExportedBatch) => void,
  ) {
    this.#deps = deps;
    this.#settings = settings;
    this.#chain = chain;
    this.#fromSeq = fromSeq;
    this.#resumeToSeq = resumeToSeq;
    this.#onCommitted = onCommitted;
  }

  #full(nextBytes: number): boolean {
    if (this.#lines.length === 0) return false;
    if (this.#resumeToSeq !== undefined)
      return (
        this.#fromSeq + this.#lines.length > this.#resumeToSeq || this.#bytes + nextBytes > MAX_ARCHIVE_BATCH_BYTES
      );
    return this.#lines.length >= this.#settings.batchRecords || this.#bytes + nextBytes > this.#settings.batchBytes;
  }

  async add(lines: readonly string[]): Promise<void> {
    if (this.#stopped) return;
    for (const line of lines) {
      const bytes = Buffer.byteLength(line, 'utf8') + 1;
      if (this.#full(bytes)) await this.#close();
      this.#lines.push(line);
      this.#bytes += bytes;
    }
  }

  async #close(): Promise<void> {
    const lines = this.#lines;
    const fromSeq = this.#fromSeq;
    this.#lines = [];
    this.#bytes = 0;
    this.#fromSeq += lines.length;
    this.#resumeToSeq = undefined;
    const sealed = seal(this.#deps, this.#settings, this.#chain, fromSeq, lines);
    sealed.catch(() => undefined); // awaited in order below; a failure surfaces there
    const committed = this.#committed.then(async (earlier) => {
      if (earlier) return earlier;
      const finding = await commit(this.#deps, this.#settings, await sealed, this.#onCommitted);
      if (finding) this.#stopped = true;
      return finding;
    });
    committed.catch(() => undefined);
    this.#committed = committed;
    this.#pending.push(committed);
    if (this.#pending.length >= MAX_BATCHES_IN_FLIGHT) await this.#pending.shift();
  }

  /** Seals what is left and waits for every commit; the first integrity finding, if any. */
  async finish(): Promise<Finding | undefined> {
    if (this.#lines.length > 0) await this.#close();
    return this.#committed;
  }
}

async function seal(
  deps: ExportDependencies,
  settings: ExportSettings,
  chain: string,
  fromSeq: number,
  lines: readonly string[],
): Promise<SealedBatch> {
  const body = Buffer.from(`${lines.join('\n')}\n`, 'utf8');
  const first = JSON.parse(lines[0]!) as { seq: number; prevHash: string; ts: string };
  const last = JSON.parse(lines[lines.length - 1]!) as { seq: number; hash: string; ts: string };
  const toSeq = fromSeq + lines.length - 1;
  assert(first.seq === fromSeq && last.seq === toSeq, `batch ${fromSeq}..${toSeq} holds seq ${first.seq}..${last.seq}`);
  const object = await deps.compression.gzip(body);
  // Check the object before it leaves: it decompresses to exactly the verified lines.
  assert(
    Buffer.from(await deps.compression.gunzip(object, MAX_ARCHIVE_BATCH_BYTES)).equals(body),
    `batch ${fromSeq}..${toSeq} does not decompress to its lines`,
  );
  const payload: ManifestPayload = {
    service: settings.service,
    env: settings.env,
    version: settings.version,
    chain,
    from_seq: fromSeq,
    to_seq: toSeq,
    count: lines.length,
    first_prev_hash: first.prevHash,
    last_hash: last.hash,
    object_sha256: sha256Hex(object),
    pii_included: settings.piiIncluded,
    pii_policy_version: settings.piiPolicyVersion,
    export_ts: new Date(deps.nowMs()).toISOString(),
    signer_kid: deps.signer.kid,
    alg: deps.signer.algorithm,
  };
  const manifest = await signManifest(payload, deps.signer);
  const problem = manifestSignatureProblem(manifest, deps.registry);
  if (problem)
    throw new ExportConfigurationError(
      `the manifest signed by ${deps.signer.kid} does not verify under the registry in use (${problem}): nothing was written`,
    );
  return { key: batchKey(settings.service, chain, fromSeq, toSeq, first.ts), manifest, object };
}

export class ExportConfigurationError extends Error {}

function objectMetadata(manifest: Manifest, firstRecordDate: string): Record<string, string> {
  return {
    service: manifest.service,
    env: manifest.env,
    version: manifest.version,
    pii_included: String(manifest.pii_included),
    pii_policy_version: manifest.pii_policy_version,
    export_ts: manifest.export_ts,
    chain: manifest.chain,
    from_seq: String(manifest.from_seq),
    to_seq: String(manifest.to_seq),
    first_record_date: firstRecordDate,
    signer_kid: manifest.signer_kid,
  };
}

/** Writes one sealed batch: object, archive.exported, manifest. An integrity finding when the archive already holds something else. */
async function commit(
  deps: ExportDependencies,
  settings: ExportSettings,
  batch: SealedBatch,
  onCommitted: (batch: ExportedBatch) => void,
): Promise<Finding | undefined> {
  const { manifest } = batch;
  const manifestKey = manifestKeyOf(batch.key);
  const fail = (reason: Finding['reason'], message: string): Finding => ({
    chain: manifest.chain,
    seq: manifest.from_seq,
    reason,
    message: `batch ${batch.key}: ${message}`,
    batch: batch.key,
  });
  const lock: ObjectLock = {
    mode: settings.lockMode,
    retainUntilMs: Date.parse(manifest.export_ts) + settings.retentionDays * 86_400_000,
  };
  const metadata = objectMetadata(manifest, batch.key.split('/')[1] ?? '');
  const objectWritten =
    (await deps.store.putIfAbsent(batch.key, batch.object, { contentType: 'application/gzip', metadata, lock })) ===
    'written';
  if (!objectWritten) {
    const existing = await deps.store.get(batch.key, MAX_ARCHIVE_BATCH_BYTES);
    if (existing === undefined || sha256Hex(existing) !== manifest.object_sha256) {
      return fail(
        'batch-hash-mismatch',
        `an object with other content is already there (SHA-256 ${existing ? sha256Hex(existing) : 'unreadable'}); the database's records ${manifest.from_seq}..${manifest.to_seq} make ${manifest.object_sha256}`,
      );
    }
  }
  await deps.recordExport(manifest.chain, exportedData(manifest, batch.key, manifestKey, deps.store.description));
  const text = Buffer.from(manifestText(manifest), 'utf8');
  if (
    (await deps.store.putIfAbsent(manifestKey, text, { contentType: 'application/json', metadata, lock })) === 'exists'
  ) {
    const problem = await existingManifestProblem(deps, manifestKey, manifest);
    if (problem) return fail('manifest-invalid', problem);
  }
  onCommitted({
    chain: manifest.chain,
    key: batch.key,
    fromSeq: manifest.from_seq,
    toSeq: manifest.to_seq,
    count: manifest.count,
    objectSha256: manifest.object_sha256,
    objectWritten,
  });
  return undefined;
}

/** A manifest already at the key (another exporter got there first) must say the same of the same bytes. */
async function existingManifestProblem(
  deps: ExportDependencies,
  key: string,
  ours: Manifest,
): Promise<string | undefined> {
  const bytes = await deps.store.get(key, MAX_MANIFEST_BYTES);
  const theirs = bytes === undefined ? 'unreadable' : parseManifest(bytes);
  if (typeof theirs === 'string') return `a manifest is already there and it is not valid: ${theirs}`;
  const same = (['chain', 'from_seq', 'to_seq', 'first_prev_hash', 'last_hash', 'object_sha256'] as const).every(
    (member) => theirs[member] === ours[member],
  );
  if (!same) return 'a manifest is already there and describes other records';
  const signature = manifestSignatureProblem(theirs, deps.registry);
  return signature ? `a manifest is already there and its signature does not verify: ${signature}` : undefined;
}
