/**
 * What verify-proof does the same way for every kind of signed proof
 * (docs/FORMAT.md section 9, ledger-range; section 13, delivery): the
 * findings it reports, the signature over canonical_payload under the signer
 * registry or a bare public key, and reading records of the chain checked
 * (fully with the registry's checker, hashes and links without it). The kinds
 * themselves are verifier/verifyProof.ts and verifier/verifyDeliveryProof.ts.
 */
import type { KeyObject } from 'node:crypto';
import { isTimestamp } from '../chain/record.ts';
import { checkSigner, type SignerRegistry } from '../chain/registry.ts';
import { isSignatureAlgorithm, keyMismatch, verifyMessageSignature } from '../chain/signature.ts';
import { checkLine } from './line.ts';
import type { LineChecker, RecordReader } from './reader.ts';
import { verify } from './verify.ts';

export type ProofFindingReason =
  | 'malformed-proof'
  | 'payload-mismatch'
  | 'unknown-signer'
  | 'algorithm-mismatch'
  | 'outside-validity-window'
  | 'bad-signature'
  | 'chain-integrity'
  | 'range-missing'
  | 'range-hash-mismatch'
  | 'row-ids-mismatch'
  | 'range-times-mismatch'
  | 'head-hash-mismatch'
  /** Delivery proofs (docs/FORMAT.md section 13): the source has no record at delivery_seq. */
  | 'delivery-record-missing'
  /** The record at delivery_seq has another hash than delivery_hash. */
  | 'delivery-hash-mismatch'
  /** The record at delivery_seq is not a delivery.prepared, or the proof's members do not rebuild from it. */
  | 'delivery-record-mismatch'
  /** The proof's `inclusion` (docs/FORMAT.md section 14) is not of its record, or does not lead to a signed checkpoint's root. */
  | 'inclusion-invalid';

export interface ProofFinding {
  reason: ProofFindingReason;
  message: string;
}

export interface ProofReport {
  ok: boolean;
  /** The document's kind when it parsed as a proof: `ledger-range` or `delivery`. */
  kind?: string;
  proofId: string | undefined;
  finding: ProofFinding | undefined;
  /** Whether the proof was recomputed from a chain source (a ledger proof's range, a delivery proof's record). */
  chainChecked: boolean;
  /** Whether the records read had their signatures checked (needs the registry). */
  recordSignaturesChecked: boolean;
  /** The checkpoint the proof's `inclusion` proved its record in, when it carries one that verified. */
  inclusion?: { origin: string; treeSize: number; signedBy: string };
}

export type ProofKey = { registry: SignerRegistry } | { publicKey: KeyObject };

export interface ProofSource {
  reader: RecordReader;
  /** Checks record signatures too; requires the registry. */
  checker?: LineChecker | undefined;
}

export function fail(reason: ProofFindingReason, message: string): ProofFinding {
  return { reason, message };
}

/** The members every signed proof has for its signature (docs/FORMAT.md sections 9 and 13). */
export interface SignedDocument {
  ts: string;
  signer_kid: string;
  alg: string;
  canonical_payload: string;
  signature: string;
}

/**
 * The signature check under the registry (with its validity window at the
 * proof's ts) or a bare public key, once the document's members are known to
 * be exactly its canonical_payload (`payloadMatches`).
 */
export function checkDocumentSignature(
  document: SignedDocument,
  payloadMatches: boolean,
  key: ProofKey,
): ProofFinding | undefined {
  if (!payloadMatches) return fail('payload-mismatch', "the document's members differ from its canonical_payload");
  if (!isSignatureAlgorithm(document.alg))
    return fail('algorithm-mismatch', `unknown algorithm ${JSON.stringify(document.alg)}`);
  let publicKey: KeyObject;
  if ('registry' in key) {
    if (!isTimestamp(document.ts)) return fail('malformed-proof', 'ts is not RFC 3339 UTC with milliseconds');
    const signer = checkSigner(key.registry, document.signer_kid, document.alg, Date.parse(document.ts));
    if (!signer.ok) return fail(signer.reason, signer.message);
    publicKey = signer.signer.publicKey;
  } else {
    const mismatch = keyMismatch(document.alg, key.publicKey);
    if (mismatch) return fail('algorithm-mismatch', mismatch);
    publicKey = key.publicKey;
  }
  const valid = verifyMessageSignature(
    document.alg,
    publicKey,
    Buffer.from(document.canonical_payload, 'utf8'),
    Buffer.from(document.signature, 'base64'),
  );
  return valid
    ? undefined
    : fail(
        'bad-signature',
        `the signature does not verify under ${'registry' in key ? `signer ${document.signer_kid}` : 'the given public key'}`,
      );
}

/** What is done with each page of records once it is checked. */
export type TakePage = (lines: readonly string[]) => void;

/** Reads fromSeq..toSeq fully verified (docs/FORMAT.md section 5 with the registry's checker). */
async function readVerified(
  reader: RecordReader,
  checker: LineChecker,
  range: { chain: string; fromSeq: number; toSeq: number },
  take: TakePage,
): Promise<ProofFinding | undefined> {
  const report = await verify(reader, checker, {
    chains: [range.chain],
    fromSeq: range.fromSeq,
    toSeq: range.toSeq,
    onVerifiedPage: async (_chain, lines) => take(lines),
  });
  if (!report.ok)
    return fail(
      'chain-integrity',
      `chain ${report.finding!.chain} seq ${report.finding!.seq}: ${report.finding!.reason}: ${report.finding!.message}`,
    );
  return undefined;
}

/** Without a registry: hashes and links are checked, record signatures cannot be. */
async function readHashesChecked(
  reader: RecordReader,
  range: { chain: string; fromSeq: number; toSeq: number },
  take: TakePage,
): Promise<ProofFinding | undefined> {
  const empty: SignerRegistry = { signers: new Map() };
  let previous = range.fromSeq > 1 ? await reader.hashAt(range.chain, range.fromSeq - 1) : '0'.repeat(64);
  for await (const page of reader.pages(range.chain, range.fromSeq, range.toSeq)) {
    for (const line of page) {
      const check = checkLine(line, empty);
      if (!check.ok) return fail('chain-integrity', `a record of the range is malformed: ${check.malformed}`);
      if (!check.hashOk || (previous !== undefined && check.facts.prevHash !== previous)) {
        return fail(
          'chain-integrity',
          `seq ${check.facts.seq}: the hash does not recompute or does not link to its predecessor`,
        );
      }
      previous = check.facts.hash;
    }
    take(page);
  }
  return undefined;
}

/** The records fromSeq..toSeq of a chain, checked (with the source's checker, else hashes and links), page by page. */
export function readCheckedRange(
  source: ProofSource,
  range: { chain: string; fromSeq: number; toSeq: number },
  take: TakePage,
): Promise<ProofFinding | undefined> {
  return source.checker
    ? readVerified(source.reader, source.checker, range, take)
    : readHashesChecked(source.reader, range, take);
}
