/**
 * A witness (docs/FORMAT.md section 14, "Witnesses and cosignatures"), the
 * C2SP tlog-witness protocol's `add-checkpoint`: for each log it knows (an
 * origin and the log's Ed25519 note keys) it keeps the last checkpoint it
 * cosigned, and cosigns a new one only when a consistency proof leads from
 * that one to it. The request body is
 *
 *   old <size>\n
 *   <base64 hash>\n          zero to 63 lines: the consistency proof from old size to the new
 *   \n
 *   <the checkpoint, a signed note>
 *
 * and the answers: 200 with the cosignature line; 409 with the size the
 * witness holds (`text/x.tlog.size`) when the old size is not it, or when a
 * checkpoint of the same size has another root; 422 when the proof does not
 * verify; 400 for a malformed body or an old size above the new; 403 when no
 * signature by a known key verifies; 404 for an unknown origin. A checkpoint
 * of the size cosigned with another root (409) is a log that forked: both
 * notes are signed by the log, and the decision carries them as evidence.
 * A proof that does not verify (422) proves nothing about the log (anyone can
 * send its genuine checkpoint with a wrong proof) and carries no evidence.
 * A held checkpoint of size 0 is as good as none: any size may follow it.
 *
 * The state's check and update must be one atomic step (WitnessState.update),
 * or two requests racing could roll the state back. Pure: SHA-256 and
 * Ed25519 are given.
 */
import {
  fromBase64,
  MAX_NOTE_BYTES,
  NOTE_ED25519,
  openCheckpoint,
  parseCheckpointBody,
  parseNote,
  toBase64,
  type Checkpoint,
  type VerifyNoteSignature,
} from './checkpoint.ts';
import { cosign, type NoteVerifierKey, type SignEd25519, type VerifyEd25519 } from './cosignature.ts';
import { equalBytes, merkleHasher, verifyConsistency, type Sha256 } from './merkle.ts';

/** The protocol's bound on proof lines. */
export const MAX_WITNESS_PROOF_HASHES = 63;
/** The old size line, 63 proof lines of 45 bytes, the empty line and a note. */
export const MAX_ADD_CHECKPOINT_BYTES = 32 + MAX_WITNESS_PROOF_HASHES * 45 + 1 + MAX_NOTE_BYTES;
export const TLOG_SIZE_CONTENT_TYPE = 'text/x.tlog.size';

export interface AddCheckpointRequest {
  oldSize: number;
  proof: Uint8Array[];
  /** The checkpoint note as sent, with the log's signature(s). */
  note: string;
}

export function formatAddCheckpoint(request: AddCheckpointRequest): string {
  const hashes = request.proof.map((hash) => `${toBase64(hash)}\n`).join('');
  return `old ${request.oldSize}\n${hashes}\n${request.note}`;
}

const OLD_LINE = /^old (0|[1-9][0-9]{0,15})$/;

export function parseAddCheckpoint(body: string): AddCheckpointRequest | undefined {
  if (body.length > MAX_ADD_CHECKPOINT_BYTES) return undefined;
  const split = body.indexOf('\n\n');
  if (split < 0) return undefined;
  const lines = body.slice(0, split).split('\n');
  const old = OLD_LINE.exec(lines[0]!);
  if (!old || lines.length - 1 > MAX_WITNESS_PROOF_HASHES) return undefined;
  const oldSize = Number(old[1]);
  if (!Number.isSafeInteger(oldSize)) return undefined;
  const proof: Uint8Array[] = [];
  for (const line of lines.slice(1)) {
    const hash = fromBase64(line);
    if (!hash || hash.length !== 32) return undefined;
    proof.push(hash);
  }
  return { oldSize, proof, note: body.slice(split + 2) };
}

/** What a witness holds for one log: the last checkpoint it cosigned. */
export interface WitnessedCheckpoint {
  size: number;
  /** Base64 of the root. */
  root: string;
  /** The note as the log signed it, with the witness's cosignature. */
  note: string;
}

/** Both signed checkpoints of a log that cannot both be true: the one cosigned, and the one refused. */
export interface ForkEvidence {
  origin: string;
  reason: string;
  cosigned: WitnessedCheckpoint;
  refused: { size: number; root: string; note: string; oldSize: number; proof: string[] };
}

export type WitnessAnswer =
  | { status: 200; body: string; state: WitnessedCheckpoint }
  | { status: 409; size: number; reason: string; evidence?: ForkEvidence }
  | { status: 400 | 403 | 404 | 422; reason: string };

export interface WitnessIdentity {
  name: string;
  publicKey: Uint8Array;
  sign: SignEd25519;
}

export interface WitnessPolicy {
  identity: WitnessIdentity;
  /** The log keys trusted for each origin. */
  logs: ReadonlyMap<string, readonly NoteVerifierKey[]>;
  sha256: Sha256;
  verifyEd25519: VerifyEd25519;
  /** Verifies a log's checkpoint signature of either note type (0x01 Ed25519, 0x02 ECDSA); Ed25519 alone without it. */
  verifyNote?: VerifyNoteSignature;
}

type Verified = { ok: true; checkpoint: Checkpoint } | { ok: false; answer: WitnessAnswer };

