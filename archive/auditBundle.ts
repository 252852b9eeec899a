/**
 * The auditor bundle (`chainbook audit-bundle`): the archive batches that
 * hold the records of a time range, their signed manifests, signers.json,
 * the ledger proofs whose range lies in those batches, the delivery proofs
 * whose delivery record does (docs/FORMAT.md section 13), the signed
 * checkpoints of the chain's Merkle tree within those batches and the
 * inclusion proof files of the range's first and last records (section 14),
 * bundle.json (the range and what it holds), a README with a script of
 * standard tools that checks them (archive/bundleReadme.ts), and the auditor
 * page, index.html, that checks all of it in a browser (section 15).
 * Everything bundled is verified first, as audit-verify --archive would.
 */
import { readIndex, type IndexedBatch } from './archiveIndex.ts';
import { ArchiveReader } from './archiveReader.ts';
import { bundleReadme } from './bundleReadme.ts';
import { MAX_ARCHIVE_BATCH_BYTES, MAX_MANIFEST_BYTES } from './limits.ts';
import type { ObjectStore } from './objectStore.ts';
import { DELIVERY_PROOF_KIND } from '../chain/deliveryProof.ts';
import type { SignedProof } from '../chain/proof.ts';
import type { Signer } from '../chain/signer.ts';
import { registryJson, type SignerRegistry } from '../chain/registry.ts';
import { CodedError } from '../domain/errors.ts';
import type { LineChecker } from '../verifier/reader.ts';
import { sha256, sha256Hex } from '../chain/hash.ts';
import { openCheckpoint, parseNote, toBase64 } from '../chain/checkpoint.ts';
import { noteKeyOf, verifyInclusionFile } from '../verifier/verifyInclusion.ts';
import { verifyProof } from '../verifier/verifyProof.ts';
import { verify, type Finding } from '../verifier/verify.ts';
import type { Compression } from './objectStore.ts';

/** The auditor's check script (bash and standard tools), shipped beside this file; the caller reads it. */
export const AUDITOR_CHECK_SCRIPT_URL = new URL('./auditorCheck.sh', import.meta.url);

/**
 * Where the bundle is written: a new, empty folder (infra/adapters/files/bundleFolder.ts),
 * or a .tar.gz streamed as it is written (infra/adapters/files/bundleTarGzip.ts), whose
 * writes resolve when the reader has taken the bytes: the bundle awaits each one.
 */
export interface BundleOutput {
  /** Where it is, for messages and the report. */
  readonly description: string;
  isEmpty(): boolean;
  /** Makes a folder (and its parents) at a `/`-separated path inside the bundle. */
  makeFolder(path: string): void | Promise<void>;
  /** Writes one file at a `/`-separated path inside the bundle, creating folders. */
  write(path: string, content: Uint8Array | string, options?: { executable?: boolean }): void | Promise<void>;
}

/** Checkpoints one bundle holds: the newest of its batches' range. */
export const MAX_BUNDLE_CHECKPOINTS = 1000;

/** Where the chain's Merkle tree is read from (the database: infra/adapters/sql/bundleTree.ts). */
export interface BundleTreeSource {
  /** The signed checkpoints of `chain` whose tree size is in [fromSeq, toSeq], in size order, the newest `limit`. */
  checkpoints(chain: string, fromSeq: number, toSeq: number, limit: number): Promise<{ size: number; note: string }[]>;
  /** The inclusion proof file (section 14) of record `seq` against the least checkpoint covering it; undefined when none does yet. */
  inclusionProof(chain: string, seq: number): Promise<string | undefined>;
  /** The RFC 9162 consistency proof between two tree sizes of `chain` and both roots. */
  consistencyProof(
    chain: string,
    oldSize: number,
    newSize: number,
  ): Promise<{ oldRoot: Uint8Array; newRoot: Uint8Array; proof: Uint8Array[] }>;
}

