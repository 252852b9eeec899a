/** What command handlers read from the event log besides streams: idempotency records and the ts index. */
import type { ChainIndex } from '../../../commands/command.ts';
import type { IdempotencyEntry, IdempotencyLookup } from '../../../commands/idempotency.ts';
import * as eventLog from './eventLog.ts';
import type { SqlExecutor } from './sql.ts';

export function sqlIdempotencyLookup(db: SqlExecutor): IdempotencyLookup {
  return {
    async find(chain, key) {
      const record = await eventLog.idempotencyRecord(db, chain, key);
      if (!record) return undefined;
      return {
        requestHash: record.requestHash,
        result: JSON.parse(record.result) as IdempotencyEntry['result'],
        response: record.response === undefined ? undefined : (JSON.parse(record.response) as object),
      };
    },
  };
}

export function sqlChainIndex(db: SqlExecutor): ChainIndex {
  return {
    seqRange: (chain, fromTs, toTs) => eventLog.seqRange(db, chain, fromTs, toTs),
  };
}
