/** What command handlers read from the event log besides streams: idempotency records and the ts index. */
import type { AppendResult } from '../../../chain/store.ts';
import type { ChainIndex, IdempotencyLookup } from '../../../commands/command.ts';
import type { SqlExecutor } from './sql.ts';

const SQL = {
  idempotency: 'SELECT result FROM idempotency_keys WHERE chain = $1 AND key = $2',
  // Records carry ts as text and as timestamptz; the range is on the column.
  seqRange: 'SELECT min(seq) AS from_seq, max(seq) AS to_seq FROM events WHERE chain = $1 AND ts >= $2::timestamptz AND ts <= $3::timestamptz',
} as const;

export function sqlIdempotencyLookup(db: SqlExecutor): IdempotencyLookup {
  return {
    async find(chain, key) {
      const row = (await db.query<{ result: string }>(SQL.idempotency, [chain, key])).rows[0];
      return row ? ({ ...(JSON.parse(row.result) as Omit<AppendResult, 'replayed'>), replayed: true } as AppendResult) : undefined;
    },
  };
}

export function sqlChainIndex(db: SqlExecutor): ChainIndex {
  return {
    async seqRange(chain, fromTs, toTs) {
      const row = (await db.query<{ from_seq: number | null; to_seq: number | null }>(SQL.seqRange, [chain, fromTs, toTs])).rows[0];
      return row?.from_seq == null || row.to_seq == null ? undefined : { fromSeq: row.from_seq, toSeq: row.to_seq };
    },
  };
}