export interface BundleOptions {
  store: ObjectStore;
  registry: SignerRegistry;
  service: string;
  chain: string;
  fromTs: string;
  toTs: string;
  out: BundleOutput;
  /** The auditor's check script (AUDITOR_CHECK_SCRIPT_URL's text). */
  checkScript: string;
  compression: Compression;
  /** Proof documents to consider (a proofs folder's files); those whose range lies in the bundle are included. */
  proofTexts: readonly { name: string; text: string }[];
  checker: LineChecker;
  /** Signs a new ledger proof over the bundle's seq range (records it in the chain). */
  issueProof?: ((fromSeq: number, toSeq: number) => Promise<SignedProof>) | undefined;
  version: string;
  nowMs: () => number;
  /** The chain's tree, for its checkpoints and proof files; without it the bundle holds none. */
  tree?: BundleTreeSource | undefined;
  /** The auditor page (infra/adapters/files/auditorPage.ts), written as index.html. */
  auditorPage?: string | undefined;
  /**
   * The chain's signer: signs the exact bytes of bundle.json into bundle.sig
   * (docs/FORMAT.md section 15, "A cut bundle"), so that the range and the
   * batches it names cannot be edited to match a bundle cut at its tail.
   */
  signer?: Pick<Signer, 'signMessage'> | undefined;
}

export interface BundleReport {
  ok: boolean;
  finding: Finding | undefined;
  outDir: string;
  fromSeq: number;
  toSeq: number;
  batches: string[];
  proofs: string[];
  deliveryProofs: string[];
  skippedProofs: { name: string; reason: string }[];
  checkpoints: number[];
  inclusionProofs: number[];
  /** `<old>-<new>` of each consistency proof written, between consecutive checkpoints. */
  consistencyProofs: string[];
}

/** Batches whose first record's date allows a record in [fromTs, toTs]: by the dates in the keys, before reading any. */
function candidates(batches: readonly IndexedBatch[], fromTs: string, toTs: string): IndexedBatch[] {
  return batches.filter(
    (batch, index) =>
      batch.date <= toTs.slice(0, 10) &&
      (index === batches.length - 1 || batches[index + 1]!.date >= fromTs.slice(0, 10)),
  );
}

interface Range {
  fromSeq: number | undefined;
  toSeq: number | undefined;
}

/** Verifies the candidate batches and finds the seqs committed in the time range. */
async function verifiedRange(
  reader: ArchiveReader,
  options: BundleOptions,
  among: readonly IndexedBatch[],
): Promise<Range & { finding: Finding | undefined }> {
  const range: Range = { fromSeq: undefined, toSeq: undefined };
  const report = await verify(reader, options.checker, {
    chains: [options.chain],
    fromSeq: among[0]!.fromSeq,
    toSeq: among.at(-1)!.toSeq,
    onVerifiedPage: async (_chain, lines) => {
      for (const line of lines) {
        const { seq, ts } = JSON.parse(line) as { seq: number; ts: string };
        if (ts < options.fromTs || ts > options.toTs) continue;
        range.fromSeq ??= seq;
        range.toSeq = seq;
      }
    },
  });
  return { ...range, finding: report.finding };
}

/**
 * Copies the selected batches and manifests, read again from the store (the
 * verification read them once, but holding every candidate batch until the
 * range is known would hold up to MAX_ARCHIVE_BATCH_BYTES each): each copy
 * must have the SHA-256 its verification saw, so the bundle holds exactly
 * what was verified.
 */
async function copyBatches(
  options: BundleOptions,
  reader: ArchiveReader,
  batches: readonly IndexedBatch[],
): Promise<void> {
  for (const batch of batches) {
    for (const [key, maxBytes] of [
      [batch.key, MAX_ARCHIVE_BATCH_BYTES],
      [batch.manifestKey, MAX_MANIFEST_BYTES],
    ] as const) {
      const bytes = await options.store.get(key, maxBytes);
      if (bytes === undefined)
        throw new CodedError(
          'ARCHIVE_CHANGED',
          `${key} disappeared from ${options.store.description} while the bundle was made`,
        );
      const verified = reader.verifiedSha256(key);
      if (verified === undefined || sha256Hex(bytes) !== verified)
        throw new CodedError(
          'ARCHIVE_CHANGED',
          `${key} in ${options.store.description} changed after it was verified, while the bundle was made`,
          { key },
        );
      await options.out.write(`batches/${key}`, bytes);
    }
  }
}

