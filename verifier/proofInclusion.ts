/**
 * The inclusion proof a signed ledger or delivery proof carries
 * (docs/FORMAT.md section 14, "Inclusion in signed proofs"): the unsigned
 * member `inclusion`, an inclusion proof file (C2SP tlog-proof) of the record
 * the proof attests (a ledger proof's record at `to_seq`, a delivery proof's
 * `delivery.prepared` at `delivery_seq`) against a signed checkpoint. It is
 * outside `canonical_payload` because the checkpoint comes after the proof
 * is signed; it needs no trust in whoever attached it: the record must be the
 * one the signed members name (chain, seq and hash), the checkpoint must be
 * signed by the chain's Ed25519 or ECDSA P-256 signer, and the proof must lead from the
 * record's leaf to its root. A proof without `inclusion` (every proof made
 * before it existed) verifies as before. Returns a finding, never throws.
 */
import { openCheckpoint, parseNote, type Checkpoint } from '../chain/checkpoint.ts';
import { sha256 } from '../chain/hash.ts';
import { verifyInclusion } from '../chain/merkle.ts';
import { parseTlogProof } from '../chain/proofFile.ts';
import { treeHasher } from '../chain/treeCommit.ts';
import { checkLine } from './line.ts';
import { fail, type ProofFinding, type ProofKey } from './proofChecks.ts';
import { noteKeyOf } from './verifyInclusion.ts';

export interface InclusionFacts {
  origin: string;
  treeSize: number;
  /** The note key whose signature on the checkpoint verified. */
  signedBy: string;
}

/** The checkpoint, opened with a registry Ed25519 or ECDSA signer named on it, or with the given public key. */
function openedCheckpoint(
  note: string,
  key: ProofKey,
  recordTsMs: number,
): { name: string; checkpoint: Checkpoint } | undefined {
  // Each name once: openCheckpoint verifies that key's first line.
  const names = new Set((parseNote(note)?.signatures ?? []).map((signature) => signature.name));
  for (const name of names) {
    const entry = 'registry' in key ? key.registry.signers.get(name) : undefined;
    // The checkpoint covers the record, so it was signed after it: by a signer not retired before the record's time.
    if (entry && entry.retiredAtMs !== null && !(recordTsMs < entry.retiredAtMs)) continue;
    const publicKey = 'registry' in key ? entry?.publicKey : key.publicKey;
    const noteKey = publicKey && noteKeyOf(name, publicKey);
    if (!noteKey) continue;
    const opened = openCheckpoint(note, noteKey.key, sha256, noteKey.verify);
    if (opened.ok) return { name, checkpoint: opened.checkpoint };
  }
  return undefined;
}

/**
 * Checks the `inclusion` member of a proof document against the record the
 * proof's signed members name. Undefined facts and finding: no `inclusion`.
 */
export function checkProofInclusion(
  inclusion: unknown,
  attested: { chain: string; seq: number; hash: string },
  key: ProofKey,
): { finding?: ProofFinding; facts?: InclusionFacts } {
  if (inclusion === undefined) return {};
  const file = typeof inclusion === 'string' ? parseTlogProof(inclusion) : undefined;
  if (!file)
    return { finding: fail('malformed-proof', 'inclusion is not an inclusion proof file (docs/FORMAT.md section 14)') };
  const line = checkLine(file.record, { signers: new Map() }, undefined, { signatures: false });
  if (!line.ok || !line.hashOk)
    return {
      finding: fail('inclusion-invalid', "the inclusion proof's record is malformed or its hash does not recompute"),
    };
  const { chain, seq, hash } = line.facts;
  if (chain !== attested.chain || seq !== attested.seq || hash !== attested.hash)
    return {
      finding: fail(
        'inclusion-invalid',
        `the inclusion proof is of ${chain} seq ${seq} (hash ${hash}), not of the attested ${attested.chain} seq ${attested.seq}`,
      ),
    };
  const opened = openedCheckpoint(file.checkpoint, key, Date.parse(line.facts.ts));
  if (!opened)
    return {
      finding: fail(
        'inclusion-invalid',
        "the inclusion proof's checkpoint is not signed by the key given (a registry signer not retired before the record)",
      ),
    };
  const { checkpoint } = opened;
  if (checkpoint.origin.slice(checkpoint.origin.lastIndexOf('/') + 1) !== chain)
    return { finding: fail('inclusion-invalid', `the checkpoint of ${checkpoint.origin} is not of chain ${chain}`) };
  const leaf = treeHasher.leaf(Buffer.from(hash, 'hex'));
  if (
    file.index !== seq - 1 ||
    !verifyInclusion(treeHasher, file.index, checkpoint.size, leaf, file.hashes, checkpoint.root)
  )
    return {
      finding: fail(
        'inclusion-invalid',
        `the inclusion proof does not lead to the root of tree size ${checkpoint.size}`,
      ),
    };
  return { facts: { origin: checkpoint.origin, treeSize: checkpoint.size, signedBy: opened.name } };
}
