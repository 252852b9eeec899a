/**
 * Checkpoints (docs/FORMAT.md section 14, "Checkpoints"): a signed note
 * whose text is the origin line, the tree size and the base64 root hash,
 * followed by a blank line and one signature line per signer,
 * `— <name> <base64(key hash || signature)>`. The key hash of an Ed25519
 * note key is the first 4 bytes of SHA-256(name || 0x0A || 0x01 || the 32
 * bytes of the public key), and the signature is Ed25519 over the note's
 * text, its final newline included.
 *
 * Pure: SHA-256 and Ed25519 verification are given, so the same code runs
 * in Node and in a browser (btoa and atob are in both).
 */
import type { Sha256 } from './merkle.ts';

export interface Checkpoint {
  origin: string;
  size: number;
  root: Uint8Array;
}

export interface NoteSignature {
  name: string;
  keyHash: Uint8Array;
  signature: Uint8Array;
}

/** The signature line's opening: U+2014 EM DASH and a space. */
export const SIGNATURE_PREFIX = '\u2014 ';
/** Ed25519, in the note's key hash and in a verifier key (docs/FORMAT.md section 14). */
export const NOTE_ED25519 = 0x01;
/**
 * ECDSA with SHA-256 (C2SP signed-note type 0x02, "as implemented by
 * github.com/transparency-dev/witness"): the signature is ASN.1 DER ECDSA over
 * SHA-256 of the note's text, the key is its SPKI (DER) and its key hash the
 * first 4 bytes of SHA-256 of that SPKI alone (no name, no type byte). We sign
 * and verify it on P-256 only, as the registry's `ecdsa-p256-sha256`.
 */
export const NOTE_ECDSA = 0x02;
export type NoteKeyType = typeof NOTE_ED25519 | typeof NOTE_ECDSA;

/**
 * A checkpoint signer's note key: the signer's kid as the name and, for
 * Ed25519 (type 0x01, the default), its 32-byte public key; for ECDSA (type
 * 0x02), its SPKI in DER.
 */
export interface NoteKey {
  name: string;
  /** NOTE_ED25519 (the default) or NOTE_ECDSA; a verifier key of another type opens no checkpoint. */
  type?: number;
  publicKey: Uint8Array;
}

/** Verifies a note signature by a key of `type` over `message` (the note's text). */
export type VerifyNoteSignature = (
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
  type: NoteKeyType,
) => boolean;

/** The largest DER ECDSA P-256 signature: SEQUENCE of two INTEGERs of at most 33 bytes. */
const MAX_ECDSA_P256_DER_BYTES = 72;
export const MAX_NOTE_BYTES = 64 * 1024;
export const MAX_NOTE_SIGNATURES = 100;

export function toBase64(bytes: Uint8Array): string {
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Standard base64 with padding, or undefined. */
export function fromBase64(text: string): Uint8Array | undefined {
  if (!BASE64.test(text)) return undefined;
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  // Only the canonical encoding: unused bits of the last group must be zero.
  return toBase64(bytes) === text ? bytes : undefined;
}

/** Whether text holds a control character other than the newline (`allowNewline`). */
function hasControl(text: string, allowNewline: boolean): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if ((code < 0x20 && !(allowNewline && code === 0x0a)) || code === 0x7f) return true;
  }
  return false;
}

/** A key name: non-empty, no whitespace, no '+' (signed-note's rule). */
export function isKeyName(name: string): boolean {
  return name.length > 0 && name.length <= 256 && !/[\s+]/u.test(name) && !hasControl(name, false);
}

/** The origin line: printable, no control character, not empty. */
function isOrigin(origin: string): boolean {
  return origin.length > 0 && origin.length <= 256 && !hasControl(origin, false) && origin.trim() === origin;
}

export function checkpointBody(checkpoint: Checkpoint): string {
  return `${checkpoint.origin}\n${checkpoint.size}\n${toBase64(checkpoint.root)}\n`;
}

/** First 4 bytes of SHA-256(name || 0x0A || 0x01 || public key). */
export function ed25519KeyHash(sha256: Sha256, name: string, publicKey: Uint8Array): Uint8Array {
  const nameBytes = new TextEncoder().encode(name);
  const bytes = new Uint8Array(nameBytes.length + 2 + publicKey.length);
  bytes.set(nameBytes, 0);
  bytes[nameBytes.length] = 0x0a;
  bytes[nameBytes.length + 1] = NOTE_ED25519;
  bytes.set(publicKey, nameBytes.length + 2);
  return sha256(bytes).slice(0, 4);
}

