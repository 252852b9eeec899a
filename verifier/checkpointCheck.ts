/**
 * `audit-verify --checkpoint FILE` (docs/FORMAT.md section 14, "What an
 * auditor's checkpoint proves"): a source of records against a checkpoint
 * the auditor holds. The checkpoint must be signed by an Ed25519 or ECDSA P-256 signer of
 * the registry and, when witness keys are given, carry the quorum's
 * cosignatures; then the chain its origin names must hold at least the
 * checkpoint's size in records, and its first `size` records must hash to
 * the checkpoint's root. A database cut at its tail has fewer records; one
 * restored to an earlier state and appended to since has others after the
 * point it was restored to: either is an integrity failure, found without
 * the archive. It reports what it finds and never throws on bad data.
 */
import { openCheckpoint, parseNote, toBase64, type Checkpoint } from '../chain/checkpoint.ts';
import { verifiedCosignatures, type NoteVerifierKey } from '../chain/cosignature.ts';
import { sha256 } from '../chain/hash.ts';
import { equalBytes } from '../chain/merkle.ts';
import type { SignerRegistry } from '../chain/registry.ts';
import { appendLeaves, edgeRoot, emptyEdge } from '../chain/tiles.ts';
import { leafOf, treeHasher } from '../chain/treeCommit.ts';
import { HASH_PATTERN } from '../chain/record.ts';
import { CodedError } from '../domain/errors.ts';
import type { RecordReader } from './reader.ts';
import { noteKeyOf, verifyRawEd25519 } from './verifyInclusion.ts';

export type CheckpointFindingReason =
  | 'checkpoint-invalid'
  | 'checkpoint-cosignatures-missing'
  | 'behind-checkpoint'
  | 'checkpoint-root-mismatch'
  | 'checkpoint-record-malformed';

export type CheckpointReport =
  | {
      ok: true;
      origin: string;
      chain: string;
      size: number;
      /** Seq of the chain's last record in the source. */
      lastSeq: number;
      signedBy: string;
      cosignedBy: string[];
    }
  | { ok: false; reason: CheckpointFindingReason; message: string; chain?: string; seq?: number };

export interface CheckpointCheckOptions {
  registry: SignerRegistry;
  /** Witness keys (cosignature/v1) whose cosignatures count. */
  witnesses: readonly NoteVerifierKey[];
  /** Cosignatures required (default: every witness given). */
  quorum?: number;
  /**
   * The root of the chain's first `size` records as a pass already read them
   * (audit-verify --archive: ArchiveReader.rootKept); undefined when it did
   * not, and the records are read again.
   */
  rootKept?: (chain: string, size: number) => PrefixRoot | undefined;
}

type PrefixRoot = { root: Uint8Array; lastTs: unknown } | { records: number } | { malformed: number };

/** The checkpoint and the name of the registry's Ed25519 or ECDSA signer whose signature on it verifies. */
function signedCheckpoint(
  note: string,
  registry: SignerRegistry,
): { name: string; checkpoint: Checkpoint } | undefined {
  // Each name once: openCheckpoint verifies that signer's first line.
  const names = new Set((parseNote(note)?.signatures ?? []).map((signature) => signature.name));
  for (const name of names) {
    const entry = registry.signers.get(name);
    const noteKey = entry && noteKeyOf(name, entry.publicKey);
    if (!noteKey) continue;
    const opened = openCheckpoint(note, noteKey.key, sha256, noteKey.verify);
    if (opened.ok) return { name, checkpoint: opened.checkpoint };
  }
  return undefined;
}

/** The leaf and time of a record line; undefined when the line has no record hash (the finding is the caller's). */
function leafOfLine(line: string): { leaf: Uint8Array; ts: unknown } | undefined {
  let record: { hash?: unknown; ts?: unknown };
  try {
    record = JSON.parse(line) as { hash?: unknown; ts?: unknown };
  } catch {
    return undefined;
  }
  const hash = record?.hash;
  return typeof hash === 'string' && HASH_PATTERN.test(hash) ? { leaf: leafOf(hash), ts: record.ts } : undefined;
}

/**
 * The root of the first `size` records of `chain` and the time of the last;
 * or the number of records there are when fewer; or the seq of the first
 * line that is not a record.
 */
async function rootOfPrefix(reader: RecordReader, chain: string, size: number): Promise<PrefixRoot> {
  let edge = emptyEdge();
  let lastTs: unknown;
  for await (const page of reader.pages(chain, 1, size)) {
    const leaves: Uint8Array[] = [];
    for (const line of page) {
      const read = leafOfLine(line);
      if (!read) return { malformed: edge.size + leaves.length + 1 };
      leaves.push(read.leaf);
      lastTs = read.ts;
    }
    edge = appendLeaves(treeHasher, edge, leaves).edge;
  }
  return edge.size < size ? { records: edge.size } : { root: edgeRoot(treeHasher, edge), lastTs };
}

