/**
 * The ledger proof documents a replay restores (docs/FORMAT.md section 9).
 * `ledger_proof_documents` is not a projection: it keeps each signed document
 * as issued. A database restored by replay starts without them, so once the
 * projections are folded, the document of every proof the chain recorded
 * (the `ledger_proofs` projection) that is not kept is rebuilt from its
 * `ledger.proof_issued` record and the records of its range
 * (chain/proofRebuild.ts) and kept. Replay calls this only once every
 * record verified, check 5b included (docs/FORMAT.md section 5), so the
 * signature of each document rebuilt here was checked over the same payload
 * on the way. A record without `proofTs` cannot be rebuilt; it is reported,
 * as is any other that does not rebuild, and neither stops the replay: the
 * chain, verified by then, is what holds.
 */
import type { SignedProof } from '../../chain/proof.ts';
import { ledgerProofFromChain } from '../../chain/proofRebuild.ts';
import type { ChainRecord } from '../../chain/record.ts';
import { assert } from '../../domain/errors.ts';
import { recordLineAt } from '../../verifier/deliveryRecord.ts';
import { recordPages, type RecordReader } from '../../verifier/reader.ts';

/** Proofs listed per read of the `ledger_proofs` projection. */
export const PROOFS_PER_PAGE = 1000;
/** Proofs not rebuilt that a report names one by one (it counts them all). */
export const MAX_REPORTED_PROOF_PROBLEMS = 100;

const PROOF_ISSUED_TYPE = 'ledger.proof_issued';

/** Where the documents are kept (infra/adapters/sql/proofDocuments.ts), inside the replay's transaction. */
export interface ProofDocumentStore {
  /** The proofs the chain recorded, issued after seq `afterSeq`, in the order issued, at most `limit`; `stored` when its document is kept. */
  listing(
    chain: string,
    afterSeq: number,
    limit: number,
  ): Promise<{ proofId: string; issuedSeq: number; stored: boolean }[]>;
  /** Keeps the document; one already kept is left as it is. */
  save(proof: SignedProof): Promise<void>;
}

export interface ProofDocumentProblem {
  chain: string;
  /** The seq of the proof's `ledger.proof_issued` record. */
  seq: number;
  proofId: string;
  reason: string;
}

export interface ProofDocumentsReport {
  /** Documents that were kept already. */
  kept: number;
  rebuilt: number;
  notRebuilt: number;
  /** The first MAX_REPORTED_PROOF_PROBLEMS proofs not rebuilt, and why. */
  problems: ProofDocumentProblem[];
}

/** The record at `seq`, or undefined when the reader does not hold it or it is not JSON. */
async function recordAt(reader: RecordReader, chain: string, seq: number): Promise<ChainRecord | undefined> {
  const text = await recordLineAt(reader, chain, seq);
  try {
    return text === undefined ? undefined : (JSON.parse(text) as ChainRecord);
  } catch {
    return undefined;
  }
}

/** The document of the proof recorded at `seq`, or why it cannot be rebuilt. */
async function rebuildOne(reader: RecordReader, chain: string, seq: number): Promise<SignedProof | string> {
  const record = await recordAt(reader, chain, seq);
  const fits = record?.seq === seq && record.chain === chain && record.type === PROOF_ISSUED_TYPE;
  if (!fits || typeof record.data !== 'object' || record.data === null)
    return `the record at seq ${seq} is not a readable ${PROOF_ISSUED_TYPE}`;
  const rebuilt = await ledgerProofFromChain(record, record.data, (fromSeq, toSeq) =>
    recordPages(reader, chain, fromSeq, toSeq),
  );
  return rebuilt.status === 'rebuilt' ? rebuilt.proof : rebuilt.reason;
}

/**
 * Rebuilds and keeps the document of every proof of `chains` that is not
 * kept, reading the chain through `reader` (each range in bounded pages).
 */
export async function rebuildProofDocuments(
  reader: RecordReader,
  documents: ProofDocumentStore,
  chains: readonly string[],
): Promise<ProofDocumentsReport> {
  const report: ProofDocumentsReport = { kept: 0, rebuilt: 0, notRebuilt: 0, problems: [] };
  for (const chain of chains) {
    for (let afterSeq = 0; ;) {
      const page = await documents.listing(chain, afterSeq, PROOFS_PER_PAGE);
      for (const listed of page) {
        if (listed.stored) {
          report.kept += 1;
          continue;
        }
        const rebuilt = await rebuildOne(reader, chain, listed.issuedSeq);
        if (typeof rebuilt !== 'string') {
          await documents.save(rebuilt);
          report.rebuilt += 1;
          continue;
        }
        report.notRebuilt += 1;
        if (report.problems.length < MAX_REPORTED_PROOF_PROBLEMS)
          report.problems.push({ chain, seq: listed.issuedSeq, proofId: listed.proofId, reason: rebuilt });
      }
      if (page.length < PROOFS_PER_PAGE) break;
      // Issued seqs only grow along the listing, so the pages end with the chain.
      assert(page[page.length - 1]!.issuedSeq > afterSeq, 'the proof listing moves forward');
      afterSeq = page[page.length - 1]!.issuedSeq;
    }
  }
  return report;
}
