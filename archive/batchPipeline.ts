/**
 * The batches of one chain's export (archive/exporter.ts): verified lines cut
 * into batches bounded in records and bytes, each sealed (gzip, hash, signed
 * manifest) while the one before it is written, and committed in seq order:
 * object, `archive.exported`, manifest (docs/FORMAT.md section 8).
 */
import { sha256Hex } from '../chain/hash.ts';
import { assert } from '../domain/errors.ts';
import type { Finding } from '../verifier/verify.ts';
import { exportedData } from './exportedEvent.ts';
import type { ExportDependencies, ExportedBatch, ExportSettings } from './exporter.ts';
import { batchKey, manifestKeyOf } from './layout.ts';
import { MAX_ARCHIVE_BATCH_BYTES, MAX_BATCHES_IN_FLIGHT, MAX_MANIFEST_BYTES } from './limits.ts';
import {
  manifestSignatureProblem,
  manifestText,
  parseManifest,
  signManifest,
  type Manifest,
  type ManifestPayload,
} from './manifest.ts';
import type { ObjectLock } from './objectStore.ts';

/** The signer or the registry in use cannot make a manifest that verifies: nothing is written. */
export class ExportConfigurationError extends Error {}

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
export class BatchPipeline {
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
    body.equals(await deps.compression.gunzip(object, MAX_ARCHIVE_BATCH_BYTES)),
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
  // The tree at the batch's end, when the database's tree has reached it (docs/FORMAT.md section 14).
  const root = await deps.treeRoot?.(chain, toSeq);
  if (root) Object.assign(payload, { tree_size: toSeq, tree_root: Buffer.from(root).toString('hex') });
  const manifest = await signManifest(payload, deps.signer);
  const problem = manifestSignatureProblem(manifest, deps.registry);
  if (problem)
    throw new ExportConfigurationError(
      `the manifest signed by ${deps.signer.kid} does not verify under the registry in use (${problem}): nothing was written`,
    );
  return { key: batchKey(settings.service, chain, fromSeq, toSeq, first.ts), manifest, object };
}

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
