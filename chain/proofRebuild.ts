/**
 * A ledger proof document (docs/FORMAT.md section 9) rebuilt from the chain:
 * the `ledger.proof_issued` record carries every member of the document but
 * `ledger_row_ids` and `canonical_payload`, and the records of its range
 * give those. Since the record carries `proofTs` (the document's `ts`), the
 * rebuilt document is the issued one byte for byte; a record written before
 * then cannot be rebuilt. Used by audit-verify's check 5b
 * (verifier/embedded.ts, docs/FORMAT.md section 5) and by replay, which
 * restores the documents a fresh database lacks
 * (projections/replay/proofDocuments.ts).
 *
 * Never throws on bad data: what does not fit is returned as a reason.
 */
import { jcs } from './canonical.ts';
import { sha256Hex } from './hash.ts';
import { LEDGER_PROOF_KIND, LedgerRangeHasher, proofPayloadOf, type ProofPayload, type SignedProof } from './proof.ts';
import { isTimestamp, type ChainRecord } from './record.ts';

/** Where the `ledger.proof_issued` record sits in the chain. */
export interface IssuedAt {
  chain: string;
  seq: number;
  ts: string;
}

/**
 * The records fromSeq..toSeq of the issuing chain, in chain order, in bounded
 * pages (a range may hold a million ledger rows: it is never read whole). It
 * may throw on a record it cannot read or parse.
 */
export type RangePages = (fromSeq: number, toSeq: number) => AsyncIterable<readonly ChainRecord[]>;

export type ProofRebuild =
  | { status: 'rebuilt'; proof: SignedProof }
  /** Recorded before proofTs was: the document's ts is not in the chain. Its signer is known, for check 5b. */
  | { status: 'without-proof-ts'; reason: string; signature: { kid: string; alg: string; value: string } }
  | { status: 'invalid'; reason: string };

/** What the chain says of a proof's range: its ledger rows, range_hash, ends. */
interface RangeFacts {
  rowIds: string[];
  rangeHash: string;
  fromTs: string;
  toTs: string;
  headHash: string;
}

/** The records fromSeq..toSeq read through `pages`; undefined when they are not all there and readable. */
async function rangeFacts(pages: RangePages, fromSeq: number, toSeq: number): Promise<RangeFacts | undefined> {
  const hasher = new LedgerRangeHasher();
  let expected = fromSeq;
  let fromTs = '';
  let last: ChainRecord | undefined;
  try {
    for await (const page of pages(fromSeq, toSeq)) {
      for (const record of page) {
        if (record.seq !== expected) return undefined;
        if (record.seq === fromSeq) fromTs = record.ts;
        hasher.add(record);
        last = record;
        expected += 1;
      }
    }
  } catch {
    return undefined; // a record of the range that does not parse or serialise: the range's own check reports it
  }
  if (!last || last.seq !== toSeq) return undefined;
  return { rowIds: hasher.rowIds, rangeHash: hasher.digest(), fromTs, toTs: last.ts, headHash: last.hash };
}

const text = (value: unknown): value is string => typeof value === 'string';
const seq = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 1;

/** The document whose `ledger.proof_issued` record is at `issued` with `data`, rebuilt from the records of its range. */
export async function ledgerProofFromChain(
  issued: IssuedAt,
  data: Readonly<Record<string, unknown>>,
  pages: RangePages,
): Promise<ProofRebuild> {
  const invalid = (reason: string): ProofRebuild => ({ status: 'invalid', reason });
  const { proofId, chain, fromSeq, toSeq, signerKid, alg, signature, payloadSha256, proofTs } = data;
  if (!text(proofId) || !text(signerKid) || !text(alg) || !text(signature) || !text(payloadSha256))
    return invalid('ledger.proof_issued does not carry proofId, signerKid, alg, signature and payloadSha256');
  if (proofTs === undefined)
    return {
      status: 'without-proof-ts',
      reason: "ledger.proof_issued was recorded before proofTs was: the document's ts is not in the chain",
      signature: { kid: signerKid, alg, value: signature },
    };
  if (!text(proofTs) || !isTimestamp(proofTs) || proofTs > issued.ts)
    return invalid('ledger.proof_issued: proofTs is not a time before the record');
  if (chain !== issued.chain || !seq(fromSeq) || !seq(toSeq) || fromSeq > toSeq || toSeq >= issued.seq)
    return invalid(`ledger.proof_issued: its range is not an earlier range of chain ${issued.chain}`);
  const range = await rangeFacts(pages, fromSeq, toSeq);
  if (!range) return invalid(`ledger.proof_issued: the records ${fromSeq}..${toSeq} of its range cannot all be read`);
  const claims: [string, unknown, unknown][] = [
    ['rangeHash (range_hash)', data['rangeHash'], range.rangeHash],
    ['headHash (head_hash)', data['headHash'], range.headHash],
    ['fromTs', data['fromTs'], range.fromTs],
    ['toTs', data['toTs'], range.toTs],
    ['ledgerRowCount', data['ledgerRowCount'], range.rowIds.length],
  ];
  for (const [member, claimed, actual] of claims)
    if (claimed !== actual)
      return invalid(`ledger.proof_issued: ${member} is not what the records ${fromSeq}..${toSeq} give`);
  const payload: ProofPayload = {
    proof_id: proofId,
    kind: LEDGER_PROOF_KIND,
    chain: issued.chain,
    from_seq: fromSeq,
    to_seq: toSeq,
    from_ts: range.fromTs,
    to_ts: range.toTs,
    ledger_row_ids: range.rowIds,
    range_hash: range.rangeHash,
    head_hash: range.headHash,
    ts: proofTs,
    signer_kid: signerKid,
    alg,
  };
  const canonical = jcs(payload);
  if (sha256Hex(canonical) !== payloadSha256)
    return invalid(
      'ledger.proof_issued: payloadSha256 is not the SHA-256 of the proof rebuilt from the record and its range',
    );
  // The members in the order signProof (chain/proof.ts) gives them, so the stored document is the issued one byte for byte.
  return { status: 'rebuilt', proof: { ...proofPayloadOf(payload), canonical_payload: canonical, signature } };
}
