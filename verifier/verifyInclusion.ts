/**
 * `chainbook verify-inclusion`: checks an inclusion proof file (docs/FORMAT.md
 * section 14, "Proof files") offline, with nothing but the file and the
 * checkpoint signer's name and public key (Ed25519 or ECDSA P-256): its
 * signature, the record's form and hash (sections 1 and 2), that its leaf is
 * at the record's seq - 1, and that the proof leads from its leaf to the
 * checkpoint's root. It reports what it finds and never throws on bad data.
 */
import { createPublicKey, verify as verifySignature, type KeyObject } from 'node:crypto';
import {
  NOTE_ECDSA,
  NOTE_ED25519,
  openCheckpoint,
  type NoteKey,
  type VerifyNoteSignature,
} from '../chain/checkpoint.ts';
import { verifyMessageSignature } from '../chain/signature.ts';
import { sha256 } from '../chain/hash.ts';
import { verifyInclusion } from '../chain/merkle.ts';
import { parseTlogProof } from '../chain/proofFile.ts';
import { treeHasher } from '../chain/treeCommit.ts';
import { checkLine } from './line.ts';

export interface InclusionKey {
  /** The note key's name: the signer's kid. */
  name: string;
  publicKey: KeyObject;
}

export type InclusionReport =
  | { ok: true; chain: string; seq: number; hash: string; origin: string; treeSize: number }
  | { ok: false; reason: string };

/** The 32 bytes of an Ed25519 public key; undefined for another kind of key. */
export function rawEd25519(publicKey: KeyObject): Uint8Array | undefined {
  if (publicKey.asymmetricKeyType !== 'ed25519') return undefined;
  return publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
}

/** The DER prefix of an Ed25519 SubjectPublicKeyInfo: the 32 key bytes follow it. */
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/** Ed25519 verification with a raw 32-byte public key (a note's verifier key); false for anything malformed. */
export function verifyRawEd25519(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== 32) return false;
  try {
    const key = { key: Buffer.concat([ED25519_SPKI_PREFIX, publicKey]), format: 'der', type: 'spki' } as const;
    return verifySignature(null, message, key, signature);
  } catch {
    return false;
  }
}

/** Whether a key is ECDSA on P-256 (the registry's `ecdsa-p256-sha256`). */
function isP256(publicKey: KeyObject): boolean {
  return publicKey.asymmetricKeyType === 'ec' && publicKey.asymmetricKeyDetails?.namedCurve === 'prime256v1';
}

/**
 * A signer's checkpoint note key (docs/FORMAT.md section 14): type 0x01 with
 * its 32 bytes for Ed25519, type 0x02 with its SPKI (DER) for ECDSA P-256,
 * and the verification of a note signature by it (ECDSA: DER over SHA-256
 * of the text, low-S only, as section 3). Undefined for RSA, which no note
 * signature type carries.
 */
export function noteKeyOf(
  name: string,
  publicKey: KeyObject,
): { key: NoteKey; verify: VerifyNoteSignature } | undefined {
  const raw = rawEd25519(publicKey);
  if (raw)
    return {
      key: { name, type: NOTE_ED25519, publicKey: raw },
      verify: (_raw, message, signature, type) =>
        type === NOTE_ED25519 && verifyMessageSignature('ed25519', publicKey, message, signature),
    };
  if (!isP256(publicKey)) return undefined;
  return {
    key: { name, type: NOTE_ECDSA, publicKey: publicKey.export({ format: 'der', type: 'spki' }) },
    verify: (_spki, message, signature, type) =>
      type === NOTE_ECDSA && verifyMessageSignature('ecdsa-p256-sha256', publicKey, message, signature),
  };
}

/** A note signature by a raw verifier key of type 0x01 (32 bytes) or 0x02 (P-256 SPKI); false for anything malformed. */
export const verifyNoteSignature: VerifyNoteSignature = (publicKey, message, signature, type) => {
  if (type === NOTE_ED25519) return verifyRawEd25519(publicKey, message, signature);
  if (type !== NOTE_ECDSA) return false;
  try {
    const key = createPublicKey({ key: Buffer.from(publicKey), format: 'der', type: 'spki' });
    return isP256(key) && verifyMessageSignature('ecdsa-p256-sha256', key, message, signature);
  } catch {
    return false;
  }
};

export function verifyInclusionFile(text: string, key: InclusionKey, origin?: string): InclusionReport {
  const proof = parseTlogProof(text);
  if (!proof) return { ok: false, reason: 'not an inclusion proof file (docs/FORMAT.md section 14)' };
  const noteKey = noteKeyOf(key.name, key.publicKey);
  if (!noteKey) return { ok: false, reason: 'the public key is neither an Ed25519 nor an ECDSA P-256 key' };
  const opened = openCheckpoint(proof.checkpoint, noteKey.key, sha256, noteKey.verify);
  if (!opened.ok) return { ok: false, reason: `checkpoint: ${opened.reason}` };
  const { checkpoint } = opened;
  if (origin !== undefined && checkpoint.origin !== origin)
    return { ok: false, reason: `checkpoint of ${JSON.stringify(checkpoint.origin)}, not ${JSON.stringify(origin)}` };
  const line = checkLine(proof.record, { signers: new Map() }, undefined, { signatures: false });
  if (!line.ok) return { ok: false, reason: `record: ${line.malformed}` };
  if (!line.hashOk) return { ok: false, reason: `record ${line.facts.seq}: its hash does not recompute` };
  if (proof.index !== line.facts.seq - 1)
    return { ok: false, reason: `index ${proof.index} is not the leaf of seq ${line.facts.seq}` };
  const leaf = treeHasher.leaf(Buffer.from(line.facts.hash, 'hex'));
  if (!verifyInclusion(treeHasher, proof.index, checkpoint.size, leaf, proof.hashes, checkpoint.root))
    return { ok: false, reason: `the inclusion proof does not lead to the root of tree size ${checkpoint.size}` };
  return {
    ok: true,
    chain: line.facts.chain,
    seq: line.facts.seq,
    hash: line.facts.hash,
    origin: checkpoint.origin,
    treeSize: checkpoint.size,
  };
}
