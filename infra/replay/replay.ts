/**
 * Replay (disaster recovery): drops every projection and rebuilds it from the
 * chain, verifying each record (docs/FORMAT.md section 5: format, links,
 * hashes, signatures) before folding it. With another source (any
 * RecordReader: a database, or the archive, whose reader also checks batch
 * hashes, signed manifests and links) the verified records are first copied,
 * byte for byte, into the target's empty event log.
 *
 * It all happens in one transaction of the target holding every chain's head
 * lock: appends wait, readers see the old projections until the new ones are
 * complete, and a failure leaves everything as it was.
 */
import type { ChainRecord, StoredRecord } from '../../chain/record.ts';
import { CodedError } from '../../domain/errors.ts';
import { trialBalance, type TrialBalanceLine } from '../../projections/ledger/ledgerQueries.ts';
import { dropProjections, projectionDigests, projectRecords } from '../../projections/projections.ts';
import type { LineChecker, RecordReader } from '../../verifier/reader.ts';
import { verify, type ChainSummary, type Finding, type VerifyProgress } from '../../verifier/verify.ts';
import type { SqlDatabase, SqlExecutor } from '../adapters/sql/sql.ts';
import { databaseReader } from '../adapters/sql/databaseReader.ts';
import { storedRecord } from '../adapters/sql/sqlEventStore.ts';

const SQL = {
  lockHeads: 'SELECT chain FROM chain_heads ORDER BY chain FOR UPDATE',
  anyEvent: 'SELECT 1 FROM events LIMIT 1',
  // --force: the event log is append-only (triggers) except for a superuser who turns them off for this transaction.
  replicaRole: 'SET LOCAL session_replication_role = replica',
  wipe: 'TRUNCATE events, idempotency_keys',
  resetHeads: `UPDATE chain_heads SET seq = 0, hash = repeat('0', 64), ts = NULL`,
  defaultRole: 'SET LOCAL session_replication_role = DEFAULT',
  copy: `INSERT INTO events (chain, seq, id, stream, version, type, ts, record)
    SELECT u.chain, u.seq, u.id::uuid, u.stream, u.version, u.type, u.ts::timestamptz, u.record
    FROM unnest($1::text[], $2::int8[], $3::text[], $4::text[], $5::int8[], $6::text[], $7::text[], $8::text[])
      AS u(chain, seq, id, stream, version, type, ts, record)`,
  head: `INSERT INTO chain_heads (chain, seq, hash, ts) VALUES ($1, $2, $3, $4)
    ON CONFLICT (chain) DO UPDATE SET seq = EXCLUDED.seq, hash = EXCLUDED.hash, ts = EXCLUDED.ts`,
} as const;

export interface ReplaySource {
  reader: RecordReader;
  /** The source's own projection digests, for --compare. */
  digests?: () => Promise<Record<string, string>>;
}

export interface ReplayOptions {
  target: SqlDatabase;
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
  committed: boolean;
}

class Rollback extends Error {
  constructor(readonly report: ReplayReport) {
    super('replay rolled back');
  }
}

async function copyRecords(tx: SqlExecutor, records: readonly StoredRecord[]): Promise<void> {
  const r = records.map((stored) => stored.record);
  await tx.query(SQL.copy, [r.map((x) => x.chain), r.map((x) => x.seq), r.map((x) => x.id), r.map((x) => x.stream), r.map((x) => x.version), r.map((x) => x.type), r.map((x) => x.ts), records.map((stored) => stored.text)]);
}

async function emptyEventLog(tx: SqlExecutor, location: string): Promise<void> {
  try {
    await tx.query(SQL.replicaRole);
    await tx.query(SQL.wipe);
    await tx.query(SQL.resetHeads);
    await tx.query(SQL.defaultRole);
  } catch (error) {
    throw new CodedError('REPLAY_TARGET_NOT_EMPTY', `cannot empty the event log of ${location} (a superuser may): ${(error as Error).message}`, {});
  }
}

async function rebuild(tx: SqlExecutor, options: ReplayOptions): Promise<ReplayReport> {
  const started = performance.now();
  await tx.query(SQL.lockHeads);
  const copying = options.source !== undefined;
  if (copying && (await tx.query(SQL.anyEvent)).rows.length > 0) {
    if (!options.replaceExisting) throw new CodedError('REPLAY_TARGET_NOT_EMPTY', `the event log of ${options.target.location} is not empty; restore into a fresh database (or replace it with --force)`, {});
    await emptyEventLog(tx, options.target.location);
  }
  const compared = options.compare ? await (options.source?.digests?.() ?? projectionDigests(tx)) : undefined;
  await dropProjections(tx);
  const reader = options.source?.reader ?? databaseReader({ query: tx.query, location: options.target.location });
  const last = new Map<string, ChainRecord>();
  const verified = await verify(reader, options.checker, {
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    onVerifiedPage: async (chain, lines) => {
      const records = lines.map(storedRecord);
      if (copying) await copyRecords(tx, records);
      await projectRecords(tx, records);
      last.set(chain, records[records.length - 1]!.record);
    },
  });
  if (copying) for (const [chain, record] of last) await tx.query(SQL.head, [chain, record.seq, record.hash, record.ts]);
  const digests = verified.ok ? await projectionDigests(tx) : {};
  const differences = compared ? Object.keys(digests).filter((name) => digests[name] !== compared[name]) : [];
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
