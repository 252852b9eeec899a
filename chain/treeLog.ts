/**
 * The read side of each chain's Merkle tree (docs/FORMAT.md section 14):
 * signed checkpoints made at most every CHECKPOINT_INTERVAL, roots, and
 * inclusion and consistency proofs, all read from the stored tiles. The
 * storage is an interface (infra/adapters/sql implements it); the math is
 * chain/merkle.ts and chain/tiles.ts.
 */
import { ChainError } from './errors.ts';
import { sha256 } from './hash.ts';
import {
  checkpointBody,
  isKeyName,
  NOTE_ECDSA,
  noteKeyId,
  signedNote,
  type Checkpoint,
  type NoteKey,
} from './checkpoint.ts';
import { consistencyProof, inclusionProof, treeRoot } from './merkle.ts';
import type { Signer } from './signer.ts';
import { tileSubtreeReader, type TileReader } from './tiles.ts';
import { treeHasher } from './treeCommit.ts';

export interface StoredCheckpoint {
  size: number;
  /** The note as published: the log's signature, then the witnesses' cosignatures (if any). */
  note: string;
  /** Witnesses whose cosignatures the note carries. */
  cosigners: number;
  createdAtMs: number;
}

export interface TreeLogStorage {
  /** Leaves of the chain's stored tree. */
  treeSize(chain: string): Promise<number>;
  tileReader(chain: string): TileReader;
  /** The latest checkpoint with at least `quorum` cosigners (default 0). */
  latestCheckpoint(chain: string, quorum?: number): Promise<StoredCheckpoint | undefined>;
  /** The checkpoint of exactly `size` leaves, if one was made. */
  checkpointAt(chain: string, size: number): Promise<StoredCheckpoint | undefined>;
  /** The least checkpoint of at least `size` leaves with at least `quorum` cosigners (default 0). */
  checkpointCovering(chain: string, size: number, quorum?: number): Promise<StoredCheckpoint | undefined>;
  /** False when a checkpoint of that size exists already (another process made it). */
  insertCheckpoint(
    chain: string,
    size: number,
    note: string,
    createdAtMs: number,
    cosignatures?: readonly string[],
  ): Promise<boolean>;
  /**
   * Replaces a stored checkpoint's cosignature lines and count by what
   * `merge` makes of the signed note and the lines stored, in one atomic
   * step (no other merge of that checkpoint in between).
   */
  mergeCosignatures(
    chain: string,
    size: number,
    merge: (note: string, cosignatures: string) => { cosignatures: string; cosigners: number },
  ): Promise<void>;
}

/** Collects witnesses' cosignature lines for a freshly signed checkpoint (chain/cosigning.ts). */
export type Cosign = (note: string, checkpoint: Checkpoint) => Promise<string[]>;

export interface CheckpointPolicy {
  /** The least time between two checkpoints of a chain, unless `intervalRecords` records came first. */
  intervalMs: number;
  intervalRecords: number;
  /** The origin line of `chain`'s checkpoints. */
  origin(chain: string): string;
}

export type { NoteKey };

export function checkpointOrigin(prefix: string, chain: string): string {
  return `${prefix}/${chain}`;
}

function sizeError(message: string, details: Record<string, unknown>): ChainError {
  return new ChainError('TREE_SIZE_OUT_OF_RANGE', message, details);
}

/** The root of the tree of `size` leaves, which must be within the stored tree. */
export async function rootAt(storage: TreeLogStorage, chain: string, size: number): Promise<Uint8Array> {
  const stored = await storage.treeSize(chain);
  if (size > stored) throw sizeError(`the tree of ${chain} has ${stored} leaves, not ${size}`, { size, stored });
  return treeRoot(treeHasher, tileSubtreeReader(treeHasher, storage.tileReader(chain)), size);
}

/**
 * Makes and stores a checkpoint of the chain's tree when one is due: the tree
 * grew since the last, and `intervalMs` passed or `intervalRecords` records
 * came since, with the cosignatures `cosign` collects. Returns the new note
 * as published, or undefined when none was due (or another process made the
 * same one).
 */
