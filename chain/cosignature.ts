/**
 * Witness cosignatures on checkpoints (docs/FORMAT.md section 14,
 * "Witnesses and cosignatures"), in the C2SP tlog-cosignature v1 form over
 * Ed25519: a note signature line `— <witness name> base64(key hash ||
 * timestamp || signature)` where
 *
 *   key hash  = SHA-256(name || 0x0A || 0x04 || the 32-byte public key)[:4]
 *   timestamp = 8 bytes, big-endian, the POSIX seconds of the cosignature
 *   signature = Ed25519 over "cosignature/v1\ntime <timestamp>\n" || the checkpoint's text
 *
 * and the verifier keys (vkeys) that name a log's or a witness's key in
 * configuration: `<name>+<hex key hash>+<base64(type || public key)>`.
 *
 * Pure, like chain/checkpoint.ts: SHA-256 and Ed25519 are given.
 */
import {
  fromBase64,
  isKeyName,
  NOTE_ECDSA,
  parseNote,
  signatureLine,
  toBase64,
  type NoteSignature,
} from './checkpoint.ts';
import { ed25519KeyProblem } from './ed25519Keys.ts';
import type { Sha256 } from './merkle.ts';

/** The key type byte of a cosignature/v1 Ed25519 witness key. */
export const COSIGNATURE_ED25519 = 0x04;
/** The key type byte of a checkpoint signer's Ed25519 key (docs/FORMAT.md section 14, "Checkpoints"). */
export const NOTE_ED25519_TYPE = 0x01;
/** The key type byte of a checkpoint signer's ECDSA key (C2SP signed-note 0x02; the key is its SPKI, DER). */
export const NOTE_ECDSA_TYPE = NOTE_ECDSA;
/** A P-256 SPKI (DER, uncompressed point): this prefix, then 0x04 and the 64 bytes of the point. */
const P256_SPKI_PREFIX = '3059301306072a8648ce3d020106082a8648ce3d030107034200';
const P256_SPKI_BYTES = 91;
export const COSIGNATURE_HEADER = 'cosignature/v1';
const ED25519_PUBLIC_KEY_BYTES = 32;
const ED25519_SIGNATURE_BYTES = 64;
/** 2^63 - 1 bounds the timestamp; seconds past 2^53 cannot be a JavaScript number anyway. */
const MAX_TIMESTAMP_SECONDS = Number.MAX_SAFE_INTEGER;

export type VerifyEd25519 = (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array) => boolean;
export type SignEd25519 = (message: Uint8Array) => Uint8Array;

export interface NoteVerifierKey {
  name: string;
  /** NOTE_ED25519_TYPE for a log's checkpoint key, COSIGNATURE_ED25519 for a witness. */
  type: number;
  keyHash: Uint8Array;
  publicKey: Uint8Array;
}

/**
 * First 4 bytes of SHA-256(name || 0x0A || type || public key); for type 0x02
 * (ECDSA), of SHA-256(SPKI) alone, as signed-note defines that type.
 */