/** The request's checkpoint, signed by a key trusted for its origin; or the answer refusing it. */
export function verifyRequestCheckpoint(policy: WitnessPolicy, request: AddCheckpointRequest): Verified {
  const parsed = parseNote(request.note);
  const checkpoint = parsed && parseCheckpointBody(parsed.body);
  if (!checkpoint) return { ok: false, answer: { status: 400, reason: 'the checkpoint is not a signed note' } };
  const keys = policy.logs.get(checkpoint.origin);
  if (!keys) return { ok: false, answer: { status: 404, reason: `unknown log ${JSON.stringify(checkpoint.origin)}` } };
  const verify: VerifyNoteSignature =
    policy.verifyNote ??
    ((publicKey, message, signature, type) =>
      type === NOTE_ED25519 && policy.verifyEd25519(publicKey, message, signature));
  const signed = keys.some((key) => openCheckpoint(request.note, key, policy.sha256, verify).ok);
  if (!signed) return { ok: false, answer: { status: 403, reason: 'no signature by a key of this log verifies' } };
  if (request.oldSize > checkpoint.size)
    return { ok: false, answer: { status: 400, reason: `old size ${request.oldSize} is above ${checkpoint.size}` } };
  if (request.oldSize === 0 && request.proof.length > 0)
    return { ok: false, answer: { status: 400, reason: 'a proof from old size 0 must be empty' } };
  if (checkpoint.size === 0 && !equalBytes(checkpoint.root, merkleHasher(policy.sha256).emptyRoot()))
    return { ok: false, answer: { status: 400, reason: 'the empty tree has the root SHA-256 of nothing' } };
  return { ok: true, checkpoint };
}

/**
 * The answer to a verified request given the state held for its log
 * (undefined: never cosigned one). Cosigns with `nowSeconds` when the
 * checkpoint is consistent with the state.
 */
export function decideAddCheckpoint(
  policy: WitnessPolicy,
  request: AddCheckpointRequest,
  checkpoint: Checkpoint,
  stored: WitnessedCheckpoint | undefined,
  nowSeconds: number,
): WitnessAnswer {
  // The empty tree is consistent with every tree: holding it is holding nothing.
  const held = stored && stored.size > 0 ? stored : undefined;
  const heldSize = held?.size ?? 0;
  if (request.oldSize !== heldSize)
    return { status: 409, size: heldSize, reason: `old size ${request.oldSize} is not ${heldSize}` };
  const root = toBase64(checkpoint.root);
  const evidence = (reason: string): ForkEvidence => ({
    origin: checkpoint.origin,
    reason,
    cosigned: held!,
    refused: {
      size: checkpoint.size,
      root,
      note: request.note,
      oldSize: request.oldSize,
      proof: request.proof.map(toBase64),
    },
  });
  if (held && held.size === checkpoint.size) {
    if (request.proof.length > 0) return { status: 400, reason: 'a proof between equal sizes is empty' };
    if (held.root !== root) {
      const reason = `a checkpoint of size ${held.size} with another root than the one cosigned`;
      return { status: 409, size: heldSize, reason, evidence: evidence(reason) };
    }
  } else if (held) {
    const heldRoot = fromBase64(held.root)!;
    const hasher = merkleHasher(policy.sha256);
    if (!verifyConsistency(hasher, held.size, checkpoint.size, request.proof, heldRoot, checkpoint.root)) {
      const reason = `no consistency from the cosigned size ${held.size} to ${checkpoint.size}: the proof does not verify`;
      return { status: 422, reason };
    }
  } else if (request.proof.length > 0) {
    return { status: 400, reason: 'a proof from old size 0 must be empty' };
  }
  const note = parseNote(request.note)!;
  const line = cosign(policy.sha256, policy.identity, policy.identity.sign, note.body, nowSeconds);
  return { status: 200, body: line, state: { size: checkpoint.size, root, note: `${request.note}${line}` } };
}

/** A witness's memory, one entry per log origin (infra/adapters/witness implements it over files). */
export interface WitnessState {
  /**
   * Runs `step` on what is held for `origin` and stores what it returns as
   * `next`, as one atomic step: no other update of that origin in between,
   * and the new state durable before it resolves.
   */
  update<T>(
    origin: string,
    step: (held: WitnessedCheckpoint | undefined) => { next?: WitnessedCheckpoint; result: T },
  ): Promise<T>;
  saveEvidence(evidence: ForkEvidence): Promise<void>;
}

/** The whole `add-checkpoint`: parse, verify the log's signature, decide against the state, keep the evidence. */
export async function addCheckpoint(
  policy: WitnessPolicy,
  state: WitnessState,
  body: string,
  nowSeconds: number,
): Promise<WitnessAnswer> {
  const request = parseAddCheckpoint(body);
  if (!request) return { status: 400, reason: 'not an add-checkpoint body: old size, proof lines, empty line, note' };
  const verified = verifyRequestCheckpoint(policy, request);
  if (!verified.ok) return verified.answer;
  const answer = await state.update<WitnessAnswer>(verified.checkpoint.origin, (held) => {
    const decided = decideAddCheckpoint(policy, request, verified.checkpoint, held, nowSeconds);
    return decided.status === 200 ? { next: decided.state, result: decided } : { result: decided };
  });
  if (answer.status === 409 && answer.evidence) await state.saveEvidence(answer.evidence);
  return answer;
}
