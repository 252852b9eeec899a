/**
 * The inclusion proof file (docs/FORMAT.md section 14, "Proof files"), in
 * the C2SP tlog-proof form:
 *
 *   c2sp.org/tlog-proof@v1
 *   extra <base64 of the record's JCS text>
 *   index <leaf index: the record's seq - 1>
 *   <base64 hash>          one line per hash of the inclusion proof
 *
 *   <the checkpoint, a signed note>
 *
 * Pure, like chain/checkpoint.ts.
 */
import { fromBase64, toBase64 } from './checkpoint.ts';

export const TLOG_PROOF_HEADER = 'c2sp.org/tlog-proof@v1';
/** 64 hashes cover 2^64 leaves; the record and the note have their own bounds. */
export const MAX_PROOF_HASHES = 64;
export const MAX_PROOF_FILE_BYTES = 256 * 1024;

export interface TlogProof {
  /** The record's exact JCS text (the file's `extra`). */
  record: string;
  index: number;
  hashes: Uint8Array[];
  /** The checkpoint note, as signed. */
  checkpoint: string;
}

export function formatTlogProof(proof: TlogProof): string {
  const extra = toBase64(new TextEncoder().encode(proof.record));
  const hashes = proof.hashes.map((hash) => `${toBase64(hash)}\n`).join('');
  return `${TLOG_PROOF_HEADER}\nextra ${extra}\nindex ${proof.index}\n${hashes}\n${proof.checkpoint}`;
}

const INDEX_LINE = /^index (0|[1-9][0-9]{0,15})$/;

/** Undefined when the text is not a proof file of this form (a proof without `extra` has no record to check). */
export function parseTlogProof(text: string): TlogProof | undefined {
  if (text.length > MAX_PROOF_FILE_BYTES) return undefined;
  const split = text.indexOf('\n\n');
  if (split < 0) return undefined;
  const lines = text.slice(0, split).split('\n');
  const checkpoint = text.slice(split + 2);
  if (lines[0] !== TLOG_PROOF_HEADER || !lines[1]?.startsWith('extra ')) return undefined;
  const extra = fromBase64(lines[1].slice('extra '.length));
  const index = INDEX_LINE.exec(lines[2] ?? '');
  if (!extra || !index) return undefined;
  const hashes: Uint8Array[] = [];
  for (const line of lines.slice(3)) {
    const hash = fromBase64(line);
    if (!hash || hash.length !== 32 || hashes.length === MAX_PROOF_HASHES) return undefined;
    hashes.push(hash);
  }
  let record: string;
  try {
    record = new TextDecoder('utf-8', { fatal: true }).decode(extra);
  } catch {
    return undefined;
  }
  const leafIndex = Number(index[1]);
  if (!Number.isSafeInteger(leafIndex)) return undefined;
  return { record, index: leafIndex, hashes, checkpoint };
}