export function noteKeyHash(sha256: Sha256, name: string, type: number, publicKey: Uint8Array): Uint8Array {
  if (type === NOTE_ECDSA_TYPE) return sha256(publicKey).slice(0, 4);
  const nameBytes = new TextEncoder().encode(name);
  const bytes = new Uint8Array(nameBytes.length + 2 + publicKey.length);
  bytes.set(nameBytes, 0);
  bytes[nameBytes.length] = 0x0a;
  bytes[nameBytes.length + 1] = type;
  bytes.set(publicKey, nameBytes.length + 2);
  return sha256(bytes).slice(0, 4);
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

export function formatVerifierKey(sha256: Sha256, name: string, type: number, publicKey: Uint8Array): string {
  const blob = new Uint8Array(1 + publicKey.length);
  blob[0] = type;
  blob.set(publicKey, 1);
  return `${name}+${hex(noteKeyHash(sha256, name, type, publicKey))}+${toBase64(blob)}`;
}

/** Whether `publicKey` is a well-formed key of `type`: 32 bytes for 0x01 and 0x04, a P-256 SPKI for 0x02. */
function keyOfType(type: number | undefined, publicKey: Uint8Array): boolean {
  if (type === NOTE_ED25519_TYPE || type === COSIGNATURE_ED25519)
    return publicKey.length === ED25519_PUBLIC_KEY_BYTES && ed25519KeyProblem(publicKey) === undefined;
  return (
    type === NOTE_ECDSA_TYPE &&
    publicKey.length === P256_SPKI_BYTES &&
    hex(publicKey.subarray(0, P256_SPKI_PREFIX.length / 2)) === P256_SPKI_PREFIX &&
    publicKey[P256_SPKI_PREFIX.length / 2] === 0x04
  );
}

/** A vkey of an Ed25519 key (type 0x01 or 0x04) or an ECDSA P-256 key (type 0x02) whose key hash is right; undefined otherwise. */
export function parseVerifierKey(sha256: Sha256, text: string): NoteVerifierKey | undefined {
  const parts = text.split('+');
  // The base64 part may itself hold '+': the name and the hash never do.
  if (parts.length < 3) return undefined;
  const [name, hashHex] = parts as [string, string];
  const blob = fromBase64(parts.slice(2).join('+'));
  if (!isKeyName(name) || !/^[0-9a-f]{8}$/.test(hashHex) || !blob) return undefined;
  const type = blob[0];
  const publicKey = blob.slice(1);
  if (!keyOfType(type, publicKey)) return undefined;
  const keyHash = noteKeyHash(sha256, name, type!, publicKey);
  if (hex(keyHash) !== hashHex) return undefined;
  return { name, type: type!, keyHash, publicKey };
}

/** The message a witness signs: the header, the time line, then the checkpoint's text. */
export function cosignedMessage(body: string, timestampSeconds: number): Uint8Array {
  return new TextEncoder().encode(`${COSIGNATURE_HEADER}\ntime ${timestampSeconds}\n${body}`);
}

function timestampBytes(seconds: number): Uint8Array {
  const bytes = new Uint8Array(8);
  let rest = seconds;
  for (let i = 7; i >= 0; i--) {
    bytes[i] = rest % 256;
    rest = Math.floor(rest / 256);
  }
  return bytes;
}

function timestampOf(bytes: Uint8Array): number {
  let seconds = 0;
  for (const byte of bytes) seconds = seconds * 256 + byte;
  return seconds;
}

/** The cosignature line of the witness `key` over a checkpoint's text, at `timestampSeconds`. */
export function cosign(
  sha256: Sha256,
  key: { name: string; publicKey: Uint8Array },
  sign: SignEd25519,
  body: string,
  timestampSeconds: number,
): string {
  if (!Number.isSafeInteger(timestampSeconds) || timestampSeconds < 0)
    throw new RangeError(`cosignature time ${timestampSeconds} is not a POSIX second`);
  const signature = sign(cosignedMessage(body, timestampSeconds));
  const value = new Uint8Array(8 + signature.length);
  value.set(timestampBytes(timestampSeconds), 0);
  value.set(signature, 8);
  const line: NoteSignature = {
    name: key.name,
    keyHash: noteKeyHash(sha256, key.name, COSIGNATURE_ED25519, key.publicKey),
    signature: value,
  };
  return signatureLine(line);
}

export interface VerifiedCosignature {
  /** The witness's name. */
  name: string;
  timestampSeconds: number;
  /** The signature line as it appears on the note. */
  line: string;
}

/** Whether `signature` (a parsed note signature) is `witness`'s valid cosignature of `body`. */
export function cosignatureTime(
  signature: NoteSignature,
  body: string,
  witness: NoteVerifierKey,
  verifyEd25519: VerifyEd25519,
): number | undefined {
  if (signature.name !== witness.name || !equal(signature.keyHash, witness.keyHash)) return undefined;
  if (signature.signature.length !== 8 + ED25519_SIGNATURE_BYTES) return undefined;
  const timestampSeconds = timestampOf(signature.signature.slice(0, 8));
  if (timestampSeconds > MAX_TIMESTAMP_SECONDS) return undefined;
  const valid = verifyEd25519(witness.publicKey, cosignedMessage(body, timestampSeconds), signature.signature.slice(8));
  return valid ? timestampSeconds : undefined;
}

/**
 * The cosignatures on a note that verify against the given witness keys, at
 * most one per witness (its first line); lines by unknown keys are ignored,
 * as the format says.
 */
export function verifiedCosignatures(
  note: string,
  witnesses: readonly NoteVerifierKey[],
  verifyEd25519: VerifyEd25519,
): VerifiedCosignature[] {
  const parsed = parseNote(note);
  if (!parsed) return [];
  const found: VerifiedCosignature[] = [];
  for (const witness of witnesses) {
    if (witness.type !== COSIGNATURE_ED25519 || found.some((f) => f.name === witness.name)) continue;
    // Only the witness's first line is verified: a note repeating it costs one verification.
    const signature = parsed.signatures.find((s) => s.name === witness.name && equal(s.keyHash, witness.keyHash));
    const timestampSeconds = signature && cosignatureTime(signature, parsed.body, witness, verifyEd25519);
    if (timestampSeconds !== undefined)
      found.push({ name: witness.name, timestampSeconds, line: signatureLine(signature!) });
  }
  return found;
}
