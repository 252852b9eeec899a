/**
 * Verifying a signed delivery proof (docs/FORMAT.md section 13, kind
 * `delivery`): the document's members are exactly its canonical_payload; the
 * signature verifies under the signer registry (kid, algorithm, validity
 * window at the proof's ts) or a given public key; and, when a chain source
 * is given, the record at delivery_seq is verified (as a ledger proof's range
 * is), its hash is delivery_hash, and it is a `delivery.prepared` from which
 * the proof's members rebuild. Returns findings, never throws on bad data.
 */
import { jcs } from '../chain/canonical.ts';
import {
  DELIVERY_PROOF_KIND,
  DELIVERY_PROOF_MEMBERS,
  deliveryProofMembersOf,
  deliveryProofPayload,
  type SignedDeliveryProof,
} from '../chain/deliveryProof.ts';
import { HASH_PATTERN } from '../chain/record.ts';
import { CodedError } from '../domain/errors.ts';
import { isJsonObject } from '../domain/json.ts';
import { preparedRecordOf } from './deliveryRecord.ts';
import { checkProofInclusion, type InclusionFacts } from './proofInclusion.ts';
import {
  checkDocumentSignature,
  fail,
  readCheckedRange,
  type ProofFinding,
  type ProofKey,
  type ProofReport,
  type ProofSource,
} from './proofChecks.ts';

const STRING_MEMBERS = [
  'proof_id',
  'kind',
  'chain',
  'order_id',
  'delivery_id',
  'buyer_id',
  'manifest_id',
  'artifact_sha256',
  'ciphertext_sha256',
  'algorithm',
  'manifest_signature_id',
  'ledger_proof_id',
  'delivery_hash',
  'ts',
  'signer_kid',
  'alg',
  'canonical_payload',
  'signature',
] as const;

/** A parsed document and whether its members are exactly its canonical_payload. */
interface ParsedDeliveryProof {
  proof: SignedDeliveryProof;
  payloadMatches: boolean;
}

/** The delivery proof document, or why it is not one. */
export function parseDeliveryProof(text: string): ParsedDeliveryProof | ProofFinding {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    return fail('malformed-proof', `not JSON: ${(error as Error).message}`);
  }
  if (!isJsonObject(document)) return fail('malformed-proof', 'not a JSON object');
  const missing = [...DELIVERY_PROOF_MEMBERS, 'canonical_payload', 'signature'].filter(
    (member) => !Object.hasOwn(document, member),
  );
  if (missing.length > 0) return fail('malformed-proof', `missing members: ${missing.join(', ')}`);
  const wrong = STRING_MEMBERS.filter((member) => typeof document[member] !== 'string');
  if (wrong.length > 0) return fail('malformed-proof', `members must be strings: ${wrong.join(', ')}`);
  if (document['kind'] !== DELIVERY_PROOF_KIND) return fail('malformed-proof', `kind must be ${DELIVERY_PROOF_KIND}`);
  const seq = document['delivery_seq'];
  if (!Number.isSafeInteger(seq) || (seq as number) < 1)
    return fail('malformed-proof', 'delivery_seq must be a positive integer');
  if (!Number.isSafeInteger(document['ciphertext_bytes']))
    return fail('malformed-proof', 'ciphertext_bytes must be an integer');
  if (!isJsonObject(document['key_provenance'])) return fail('malformed-proof', 'key_provenance must be an object');
  if (!HASH_PATTERN.test(document['delivery_hash'] as string))
    return fail('malformed-proof', 'delivery_hash must be 64 lowercase hex digits');
  const proof = document as unknown as SignedDeliveryProof;
  let members: string;
  try {
    members = jcs(deliveryProofMembersOf(proof));
  } catch {
    return fail('malformed-proof', 'its members have no JCS form (a string with a lone surrogate)');
  }
  return { proof, payloadMatches: members === proof.canonical_payload };
}

/** The members of `proof` that differ from `rebuilt`, by name. */
function differingMembers(proof: SignedDeliveryProof, rebuilt: SignedDeliveryProof): string[] {
  return DELIVERY_PROOF_MEMBERS.filter((member) => jcs(proof[member]) !== jcs(rebuilt[member]));
}

/** The chain's last seq in the source; 0 for a chain the source does not have (the proof names it, not the auditor). */
async function lastSeqOf(source: ProofSource, chain: string): Promise<number> {
  try {
    return await source.reader.lastSeq(chain);
  } catch (error) {
    if (error instanceof CodedError && error.code === 'UNKNOWN_CHAIN') return 0;
    throw error; // the source could not be read: verify-proof could not run
  }
}

/** The record at delivery_seq, checked, and the proof rebuilt from it (docs/FORMAT.md section 13). */
async function checkDeliveryRecord(proof: SignedDeliveryProof, source: ProofSource): Promise<ProofFinding | undefined> {
  const seq = proof.delivery_seq;
  let line: string | undefined;
  const range = { chain: proof.chain, fromSeq: seq, toSeq: seq };
  if (seq > (await lastSeqOf(source, proof.chain)))
    return fail('delivery-record-missing', `the source does not hold record ${seq} of chain ${proof.chain}`);
  const problem = await readCheckedRange(source, range, (lines) => (line ??= lines[0]));
  if (problem) return problem;
  if (line === undefined)
    return fail('delivery-record-missing', `the source does not hold record ${seq} of chain ${proof.chain}`);
  const prepared = preparedRecordOf(line, proof.chain, seq);
  if (typeof prepared === 'string') return fail('delivery-record-mismatch', prepared);
  if (prepared.hash !== proof.delivery_hash)
    return fail(
      'delivery-hash-mismatch',
      `the record at seq ${seq} has hash ${prepared.hash}, the proof says ${proof.delivery_hash}`,
    );
  const payload = deliveryProofPayload(prepared, {
    proofId: proof.proof_id,
    ts: proof.ts,
    signerKid: proof.signer_kid,
    alg: proof.alg,
  });
  const differing = differingMembers(proof, { ...payload, canonical_payload: '', signature: '' });
  if (differing.length > 0)
    return fail(
      'delivery-record-mismatch',
      `the delivery.prepared at seq ${seq} gives other ${differing.join(', ')} than the proof`,
    );
  return undefined;
}

export async function verifyDeliveryProof(text: string, key: ProofKey, source?: ProofSource): Promise<ProofReport> {
  const parsed = parseDeliveryProof(text);
  const report = (
    finding: ProofFinding | undefined,
    proof?: SignedDeliveryProof,
    chainChecked = false,
    inclusion?: InclusionFacts,
  ) => ({
    ok: finding === undefined,
    kind: DELIVERY_PROOF_KIND,
    proofId: proof?.proof_id,
    finding,
    chainChecked,
    recordSignaturesChecked: chainChecked && source?.checker !== undefined,
    ...(inclusion ? { inclusion } : {}),
  });
  if ('reason' in parsed) return report(parsed);
  const { proof } = parsed;
  const signature = checkDocumentSignature(proof, parsed.payloadMatches, key);
  if (signature) return report(signature, proof);
  const attested = { chain: proof.chain, seq: proof.delivery_seq, hash: proof.delivery_hash };
  const included = checkProofInclusion(
    (proof as SignedDeliveryProof & { inclusion?: unknown }).inclusion,
    attested,
    key,
  );
  if (included.finding || !source) return report(included.finding, proof, false, included.facts);
  return report(await checkDeliveryRecord(proof, source), proof, true, included.facts);
}