/** The seqs a proof stands on: a ledger proof's range, a delivery proof's delivery record. */
function proofSeqs(proof: Record<string, unknown>): { kind: 'ledger' | 'delivery'; from: number; to: number } {
  const number = (value: unknown, otherwise: number) => (typeof value === 'number' ? value : otherwise);
  if (proof['kind'] === DELIVERY_PROOF_KIND) {
    const seq = number(proof['delivery_seq'], 0);
    return { kind: 'delivery', from: seq, to: seq };
  }
  return { kind: 'ledger', from: number(proof['from_seq'], 0), to: number(proof['to_seq'], Infinity) };
}

/** Proofs whose seqs the bundle holds, each verified against the archive (signature, and what it signs recomputed from the records). */
async function bundleProofs(
  options: BundleOptions,
  reader: ArchiveReader,
  batchesFrom: number,
  batchesTo: number,
  texts: readonly { name: string; text: string }[],
): Promise<Pick<BundleReport, 'proofs' | 'deliveryProofs' | 'skippedProofs'>> {
  const found = { ledger: [] as string[], delivery: [] as string[] };
  const skippedProofs: { name: string; reason: string }[] = [];
  await options.out.makeFolder('proofs');
  await options.out.makeFolder('delivery-proofs');
  for (const { name, text } of texts) {
    let proof: Record<string, unknown>;
    try {
      proof = JSON.parse(text) as Record<string, unknown>;
    } catch {
      skippedProofs.push({ name, reason: 'not JSON' });
      continue;
    }
    const seqs = proofSeqs(proof);
    const proofId = String(proof['proof_id']);
    if (proof['chain'] !== options.chain || seqs.from < batchesFrom || seqs.to > batchesTo) continue;
    // The same proof from two sources (a proofs folder and the database): once.
    if (found[seqs.kind].includes(proofId)) continue;
    const checked = await verifyProof(text, { registry: options.registry }, { reader, checker: options.checker });
    if (!checked.ok) {
      skippedProofs.push({ name, reason: `${checked.finding!.reason}: ${checked.finding!.message}` });
      continue;
    }
    const folder = seqs.kind === 'delivery' ? 'delivery-proofs' : 'proofs';
    await options.out.write(`${folder}/${proofId}.json`, `${JSON.stringify(proof, null, 2)}\n`);
    found[seqs.kind].push(proofId);
  }
  return { proofs: found.ledger, deliveryProofs: found.delivery, skippedProofs };
}

/** Why a checkpoint note is not signed by an Ed25519 or ECDSA signer of the registry, or undefined when it is. */
function checkpointProblem(registry: SignerRegistry, note: string): string | undefined {
  const names = parseNote(note)?.signatures.map((signature) => signature.name) ?? [];
  for (const name of names) {
    const signer = registry.signers.get(name);
    const noteKey = signer && noteKeyOf(name, signer.publicKey);
    if (!noteKey) continue;
    const opened = openCheckpoint(note, noteKey.key, sha256, noteKey.verify);
    return opened.ok ? undefined : opened.reason;
  }
  return 'no signature by an Ed25519 or ECDSA signer of the registry';
}

/** The inclusion proof file of `seq`, when it verifies under the registry signer its checkpoint names. */
function proofFileProblem(registry: SignerRegistry, text: string): string | undefined {
  const note = text.slice(text.indexOf('\n\n') + 2);
  const name = parseNote(note)?.signatures.find((signature) => registry.signers.has(signature.name))?.name;
  const signer = name === undefined ? undefined : registry.signers.get(name);
  if (!signer) return 'its checkpoint is not signed by a signer of the registry';
  const checked = verifyInclusionFile(text, { name: signer.kid, publicKey: signer.publicKey });
  return checked.ok ? undefined : checked.reason;
}

