/**
 * Signed proofs, docs/FORMAT.md section 9, kind `ledger-range`.
 *
 *   canonical_payload = JCS of the members proof_id … alg
 *   signature         = the signer's signature over canonical_payload's UTF-8
 *                       bytes (ed25519 over the bytes, rsa/ecdsa over their SHA-256)
 *   range_hash        = SHA-256 of JCS([entry, …]), one entry per `ledger.posted`
 *                       record with from_seq <= seq <= to_seq, in seq order:
 *                       { "seq", "event_id", "record_hash", "transaction" }
 *                       where transaction is the record's `data`, whole.
 */
import { createHash, type KeyObject } from 'node:crypto';
import type { JsonObject } from '../domain/json.ts';
import { jcs } from './canonical.ts';
import type { ChainRecord } from './record.ts';
import { verifyMessageSignature, type SignatureAlgorithm } from './signature.ts';
import type { Signer } from './signer.ts';

export const LEDGER_PROOF_KIND = 'ledger-range';
export const LEDGER_POSTED_TYPE = 'ledger.posted';

/** The signed members, in the order docs/FORMAT.md section 9 lists them (JCS sorts them anyway). */
export const PROOF_PAYLOAD_MEMBERS = [
  'proof_id',
  'kind',
  'chain',
  'from_seq',
  'to_seq',
  'from_ts',
  'to_ts',
  'ledger_row_ids',
  'range_hash',
  'head_hash',
  'ts',
  'signer_kid',
  'alg',
] as const;

export interface ProofPayload {
  proof_id: string;
  kind: string;
  chain: string;
  from_seq: number;
  to_seq: number;
  from_ts: string;
  to_ts: string;
  ledger_row_ids: string[];
  range_hash: string;
  head_hash: string;
  ts: string;
  signer_kid: string;
  alg: string;
}

export interface SignedProof extends ProofPayload {
  canonical_payload: string;
  signature: string;
}

/** One member of the range_hash array. */
export interface ProofLedgerEntry {
  seq: number;
  event_id: string;
  record_hash: string;
  transaction: JsonObject;
}

export function proofLedgerEntry(record: ChainRecord): ProofLedgerEntry {
  return { seq: record.seq, event_id: record.id, record_hash: record.hash, transaction: record.data };
}

/**
 * range_hash computed incrementally: JCS of an array is `[`, the JCS of each
 * member joined by `,`, then `]`, so a million entries never sit in memory as
 * one string. Also collects ledger_row_ids (each transaction's transactionId).
 */
export class LedgerRangeHasher {
  readonly #hash = createHash('sha256').update('[');
  readonly rowIds: string[] = [];

  add(record: ChainRecord): void {
    if (record.type !== LEDGER_POSTED_TYPE) return;
    this.#hash.update(`${this.rowIds.length > 0 ? ',' : ''}${jcs(proofLedgerEntry(record))}`);
    this.rowIds.push(String(record.data['transactionId']));
  }

  digest(): string {
    return this.#hash.update(']').digest('hex');
  }
}

export function proofPayloadOf(document: ProofPayload): ProofPayload {
  const payload: Record<string, unknown> = {};
  for (const member of PROOF_PAYLOAD_MEMBERS) payload[member] = document[member];
  return payload as unknown as ProofPayload;
}

export async function signProof(payload: ProofPayload, signer: Pick<Signer, 'signMessage'>): Promise<SignedProof> {
  const canonical = jcs(proofPayloadOf(payload));
  const signature = await signer.signMessage(Buffer.from(canonical, 'utf8'));
  return { ...proofPayloadOf(payload), canonical_payload: canonical, signature: signature.value };
}

/** Whether the document's own members are exactly what canonical_payload says. */
export function payloadMatches(proof: SignedProof): boolean {
  return jcs(proofPayloadOf(proof)) === proof.canonical_payload;
}

export function proofSignatureValid(proof: SignedProof, algorithm: SignatureAlgorithm, publicKey: KeyObject): boolean {
  return verifyMessageSignature(
    algorithm,
    publicKey,
    Buffer.from(proof.canonical_payload, 'utf8'),
    Buffer.from(proof.signature, 'base64'),
  );
}