/** The chain's last seq in the source; 0 for a chain the source does not hold. */
async function lastSeqOf(reader: RecordReader, chain: string): Promise<number> {
  try {
    return await reader.lastSeq(chain);
  } catch (error) {
    if (error instanceof CodedError && error.code === 'UNKNOWN_CHAIN') return 0;
    throw error; // the source could not be read: the check could not run
  }
}

export async function checkAgainstCheckpoint(
  reader: RecordReader,
  note: string,
  options: CheckpointCheckOptions,
): Promise<CheckpointReport> {
  const invalid = (message: string): CheckpointReport => ({ ok: false, reason: 'checkpoint-invalid', message });
  if (!parseNote(note)) return invalid('not a signed note (docs/FORMAT.md section 14)');
  const signed = signedCheckpoint(note, options.registry);
  if (!signed) return invalid('no signature by an Ed25519 or ECDSA signer of the registry verifies');
  const { checkpoint } = signed;
  const cosigned = verifiedCosignatures(note, options.witnesses, verifyRawEd25519).map((c) => c.name);
  const quorum = options.quorum ?? options.witnesses.length;
  if (cosigned.length < quorum)
    return {
      ok: false,
      reason: 'checkpoint-cosignatures-missing',
      message: `${cosigned.length} of the ${quorum} witness cosignatures required verify (${cosigned.join(', ') || 'none'})`,
    };
  // The origin is `<CHECKPOINT_ORIGIN>/<chain>`, and a chain's name has no '/'.
  const chain = checkpoint.origin.slice(checkpoint.origin.lastIndexOf('/') + 1);
  if (checkpoint.size === 0) return invalid('a checkpoint of the empty tree proves nothing');
  const lastSeq = await lastSeqOf(reader, chain);
  if (lastSeq < checkpoint.size)
    return {
      ok: false,
      reason: 'behind-checkpoint',
      chain,
      seq: lastSeq + 1,
      message: `the chain ${chain} has ${lastSeq} records, but the checkpoint signed by ${signed.name} holds ${checkpoint.size}: its tail was cut or it was restored to an earlier state`,
    };
  const prefix = options.rootKept?.(chain, checkpoint.size) ?? (await rootOfPrefix(reader, chain, checkpoint.size));
  if ('malformed' in prefix)
    return {
      ok: false,
      reason: 'checkpoint-record-malformed',
      chain,
      seq: prefix.malformed,
      message: `the line of seq ${prefix.malformed} of ${chain} is not a record with a hash: the first ${checkpoint.size} records cannot be the checkpoint's`,
    };
  if ('records' in prefix)
    return {
      ok: false,
      reason: 'behind-checkpoint',
      chain,
      seq: prefix.records + 1,
      message: `the chain ${chain} serves ${prefix.records} of the checkpoint's ${checkpoint.size} records`,
    };
  if (!equalBytes(prefix.root, checkpoint.root))
    return {
      ok: false,
      reason: 'checkpoint-root-mismatch',
      chain,
      seq: checkpoint.size,
      message: `the first ${checkpoint.size} records of ${chain} hash to ${toBase64(prefix.root)}, not to the checkpoint's root ${toBase64(checkpoint.root)}: records up to seq ${checkpoint.size} are not those the checkpoint signed (a restore to an earlier state appended to since, or a rewrite)`,
    };
  // The checkpoint was signed after its last record was written: by a signer not yet retired then.
  const retiredAtMs = options.registry.signers.get(signed.name)?.retiredAtMs ?? null;
  const lastMs = typeof prefix.lastTs === 'string' ? Date.parse(prefix.lastTs) : Number.NaN;
  if (retiredAtMs !== null && !(lastMs < retiredAtMs))
    return {
      ok: false,
      reason: 'checkpoint-invalid',
      chain,
      seq: checkpoint.size,
      message: `the checkpoint is signed by ${signed.name}, retired at ${new Date(retiredAtMs).toISOString()}, not after its last record (seq ${checkpoint.size}, ${String(prefix.lastTs)}) was written: outside the signer's validity window`,
    };
  return {
    ok: true,
    origin: checkpoint.origin,
    chain,
    size: checkpoint.size,
    lastSeq,
    signedBy: signed.name,
    cosignedBy: cosigned,
  };
}