export async function checkpointIfDue(
  storage: TreeLogStorage,
  signer: Pick<Signer, 'kid' | 'algorithm' | 'signMessage'>,
  key: NoteKey,
  policy: CheckpointPolicy,
  chain: string,
  nowMs: number,
  cosign?: Cosign,
): Promise<string | undefined> {
  const size = await storage.treeSize(chain);
  if (size === 0) return undefined;
  const last = await storage.latestCheckpoint(chain);
  if (last) {
    if (size <= last.size) return undefined;
    const due = size - last.size >= policy.intervalRecords || nowMs - last.createdAtMs >= policy.intervalMs;
    if (!due) return undefined;
  }
  const checkpoint: Checkpoint = { origin: policy.origin(chain), size, root: await rootAt(storage, chain, size) };
  const note = await signCheckpoint(signer, key, checkpoint);
  const cosignatures = cosign ? await cosign(note, checkpoint) : [];
  const published = `${note}${cosignatures.join('')}`;
  return (await storage.insertCheckpoint(chain, size, note, nowMs, cosignatures)) ? published : undefined;
}

/**
 * The signed note of a checkpoint by the chain's signer (docs/FORMAT.md
 * section 14): an Ed25519 signer as note type 0x01, an ECDSA P-256 one as
 * type 0x02 (its signMessage is ECDSA over SHA-256 of the text, DER, low-S:
 * the type's own form). RSA has no note signature type (CHECKPOINT_SIGNER_UNSUPPORTED).
 */
export async function signCheckpoint(
  signer: Pick<Signer, 'kid' | 'algorithm' | 'signMessage'>,
  key: NoteKey,
  checkpoint: Checkpoint,
): Promise<string> {
  const expected = key.type === NOTE_ECDSA ? 'ecdsa-p256-sha256' : 'ed25519';
  if (signer.algorithm !== expected || signer.kid !== key.name || !isKeyName(key.name))
    throw new ChainError(
      'CHECKPOINT_SIGNER_UNSUPPORTED',
      `checkpoints are signed with Ed25519 or ECDSA P-256 only, by the key named; signer ${signer.kid} is ${signer.algorithm}`,
      { kid: signer.kid, algorithm: signer.algorithm },
    );
  const body = checkpointBody(checkpoint);
  const signature = await signer.signMessage(new TextEncoder().encode(body));
  return signedNote(body, [
    { name: key.name, keyHash: noteKeyId(sha256, key), signature: Buffer.from(signature.value, 'base64') },
  ]);
}

/** RFC 9162 inclusion proof of leaf `index` (record seq index + 1) in the tree of `size` leaves. */
export async function proveInclusion(
  storage: TreeLogStorage,
  chain: string,
  index: number,
  size: number,
): Promise<Uint8Array[]> {
  const stored = await storage.treeSize(chain);
  if (!(index >= 0 && index < size && size <= stored))
    throw sizeError(`no leaf ${index} in a tree of ${size} leaves of ${chain} (stored: ${stored})`, {
      index,
      size,
      stored,
    });
  return inclusionProof(treeHasher, tileSubtreeReader(treeHasher, storage.tileReader(chain)), index, size);
}

/** RFC 9162 consistency proof from the tree of `first` leaves to the tree of `second`. */
export async function proveConsistency(
  storage: TreeLogStorage,
  chain: string,
  first: number,
  second: number,
): Promise<Uint8Array[]> {
  const stored = await storage.treeSize(chain);
  if (!(first >= 1 && first <= second && second <= stored))
    throw sizeError(`no consistency proof from ${first} to ${second} leaves of ${chain} (stored: ${stored})`, {
      first,
      second,
      stored,
    });
  return consistencyProof(treeHasher, tileSubtreeReader(treeHasher, storage.tileReader(chain)), first, second);
}
