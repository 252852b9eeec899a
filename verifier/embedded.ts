/**
 * docs/FORMAT.md section 5, check 5b: document signatures carried inside
 * records. `manifest.approved` carries the kernel's signature over the 32
 * bytes of its `manifestSha256`; `ledger.proof_issued` carries a ledger
 * proof's signature over its canonical_payload (section 9), which is rebuilt
 * from the record and the chain's records of the proof's range
 * (chain/proofRebuild.ts, shared with replay);
 * `delivery.proof_issued` carries a delivery proof's signature over its
 * canonical_payload (section 13), rebuilt from the record and the
 * `delivery.prepared` record it names. Each is checked against the registry
 * at its time; a problem is returned as text for a finding at the record's
 * seq. Never throws on bad data.
 */
import { deliveryProofFromChain } from '../chain/deliveryProof.ts';
import { sha256Hex } from '../chain/hash.ts';
import { ledgerProofFromChain } from '../chain/proofRebuild.ts';
import { HASH_PATTERN } from '../chain/record.ts';
import { deliveryProofIssuedSchema } from '../domain/delivery/deliveryEvents.ts';
import { issuesText, preparedRecordOf, recordLineAt } from './deliveryRecord.ts';
import { EMBEDDED_SIGNATURE_TYPES } from './embeddedTypes.ts';
import type { RecordFacts } from './line.ts';
import { recordPages, type LineChecker, type RecordReader } from './reader.ts';

type Data = Record<string, unknown>;

function isObject(value: unknown): value is Data {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function signatureOf(value: unknown): { kid: string; alg: string; value: string } | undefined {
  if (!isObject(value)) return undefined;
  const { kid, alg, value: bytes } = value;
  return typeof kid === 'string' && typeof alg === 'string' && typeof bytes === 'string'
    ? { kid, alg, value: bytes }
    : undefined;
}

function manifestApprovedProblem(checker: LineChecker, facts: RecordFacts, data: Data): string | undefined {
  const signature = signatureOf(data['signature']);
  const hash = data['manifestSha256'];
  if (!signature || typeof hash !== 'string' || !HASH_PATTERN.test(hash))
    return 'manifest.approved does not carry manifestSha256 and a kernel signature {kid, alg, value}';
  // The kernel signs just before the record is committed: the record's time is when the approval took effect.
  const problem = checker.documentSignatureProblem(signature, Date.parse(facts.ts), Buffer.from(hash, 'hex'));
  return problem && `the kernel signature in manifest.approved: ${problem}`;
}

/** ledger.proof_issued: the proof rebuilt from the record and its range (chain/proofRebuild.ts), then its signature. */
async function proofIssuedProblem(
  reader: RecordReader,
  checker: LineChecker,
  facts: RecordFacts,
  data: Data,
): Promise<string | undefined> {
  const rebuilt = await ledgerProofFromChain(facts, data, (fromSeq, toSeq) =>
    recordPages(reader, facts.chain, fromSeq, toSeq),
  );
  if (rebuilt.status === 'invalid') return rebuilt.reason;
  // Records written before proofTs was recorded: the signer and its window at the record's time only.
  if (rebuilt.status === 'without-proof-ts') {
    const problem = checker.documentSignatureProblem(rebuilt.signature, Date.parse(facts.ts), undefined);
    return problem && `the proof's signer in ledger.proof_issued: ${problem}`;
  }
  const { proof } = rebuilt;
  const signed = { kid: proof.signer_kid, alg: proof.alg, value: proof.signature };
  const message = Buffer.from(proof.canonical_payload, 'utf8');
  const problem = checker.documentSignatureProblem(signed, Date.parse(proof.ts), message);
  return problem && `the proof's signature in ledger.proof_issued: ${problem}`;
}

/**
 * delivery.proof_issued (docs/FORMAT.md section 13): the proof is rebuilt from
 * this record and the delivery.prepared at deliverySeq, an earlier record of
 * the same chain read again from the source, whose hash must be deliveryHash.
 */
async function deliveryProofIssuedProblem(
  reader: RecordReader,
  checker: LineChecker,
  facts: RecordFacts,
  data: unknown,
): Promise<string | undefined> {
  const parsed = deliveryProofIssuedSchema.safeParse(data);
  if (!parsed.success)
    return `delivery.proof_issued data is not of the form docs/FORMAT.md section 13 gives: ${issuesText(parsed.error.issues)}`;
  const issued = parsed.data;
  if (issued.proofTs > facts.ts) return 'delivery.proof_issued: proofTs is after the record';
  if (issued.deliverySeq >= facts.seq)
    return `delivery.proof_issued: deliverySeq ${issued.deliverySeq} is not an earlier record of chain ${facts.chain}`;
  const text = await recordLineAt(reader, facts.chain, issued.deliverySeq);
  if (text === undefined)
    return `delivery.proof_issued: the record at deliverySeq ${issued.deliverySeq} cannot be read`;
  const prepared = preparedRecordOf(text, facts.chain, issued.deliverySeq);
  if (typeof prepared === 'string') return `delivery.proof_issued: ${prepared}`;
  if (prepared.hash !== issued.deliveryHash)
    return `delivery.proof_issued: deliveryHash is not the hash of the record at seq ${issued.deliverySeq}`;
  if (prepared.data.orderId !== issued.orderId || prepared.data.deliveryId !== issued.deliveryId)
    return `delivery.proof_issued: the delivery.prepared at seq ${issued.deliverySeq} is of another orderId or deliveryId`;
  const proof = deliveryProofFromChain(prepared, issued);
  if (sha256Hex(proof.canonical_payload) !== issued.payloadSha256)
    return 'delivery.proof_issued: payloadSha256 is not the SHA-256 of the proof rebuilt from the record and its delivery.prepared';
  const signed = { kid: issued.signerKid, alg: issued.alg, value: issued.signature };
  const message = Buffer.from(proof.canonical_payload, 'utf8');
  const problem = checker.documentSignatureProblem(signed, Date.parse(issued.proofTs), message);
  return problem && `the proof's signature in delivery.proof_issued: ${problem}`;
}

/** The problem with the document signature a record carries, or undefined (also for records that carry none). */
export async function embeddedSignatureProblem(
  reader: RecordReader,
  checker: LineChecker,
  facts: RecordFacts,
  data: unknown,
): Promise<string | undefined> {
  if (facts.type === EMBEDDED_SIGNATURE_TYPES.manifestApproved)
    return isObject(data) ? manifestApprovedProblem(checker, facts, data) : 'manifest.approved data is not an object';
  if (facts.type === EMBEDDED_SIGNATURE_TYPES.proofIssued)
    return isObject(data)
      ? proofIssuedProblem(reader, checker, facts, data)
      : 'ledger.proof_issued data is not an object';
  if (facts.type === EMBEDDED_SIGNATURE_TYPES.deliveryProofIssued)
    return deliveryProofIssuedProblem(reader, checker, facts, data);
  return undefined;
}
