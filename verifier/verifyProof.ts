/**
 * Verifying a signed proof. A delivery proof (kind `delivery`, docs/FORMAT.md
 * section 13) is verifier/verifyDeliveryProof.ts; a ledger proof
 * (docs/FORMAT.md section 9) is checked here:
 * the document's members are exactly its canonical_payload; the signature
 * verifies under the signer registry (kid, algorithm, validity window at the
 * proof's ts) or a given public key; and, when a chain source is given,
 * range_hash, ledger_row_ids, from_ts, to_ts and head_hash recompute from the
 * records, which are themselves verified. Returns findings, never throws on
 * bad data.
 */
import { isJsonObject } from '../domain/json.ts';
import {
  LEDGER_PROOF_KIND,
  LedgerRangeHasher,
  payloadMatches,
  PROOF_PAYLOAD_MEMBERS,
  type SignedProof,
} from '../chain/proof.ts';
import { DELIVERY_PROOF_KIND } from '../chain/deliveryProof.ts';
import type { ChainRecord } from '../chain/record.ts';
import { HASH_PATTERN } from '../chain/record.ts';
import {
  checkDocumentSignature,
  fail,
  readCheckedRange,
  type ProofFinding,
  type ProofKey,
  type ProofReport,
  type ProofSource,
} from './proofChecks.ts';
import { verifyDeliveryProof } from './verifyDeliveryProof.ts';
import { checkProofInclusion, type InclusionFacts } from './proofInclusion.ts';

export type { ProofFinding, ProofFindingReason, ProofKey, ProofReport, ProofSource } from './proofChecks.ts';

/** The proof document, or why it is not one. */
export function parseProof(text: string): SignedProof | ProofFinding {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    return fail('malformed-proof', `not JSON: ${(error as Error).message}`);
  }
  if (!isJsonObject(document)) return fail('malformed-proof', 'not a JSON object');
  const p = document as Record<string, unknown>;
  const strings = [
    'proof_id',
    'kind',
    'chain',
    'from_ts',
    'to_ts',
    'range_hash',
    'head_hash',
    'ts',
    'signer_kid',
    'alg',
    'canonical_payload',
    'signature',
  ];
  const missing = [...PROOF_PAYLOAD_MEMBERS, 'canonical_payload', 'signature'].filter(
    (member) => !Object.hasOwn(p, member),
  );
  if (missing.length > 0) return fail('malformed-proof', `missing members: ${missing.join(', ')}`);
  const wrong = strings.filter((member) => typeof p[member] !== 'string');
  if (wrong.length > 0) return fail('malformed-proof', `members must be strings: ${wrong.join(', ')}`);
  if (!Number.isSafeInteger(p['from_seq']) || !Number.isSafeInteger(p['to_seq']))
    return fail('malformed-proof', 'from_seq and to_seq must be integers');
  if (!Array.isArray(p['ledger_row_ids']) || !p['ledger_row_ids'].every((id) => typeof id === 'string'))
    return fail('malformed-proof', 'ledger_row_ids must be an array of strings');
  if (p['kind'] !== LEDGER_PROOF_KIND)
    return fail('malformed-proof', `kind must be ${LEDGER_PROOF_KIND} or ${DELIVERY_PROOF_KIND}`);
  if (!HASH_PATTERN.test(p['range_hash'] as string) || !HASH_PATTERN.test(p['head_hash'] as string))
    return fail('malformed-proof', 'range_hash and head_hash must be 64 lowercase hex digits');
  return document as unknown as SignedProof;
}

/** The signature check under the registry (with its validity window at the proof's ts) or a bare public key. */
export function checkProofSignature(proof: SignedProof, key: ProofKey): ProofFinding | undefined {
  return checkDocumentSignature(proof, payloadMatches(proof), key);
}

interface RangeFacts {
  hasher: LedgerRangeHasher;
  first: ChainRecord | undefined;
  last: ChainRecord | undefined;
}

