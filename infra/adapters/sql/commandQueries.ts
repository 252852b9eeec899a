/** What command handlers read from the event log besides streams: idempotency records and the ts index. */
import type { AppendResult } from '../../../chain/store.ts';
import type { ChainIndex, IdempotencyLookup } from '../../../commands/command.ts';
import * as eventLog from './eventLog.ts';
import type { SqlExecutor } from './sql.ts';

export function sqlIdempotencyLookup(db: SqlExecutor): IdempotencyLookup {
  return {
    async find(chain, key) {
      const result = await eventLog.idempotencyResult(db, chain, key);
      return result === undefined ? undefined : ({ ...(JSON.parse(result) as Omit<AppendResult, 'replayed'>), replayed: true } as AppendResult);
    },
  };
}

export function sqlChainIndex(db: SqlExecutor): ChainIndex {
  return {
    seqRange: (chain, fromTs, toTs) => eventLog.seqRange(db, chain, fromTs, toTs),
  };
}
