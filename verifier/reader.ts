import type { DelegationData } from '../chain/delegation.ts';
import type { ChainRecord } from '../chain/record.ts';
import type { LineCheck } from './line.ts';

/** Problems a source finds in what it serves: the archive's batches and signed manifests (archive/archiveReader.ts). */
export type SourceFindingReason =
  | 'manifest-invalid'
  | 'manifest-signature-invalid'
  | 'batch-missing'
  | 'batch-link-mismatch'
  | 'batch-hash-mismatch'
  | 'batch-content-mismatch'
  /** The manifest's tree_root is not the root of the records up to its to_seq (docs/FORMAT.md section 14). */
  | 'batch-tree-mismatch';

export interface SourceFinding {
  chain: string;
  /** The first seq the problem touches (a batch's from_seq, or the first seq no batch holds). */
  seq: number;
  reason: SourceFindingReason;
  message: string;
  /** The archive batch concerned (its object key). */
  batch?: string;
}

/**
 * What the verifier reads through. One interface, several sources: the
 * database (infra/adapters/sql/databaseReader.ts), a JSON Lines file
 * (infra/adapters/files/fileReader.ts), the archive (archive/).
 */
export interface RecordReader {
  /** The source, for messages (no credentials). */
  readonly description: string;
  /** Chains present in the source, in name order. */
  chains(): Promise<string[]>;
  /** Seq of the chain's last record, 0 when empty. */
  lastSeq(chain: string): Promise<number>;
  /** The record texts with seq in [fromSeq, toSeq], in chain order, in bounded pages. */
  pages(chain: string, fromSeq: number, toSeq: number): AsyncIterable<readonly string[]>;
  /** The `hash` member of record `seq`, to anchor a check that starts at seq + 1; undefined when absent or unreadable. */
  hashAt(chain: string, seq: number): Promise<string | undefined>;
  /**
   * The signer.delegated record introducing session signer `kid` in `chain`
   * before `beforeSeq`, for a check that starts after it (docs/FORMAT.md section 4b); the
   * verifier checks it fully. Optional: without it such records fail.
   */
  delegationRecord?(chain: string, kid: string, beforeSeq: number): Promise<string | undefined>;
  /**
   * A source that checks what it serves (the archive: object hashes, signed
   * manifests, links between batches) stops serving a chain at the first
   * problem and reports it here, once the chain's pages were read. The
   * verifier reports it unless its own finding comes earlier in the chain.
   */
  sourceFinding?(chain: string): SourceFinding | undefined;
  /** The head the source itself claims (the database's head row), checked against the records read. */
  claimedHead?(chain: string): Promise<{ seq: number; hash: string } | undefined>;
  close(): Promise<void>;
}

/** Checks records that need no context (verifier/line.ts), in process or on worker threads. */
export interface LineChecker {
  check(lines: readonly string[]): Promise<LineCheck[]>;
  /**
   * A session signer whose signer.delegated record the ordered pass verified
   * (docs/FORMAT.md section 4b): lines checked after this call verify its signatures.
   */
  learnDelegation(delegation: DelegationData): void;
  /** Checks one line now, on the calling thread, with every delegation learned so far. */
  recheck(line: string): LineCheck;
  /** Whether `kid` is in the registry: a session kid never is (docs/FORMAT.md section 4b). */
  isRegistered(kid: string): boolean;
  /**
   * Why a document signature carried in a record (docs/FORMAT.md section 5,
   * check 5b) does not check against the registry at `tsMs`, or undefined.
   */
  documentSignatureProblem(
    signature: { kid: string; alg: string; value: string },
    tsMs: number,
    message: Uint8Array | undefined,
  ): string | undefined;
  close(): Promise<void>;
}

/**
 * The records fromSeq..toSeq of `chain` as `reader` serves them, parsed a
 * page at a time (never the whole range at once). A line that is not JSON
 * throws: the caller decides what an unreadable range means.
 */
export async function* recordPages(
  reader: RecordReader,
  chain: string,
  fromSeq: number,
  toSeq: number,
): AsyncIterable<readonly ChainRecord[]> {
  for await (const page of reader.pages(chain, fromSeq, toSeq))
    yield page.map((line) => JSON.parse(line) as ChainRecord);
}