/**
 * The checkpoints within the bundle's batches and the inclusion proof files
 * of its first and last records (docs/FORMAT.md section 14), each checked
 * against the registry before it is written; one that does not check is left
 * out and said so.
 */
async function bundleTree(
  options: BundleOptions,
  batchesFrom: number,
  batchesTo: number,
  range: { fromSeq: number; toSeq: number },
): Promise<Pick<BundleReport, 'checkpoints' | 'inclusionProofs' | 'consistencyProofs' | 'skippedProofs'>> {
  const written = {
    checkpoints: [] as number[],
    inclusionProofs: [] as number[],
    consistencyProofs: [] as string[],
    skippedProofs: [] as BundleReport['skippedProofs'],
  };
  if (!options.tree) return written;
  await options.out.makeFolder('checkpoints');
  await options.out.makeFolder('inclusion');
  const origins = new Map<number, string>();
  for (const { size, note } of await options.tree.checkpoints(
    options.chain,
    batchesFrom,
    batchesTo,
    MAX_BUNDLE_CHECKPOINTS,
  )) {
    const problem = checkpointProblem(options.registry, note);
    if (problem) {
      written.skippedProofs.push({ name: `checkpoint ${size}`, reason: problem });
      continue;
    }
    await options.out.write(`checkpoints/${size}.checkpoint`, note);
    written.checkpoints.push(size);
    origins.set(size, note.slice(0, note.indexOf('\n')));
  }
  // Between each two consecutive checkpoints, the proof that the later tree extends the earlier (section 15).
  if (written.checkpoints.length > 1) await options.out.makeFolder('consistency');
  for (const [index, newSize] of written.checkpoints.entries()) {
    const oldSize = written.checkpoints[index - 1];
    if (oldSize === undefined) continue;
    const { oldRoot, newRoot, proof } = await options.tree.consistencyProof(options.chain, oldSize, newSize);
    const name = `${oldSize}-${newSize}`;
    const document = {
      chain: options.chain,
      origin: origins.get(newSize)!,
      oldSize,
      newSize,
      oldRoot: toBase64(oldRoot),
      newRoot: toBase64(newRoot),
      proof: proof.map(toBase64),
    };
    await options.out.write(`consistency/${name}.json`, `${JSON.stringify(document, null, 2)}\n`);
    written.consistencyProofs.push(name);
  }
  for (const seq of new Set([range.fromSeq, range.toSeq])) {
    const text = await options.tree.inclusionProof(options.chain, seq);
    if (text === undefined) continue;
    const problem = proofFileProblem(options.registry, text);
    if (problem) {
      written.skippedProofs.push({ name: `inclusion proof of seq ${seq}`, reason: problem });
      continue;
    }
    await options.out.write(`inclusion/${seq}.tlog-proof`, text);
    written.inclusionProofs.push(seq);
  }
  return written;
}

