/**
 * Replay (disaster recovery): drops every projection and rebuilds it from the
 * chain, verifying each record (docs/FORMAT.md section 5: format, links,
 * hashes, signatures) before folding it. With another source (any
 * RecordReader: a database, or the archive, whose reader also checks batch
 * hashes, signed manifests and links) the verified records are first copied,
 * byte for byte, into the target's empty event log.
 *
 * Once every record verified and was folded, the ledger proof documents the
 * target does not keep are rebuilt from its chain (./proofDocuments.ts).
 *
 * It all happens in one transaction of the target holding every chain's head
 * lock: appends wait, readers see the old projections until the new ones are
 * complete, and a failure leaves everything as it was.
 */
import type { ChainRecord, StoredRecord } from '../../chain/record.ts';
import { CodedError } from '../../domain/errors.ts';
import { trialBalance, type TrialBalanceLine } from '../ledger/ledgerQueries.ts';
import { dropProjections, projectionDigests, projectRecords } from '../projections.ts';
import type { LineChecker, RecordReader } from '../../verifier/reader.ts';
import {
  verify,
  type ChainSummary,
  type Finding,
  type VerifyProgress,
  type VerifyReport,
} from '../../verifier/verify.ts';
import type { ProjectionExecutor } from '../rowStore.ts';
import { rebuildProofDocuments, type ProofDocumentStore, type ProofDocumentsReport } from './proofDocuments.ts';

/**
 * The database whose projections are rebuilt, as replay needs it
 * (infra/adapters/sql/replayTarget.ts): one transaction in which the
 * projections are folded, the event log's own records are read, and, when
 * restoring from another source, the verified records are copied in.
 */
export interface ReplayTarget {
  /** Where the data lives, for messages. */
  readonly location: string;
  transaction<T>(work: (tx: ReplayTransaction) => Promise<T>): Promise<T>;
}

export interface ReplayTransaction extends ProjectionExecutor {
  /** The target's own chains, read inside this transaction. */
  readonly reader: RecordReader;
  /** Locks every chain's head: appends wait until the transaction ends. */
  lockAllHeads(): Promise<void>;
  hasEvents(): Promise<boolean>;
  /** Empties the event log (a superuser only: it is append-only). */
  wipeEventLog(): Promise<void>;
  /** Copies verified records, each byte for byte its stored text. */
  copyRecords(records: readonly StoredRecord[]): Promise<void>;
  setHead(record: ChainRecord): Promise<void>;
  /** The ledger proof documents kept beside the projections, which replay completes from the chain (./proofDocuments.ts). */
  readonly proofDocuments: ProofDocumentStore;
}

export interface ReplaySource {
  reader: RecordReader;
  /** The source's own projection digests, for --compare. */
  digests?: () => Promise<Record<string, string>>;
}

export interface ReplayOptions {
  target: ReplayTarget;
  /** Another source to restore from; absent: the target's own chain. */
  source?: ReplaySource | undefined;
  checker: LineChecker;
  /** Compare the rebuilt digests with the live ones (the target's before, or the source's). */
  compare?: boolean;
  /** Roll back at the end: only report. */
  dryRun?: boolean;
  /**
   * Restoring into a target whose event log is not empty: empty it first, in
   * the same transaction (needs a superuser: the event log is append-only).
   */
  replaceExisting?: boolean;
  onProgress?: (progress: VerifyProgress) => void;
}

export interface ReplayReport {
  ok: boolean;
  /** The first record that failed verification: nothing was rebuilt. */
  finding: Finding | undefined;
  source: string;
  chains: ChainSummary[];
  records: number;
  elapsedMs: number;
  digests: Record<string, string>;
  /** Projections whose rebuilt digest differs from the compared one. */
  differences: string[];
  compared: Record<string, string> | undefined;
  trialBalance: TrialBalanceLine[];
  /** The ledger proof documents rebuilt from the chain, once every record verified (none counted otherwise). */
  proofDocuments: ProofDocumentsReport;
  committed: boolean;
}

/**
 * Verified pages waiting to be folded: verification (worker threads and the
 * ordered checks) goes on with the next pages while one is folded, so replay
 * takes about the time of the slower of the two, not their sum.
 */
export const MAX_PAGES_AHEAD_OF_FOLDING = 4;

/**
 * Folds verified pages in chain order, one at a time, while the verifier goes
 * on: add() returns at once unless MAX_PAGES_AHEAD_OF_FOLDING pages wait.
 * A page is only ever given here once every record in it verified, and a
 * failure anywhere rolls the whole transaction back, so folding behind
 * verification never keeps a record that did not verify.
 */