function compareRange(proof: SignedProof, facts: RangeFacts): ProofFinding | undefined {
  if (facts.first?.seq !== proof.from_seq || facts.last?.seq !== proof.to_seq) {
    return fail(
      'range-missing',
      `the source does not hold records ${proof.from_seq}..${proof.to_seq} of chain ${proof.chain}`,
    );
  }
  const rangeHash = facts.hasher.digest();
  if (rangeHash !== proof.range_hash)
    return fail('range-hash-mismatch', `range_hash recomputes to ${rangeHash}, the proof says ${proof.range_hash}`);
  if (JSON.stringify(facts.hasher.rowIds) !== JSON.stringify(proof.ledger_row_ids))
    return fail('row-ids-mismatch', 'ledger_row_ids differ from the ledger rows of the range');
  if (facts.first.ts !== proof.from_ts || facts.last.ts !== proof.to_ts)
    return fail('range-times-mismatch', 'from_ts or to_ts differ from the records at from_seq and to_seq');
  if (facts.last.hash !== proof.head_hash)
    return fail(
      'head-hash-mismatch',
      `the record at seq ${proof.to_seq} has hash ${facts.last.hash}, the proof says ${proof.head_hash}`,
    );
  return undefined;
}

function take(facts: RangeFacts, lines: readonly string[]): void {
  for (const line of lines) {
    const record = JSON.parse(line) as ChainRecord;
    facts.first ??= record;
    facts.last = record;
    facts.hasher.add(record);
  }
}

/** Recomputes the range from its records, checked (fully with the source's checker, else hashes and links). */
async function checkRange(proof: SignedProof, source: ProofSource): Promise<ProofFinding | undefined> {
  const facts: RangeFacts = { hasher: new LedgerRangeHasher(), first: undefined, last: undefined };
  const range = { chain: proof.chain, fromSeq: proof.from_seq, toSeq: proof.to_seq };
  const problem = await readCheckedRange(source, range, (lines) => take(facts, lines));
  return problem ?? compareRange(proof, facts);
}

async function verifyLedgerProof(text: string, key: ProofKey, source?: ProofSource): Promise<ProofReport> {
  const parsed = parseProof(text);
  const report = (
    finding: ProofFinding | undefined,
    proof?: SignedProof,
    chainChecked = false,
    inclusion?: InclusionFacts,
  ): ProofReport => ({
    ok: finding === undefined,
    ...(proof ? { kind: LEDGER_PROOF_KIND } : {}),
    proofId: proof?.proof_id,
    finding,
    chainChecked,
    recordSignaturesChecked: chainChecked && source?.checker !== undefined,
    ...(inclusion ? { inclusion } : {}),
  });
  if ('reason' in parsed && !('canonical_payload' in parsed)) return report(parsed);
  const proof = parsed as SignedProof;
  const signature = checkProofSignature(proof, key);
  if (signature) return report(signature, proof);
  // The record a ledger proof attests is the one at to_seq, whose hash is head_hash.
  const attested = { chain: proof.chain, seq: proof.to_seq, hash: proof.head_hash };
  const included = checkProofInclusion((proof as SignedProof & { inclusion?: unknown }).inclusion, attested, key);
  if (included.finding || !source) return report(included.finding, proof, false, included.facts);
  return report(await checkRange(proof, source), proof, true, included.facts);
}

/** The document's `kind`, when it is a JSON object that has one. */
function kindOf(text: string): unknown {
  try {
    const document: unknown = JSON.parse(text);
    return isJsonObject(document) ? document['kind'] : undefined;
  } catch {
    return undefined; // the ledger parser names what is wrong with it
  }
}

/** A signed proof of either kind, dispatched on its `kind`: docs/FORMAT.md section 9 or section 13. */
export async function verifyProof(text: string, key: ProofKey, source?: ProofSource): Promise<ProofReport> {
  if (kindOf(text) === DELIVERY_PROOF_KIND) return verifyDeliveryProof(text, key, source);
  return verifyLedgerProof(text, key, source);
}
