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
import { traced } from '../chain/tracing.ts';
import { ZERO_HASH } from '../chain/record.ts';
import type { SignerRegistry } from '../chain/registry.ts';
import type { Signer } from '../chain/signer.ts';
import type { LineChecker, RecordReader } from '../verifier/reader.ts';
import { verify, type Finding } from '../verifier/verify.ts';
import { findChainTail, type ChainTail } from './archiveIndex.ts';
import { BatchPipeline } from './batchPipeline.ts';
import { ARCHIVE_EXPORTED_TYPE, type ArchiveExported } from './exportedEvent.ts';
import { MAX_ARCHIVE_BATCH_RECORDS, MAX_MANIFEST_BYTES } from './limits.ts';
import { manifestSignatureProblem, parseManifest } from './manifest.ts';
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
  /** The root of the chain's Merkle tree of `size` records, undefined when its tree is not that large yet. */
  treeRoot?: (chain: string, size: number) => Promise<Uint8Array | undefined>;
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

/** One export run (docs/FORMAT.md section 8), traced as `archive.export` with the records it archived. */
export function exportArchive(deps: ExportDependencies, settings: ExportSettings): Promise<ExportReport> {
  return traced('archive.export', { 'chainbook.archive.service': settings.service }, async (span) => {
    const report = await exportRun(deps, settings);
    span?.setAttributes({ 'chainbook.archive.records': report.records, 'chainbook.archive.ok': report.ok });
    return report;
  });
}

async function exportRun(deps: ExportDependencies, settings: ExportSettings): Promise<ExportReport> {
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