class FoldPipeline {
  readonly #tx: ReplayTransaction;
  readonly #copying: boolean;
  readonly #last = new Map<string, ChainRecord>();
  #folded: Promise<void> = Promise.resolve();
  readonly #waiting: Promise<void>[] = [];

  constructor(tx: ReplayTransaction, copying: boolean) {
    this.#tx = tx;
    this.#copying = copying;
  }

  async add(chain: string, lines: readonly string[]): Promise<void> {
    // Parsed now, on the way in: the fold itself then only waits for its statements.
    const records = lines.map((text): StoredRecord => ({ record: JSON.parse(text) as ChainRecord, text }));
    const folded = this.#folded.then(() => this.#fold(chain, records));
    folded.catch(() => undefined); // observed in order below, or by finish()
    this.#folded = folded;
    this.#waiting.push(folded);
    if (this.#waiting.length > MAX_PAGES_AHEAD_OF_FOLDING) await this.#waiting.shift();
  }

  async #fold(chain: string, records: readonly StoredRecord[]): Promise<void> {
    if (this.#copying) await this.#tx.copyRecords(records);
    await projectRecords(this.#tx, records);
    this.#last.set(chain, records[records.length - 1]!.record);
  }

  /** Waits for every page; the last record folded of each chain. Throws the first fold's failure. */
  async finish(): Promise<ReadonlyMap<string, ChainRecord>> {
    await this.#folded;
    return this.#last;
  }
}

class Rollback extends Error {
  constructor(readonly report: ReplayReport) {
    super('replay rolled back');
  }
}

async function emptyEventLog(tx: ReplayTransaction, location: string): Promise<void> {
  try {
    await tx.wipeEventLog();
  } catch (error) {
    throw new CodedError(
      'REPLAY_TARGET_NOT_EMPTY',
      `cannot empty the event log of ${location} (a superuser may): ${(error as Error).message}`,
      {},
    );
  }
}

async function rebuild(tx: ReplayTransaction, options: ReplayOptions): Promise<ReplayReport> {
  const started = performance.now();
  await tx.lockAllHeads();
  const copying = options.source !== undefined;
  if (copying && (await tx.hasEvents())) {
    if (!options.replaceExisting)
      throw new CodedError(
        'REPLAY_TARGET_NOT_EMPTY',
        `the event log of ${options.target.location} is not empty; restore into a fresh database (or replace it with --force)`,
        {},
      );
    await emptyEventLog(tx, options.target.location);
  }
  const compared = options.compare ? await (options.source?.digests?.() ?? projectionDigests(tx)) : undefined;
  await dropProjections(tx);
  const reader = options.source?.reader ?? tx.reader;
  const folding = new FoldPipeline(tx, copying);
  let verified: VerifyReport;
  try {
    verified = await verify(reader, options.checker, {
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      onVerifiedPage: (chain, lines) => folding.add(chain, lines),
    });
  } catch (error) {
    // A fold that failed is the cause when there is one: a statement the database refused aborted the transaction,
    // and the reads verification went on with in it failed only because of that.
    await folding.finish();
    throw error;
  }
  // A page that failed to fold (a record the domain rejects) fails the replay, as it did when it was folded.
  const last = await folding.finish();
  if (copying) for (const record of last.values()) await tx.setHead(record);
  const digests = verified.ok ? await projectionDigests(tx) : {};
  const differences = compared ? Object.keys(digests).filter((name) => digests[name] !== compared[name]) : [];
  // Read back from the target, under the same lock: the chain as restored is what the documents are rebuilt from.
  const proofDocuments = verified.ok
    ? await rebuildProofDocuments(
        tx.reader,
        tx.proofDocuments,
        verified.chains.map((chain) => chain.chain),
      )
    : { kept: 0, rebuilt: 0, notRebuilt: 0, problems: [] };
  const report: ReplayReport = {
    ok: verified.ok && differences.length === 0,
    finding: verified.finding,
    source: verified.source,
    chains: verified.chains,
    records: verified.records,
    elapsedMs: Math.round(performance.now() - started),
    digests,
    differences,
    compared,
    trialBalance: verified.ok ? await trialBalance(tx) : [],
    proofDocuments,
    committed: verified.ok && !options.dryRun,
  };
  // A chain that fails verification rebuilds nothing; a dry run keeps nothing.
  if (!report.committed) throw new Rollback(report);
  return report;
}

export async function replay(options: ReplayOptions): Promise<ReplayReport> {
  try {
    return await options.target.transaction((tx) => rebuild(tx, options));
  } catch (error) {
    if (error instanceof Rollback) return error.report;
    throw error;
  }
}