/** The key hash of a checkpoint signer's note key: ed25519KeyHash for type 0x01, SHA-256(SPKI)[:4] for type 0x02. */
export function noteKeyId(sha256: Sha256, key: NoteKey): Uint8Array {
  return (key.type ?? NOTE_ED25519) === NOTE_ECDSA
    ? sha256(key.publicKey).slice(0, 4)
    : ed25519KeyHash(sha256, key.name, key.publicKey);
}

export function signatureLine(signature: NoteSignature): string {
  const blob = new Uint8Array(4 + signature.signature.length);
  blob.set(signature.keyHash, 0);
  blob.set(signature.signature, 4);
  return `${SIGNATURE_PREFIX}${signature.name} ${toBase64(blob)}\n`;
}

export function signedNote(body: string, signatures: readonly NoteSignature[]): string {
  return `${body}\n${signatures.map(signatureLine).join('')}`;
}

/** Splits a signed note into its text and signatures; undefined when it is not one. */
export function parseNote(note: string): { body: string; signatures: NoteSignature[] } | undefined {
  if (note.length > MAX_NOTE_BYTES || !note.endsWith('\n')) return undefined;
  const split = note.lastIndexOf('\n\n');
  if (split < 0) return undefined;
  const body = note.slice(0, split + 1);
  if (hasControl(body, true)) return undefined;
  const lines = note.slice(split + 2, -1).split('\n');
  if (lines.length > MAX_NOTE_SIGNATURES) return undefined;
  const signatures: NoteSignature[] = [];
  for (const line of lines) {
    if (!line.startsWith(SIGNATURE_PREFIX)) return undefined;
    const parts = line.slice(SIGNATURE_PREFIX.length).split(' ');
    if (parts.length !== 2 || !isKeyName(parts[0]!)) return undefined;
    const blob = fromBase64(parts[1]!);
    if (!blob || blob.length < 5) return undefined;
    signatures.push({ name: parts[0]!, keyHash: blob.slice(0, 4), signature: blob.slice(4) });
  }
  return { body, signatures };
}

const SIZE_LINE = /^(0|[1-9][0-9]{0,15})$/;

/** The checkpoint a note's text states; extension lines are allowed and ignored. Undefined when it is not one. */
export function parseCheckpointBody(body: string): Checkpoint | undefined {
  const lines = body.split('\n');
  if (lines.length < 4 || lines[lines.length - 1] !== '') return undefined;
  const [origin, sizeText, rootText] = lines as [string, string, string];
  if (!isOrigin(origin) || !SIZE_LINE.test(sizeText)) return undefined;
  const size = Number(sizeText);
  const root = fromBase64(rootText);
  if (!Number.isSafeInteger(size) || !root || root.length !== 32) return undefined;
  return { origin, size, root };
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

/**
 * The checkpoint of a note that `key` (Ed25519, type 0x01, or ECDSA, type
 * 0x02) signed, or a reason it is not one. Other signatures on the note
 * (witnesses' cosignatures) are left for whoever knows their keys.
 */
export function openCheckpoint(
  note: string,
  key: NoteKey,
  sha256: Sha256,
  verify: VerifyNoteSignature,
): { ok: true; checkpoint: Checkpoint } | { ok: false; reason: string } {
  const parsed = parseNote(note);
  if (!parsed) return { ok: false, reason: 'not a signed note' };
  const checkpoint = parseCheckpointBody(parsed.body);
  if (!checkpoint) return { ok: false, reason: 'the note is not a checkpoint' };
  const type = key.type ?? NOTE_ED25519;
  if (type !== NOTE_ED25519 && type !== NOTE_ECDSA)
    return { ok: false, reason: `${key.name}'s key (type ${type}) is not a checkpoint signer's` };
  const keyHash = noteKeyId(sha256, key);
  // One line per key is verified, the first: a note repeating a key's line costs one verification.
  const mine = parsed.signatures.find((s) => s.name === key.name && equal(s.keyHash, keyHash));
  if (!mine) return { ok: false, reason: `no signature by ${key.name}` };
  const message = new TextEncoder().encode(parsed.body);
  const sized =
    type === NOTE_ED25519 ? mine.signature.length === 64 : mine.signature.length <= MAX_ECDSA_P256_DER_BYTES;
  if (!sized || !verify(key.publicKey, message, mine.signature, type))
    return { ok: false, reason: `the signature by ${key.name} does not verify` };
  return { ok: true, checkpoint };
}