export async function writeAuditBundle(options: BundleOptions): Promise<BundleReport> {
  const outDir = options.out.description;
  if (!options.out.isEmpty())
    throw new CodedError('USAGE', `${outDir} is not empty: the bundle goes into a new folder`);
  const index = await readIndex(options.store, options.service);
  const among = candidates(index.chains.get(options.chain) ?? [], options.fromTs, options.toTs);
  const empty = {
    ok: false,
    outDir,
    fromSeq: 0,
    toSeq: 0,
    batches: [],
    proofs: [],
    deliveryProofs: [],
    skippedProofs: [],
    checkpoints: [],
    inclusionProofs: [],
    consistencyProofs: [],
  };
  if (among.length === 0)
    throw new CodedError(
      'BUNDLE_RANGE_EMPTY',
      `the archive holds no batch of ${options.service}/${options.chain} from ${options.fromTs} to ${options.toTs}`,
    );
  const reader = new ArchiveReader({
    store: options.store,
    compression: options.compression,
    registry: options.registry,
    index,
  });
  const range = await verifiedRange(reader, options, among);
  if (range.finding) return { ...empty, finding: range.finding };
  if (range.fromSeq === undefined || range.toSeq === undefined)
    throw new CodedError(
      'BUNDLE_RANGE_EMPTY',
      `no archived record of ${options.chain} was committed from ${options.fromTs} to ${options.toTs}`,
    );
  const selected = among.filter((batch) => batch.toSeq >= range.fromSeq! && batch.fromSeq <= range.toSeq!);
  await copyBatches(options, reader, selected);
  await options.out.write('signers.json', `${JSON.stringify(registryJson(options.registry), null, 2)}\n`);
  const issued = options.issueProof ? await options.issueProof(range.fromSeq, range.toSeq) : undefined;
  const texts = [
    ...options.proofTexts,
    ...(issued ? [{ name: `issued ${issued.proof_id}`, text: JSON.stringify(issued) }] : []),
  ];
  const proofs = await bundleProofs(options, reader, selected[0]!.fromSeq, selected.at(-1)!.toSeq, texts);
  const tree = await bundleTree(options, selected[0]!.fromSeq, selected.at(-1)!.toSeq, {
    fromSeq: range.fromSeq,
    toSeq: range.toSeq,
  });
  const facts = {
    service: options.service,
    chain: options.chain,
    fromTs: options.fromTs,
    toTs: options.toTs,
    fromSeq: range.fromSeq,
    toSeq: range.toSeq,
    batchesFromSeq: selected[0]!.fromSeq,
    batchesToSeq: selected.at(-1)!.toSeq,
    batches: selected.length,
    proofs: proofs.proofs.length,
    deliveryProofs: proofs.deliveryProofs.length,
    checkpoints: tree.checkpoints.length,
    inclusionProofs: tree.inclusionProofs.length,
    createdAt: new Date(options.nowMs()).toISOString(),
    version: options.version,
  };
  // What the check script compares the batches with, so that a batch removed at either end is seen (archive/auditorCheck.sh).
  const described = `${JSON.stringify(
    {
      service: facts.service,
      chain: facts.chain,
      from_ts: facts.fromTs,
      to_ts: facts.toTs,
      from_seq: facts.fromSeq,
      to_seq: facts.toSeq,
      batches_from_seq: facts.batchesFromSeq,
      batches_to_seq: facts.batchesToSeq,
      batches: selected.map((batch) => batch.key),
      checkpoints: tree.checkpoints,
      inclusion: tree.inclusionProofs,
      consistency: tree.consistencyProofs,
      created_at: facts.createdAt,
    },
    null,
    2,
  )}\n`;
  await options.out.write('bundle.json', described);
  if (options.signer) {
    // A document signature (section 8's form) over bundle.json's bytes, by the registry signer at created_at.
    const signature = await options.signer.signMessage(new TextEncoder().encode(described));
    await options.out.write(
      'bundle.sig',
      `${JSON.stringify({ signer_kid: signature.kid, alg: signature.alg, signature: signature.value }, null, 2)}\n`,
    );
  }
  await options.out.write('README.md', bundleReadme(facts, options.checkScript));
  if (options.auditorPage !== undefined) await options.out.write('index.html', options.auditorPage);
  await options.out.write(
    'check.sh',
    `#!/usr/bin/env bash\n# The README's check, as a script: bash check.sh\ncd "$(dirname "$0")"\n${options.checkScript}`,
    { executable: true },
  );
  return {
    ok: true,
    finding: undefined,
    outDir,
    fromSeq: range.fromSeq,
    toSeq: range.toSeq,
    batches: selected.map((batch) => batch.key),
    ...proofs,
    skippedProofs: [...proofs.skippedProofs, ...tree.skippedProofs],
    checkpoints: tree.checkpoints,
    inclusionProofs: tree.inclusionProofs,
    consistencyProofs: tree.consistencyProofs,
  };
}
