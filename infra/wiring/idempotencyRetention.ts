/**
 * The idempotency records' retention (IDEMPOTENCY_RETENTION_HOURS): what
 * `serve` runs every hour and `chainbook idempotency purge` runs once. A key
 * younger than the window is never deleted, so a retry within it still
 * answers the first result and appends nothing; past it, the same key is a
 * new request.
 */
import { purgeIdempotencyRecords } from '../adapters/sql/eventLog.ts';
import type { SqlExecutor } from '../adapters/sql/sql.ts';

/** Rows one purge statement deletes: short statements, however many records are due. */
export const PURGE_BATCH_ROWS = 10_000;
/** Statements one pass runs at most (a million rows); the next pass goes on. */
export const MAX_PURGE_STATEMENTS = 100;
/** How often `serve` purges (and once at start). */
export const IDEMPOTENCY_PURGE_INTERVAL_MS = 3_600_000;

export interface PurgeOutcome {
  purged: number;
  /** False when the pass stopped at MAX_PURGE_STATEMENTS with records still due. */
  complete: boolean;
}

/** Deletes the idempotency records older than `retentionHours`, at most MAX_PURGE_STATEMENTS statements of `batchRows`. */
export async function purgeIdempotency(
  db: Pick<SqlExecutor, 'query'>,
  retentionHours: number,
  batchRows = PURGE_BATCH_ROWS,
): Promise<PurgeOutcome> {
  let purged = 0;
  for (let statement = 0; statement < MAX_PURGE_STATEMENTS; statement++) {
    const deleted = await purgeIdempotencyRecords(db, retentionHours, batchRows);
    purged += deleted;
    if (deleted < batchRows) return { purged, complete: true };
  }
  return { purged, complete: false };
}
