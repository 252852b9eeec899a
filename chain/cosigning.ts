/**
 * The log's side of witnessing (docs/FORMAT.md section 14, "Witnesses and
 * cosignatures"): a new checkpoint is sent to each configured witness with
 * a consistency proof from the size that witness last cosigned, and the
 * cosignature lines that verify against the witness's key are kept.
 *
 * The log remembers each witness's size between checkpoints (`knownSizes`);
 * when it does not know it (a restart) or the witness holds another, the
 * witness answers 409 with its size and the request is made once more from
 * there. A witness that holds a larger tree than the checkpoint, or refuses
 * the proof, cosigns nothing: the reason is returned.
 */
import { parseNote, type Checkpoint } from './checkpoint.ts';
import { verifiedCosignatures, type NoteVerifierKey, type VerifyEd25519 } from './cosignature.ts';
import { formatAddCheckpoint } from './witness.ts';

export interface WitnessTarget {
  /** The submission prefix. */
  url: string;
  key: NoteVerifierKey;
}

export interface WitnessReply {
  status: number;
  text: string;
}

/** Sends an add-checkpoint body to a witness's `<url>/add-checkpoint` (infra/adapters/witness). */
export type WitnessTransport = (url: string, body: string) => Promise<WitnessReply>;

export interface CosigningResult {
  /** Verified cosignature lines, one per witness that cosigned, in the order of the witnesses. */
  lines: string[];
  failures: { witness: string; reason: string }[];
}

/** Requests per witness per checkpoint: the first, and one more from the size a 409 names. */
const MAX_ATTEMPTS_PER_WITNESS = 2;
/** Bytes of a witness's refusal kept in the reason. */
const MAX_REASON_CHARS = 200;
const SIZE_BODY = /^(0|[1-9][0-9]{0,15})\n$/;

export interface CosignRequest {
  note: string;
  checkpoint: Checkpoint;
  witnesses: readonly WitnessTarget[];
  transport: WitnessTransport;
  /** The consistency proof from `first` to the checkpoint's size. */
  prove(first: number): Promise<Uint8Array[]>;
  knownSizes: Map<string, number>;
  verifyEd25519: VerifyEd25519;
}

async function askWitness(request: CosignRequest, witness: WitnessTarget): Promise<string | { reason: string }> {
  const { checkpoint } = request;
  let oldSize = request.knownSizes.get(witness.key.name) ?? 0;
  if (oldSize > checkpoint.size) oldSize = 0;
  for (let attempt = 0; attempt < MAX_ATTEMPTS_PER_WITNESS; attempt++) {
    const proof = oldSize === 0 || oldSize === checkpoint.size ? [] : await request.prove(oldSize);
    const reply = await request.transport(witness.url, formatAddCheckpoint({ oldSize, proof, note: request.note }));
    if (reply.status === 200) {
      const lines = reply.text.split('\n').filter((line) => line !== '');
      const found = verifiedCosignatures(
        `${request.note}${lines.map((line) => `${line}\n`).join('')}`,
        [witness.key],
        request.verifyEd25519,
      );
      // A line signed for another note or by another key is ignored, as the protocol says; none valid is a failure.
      if (found.length === 0) return { reason: 'answered 200 without a valid cosignature by its key' };
      request.knownSizes.set(witness.key.name, checkpoint.size);
      return found[0]!.line;
    }
    const held = SIZE_BODY.exec(reply.text);
    if (reply.status === 409 && held) {
      const heldSize = Number(held[1]);
      request.knownSizes.set(witness.key.name, heldSize);
      if (heldSize > checkpoint.size)
        return { reason: `it holds a tree of ${heldSize} leaves, larger than this checkpoint's ${checkpoint.size}` };
      if (heldSize === oldSize)
        return { reason: `it refused size ${checkpoint.size} from its own size ${heldSize} (another root?)` };
      oldSize = heldSize;
      continue;
    }
    return { reason: `answered ${reply.status}: ${reply.text.trim().slice(0, MAX_REASON_CHARS)}` };
  }
  return { reason: `its size kept changing over ${MAX_ATTEMPTS_PER_WITNESS} requests` };
}

/** Asks every witness at once; never throws for a witness's failure (it is in `failures`). */
export async function collectCosignatures(request: CosignRequest): Promise<CosigningResult> {
  if (!parseNote(request.note)) throw new RangeError('not a signed note');
  const answers = await Promise.all(
    request.witnesses.map((witness) =>
      askWitness(request, witness).catch((error: unknown) => ({ reason: (error as Error).message })),
    ),
  );
  const result: CosigningResult = { lines: [], failures: [] };
  answers.forEach((answer, i) => {
    if (typeof answer === 'string') result.lines.push(answer);
    else result.failures.push({ witness: request.witnesses[i]!.key.name, reason: answer.reason });
  });
  return result;
}
