/** The verifier's view of the event log in PostgreSQL or PGlite: record texts in seq order, nothing else trusted. */
import { CodedError } from '../../../domain/errors.ts';
import { HASH_PATTERN } from '../../../chain/record.ts';
import type { RecordReader } from '../../../verifier/reader.ts';
import * as eventLog from './eventLog.ts';
import type { SqlDatabase } from './sql.ts';

export const VERIFY_PAGE_RECORDS = 1000;

/** Reads through any executor with a location: a database, or one transaction of it (replay reads the chain it rebuilds from, under its lock). */
export function databaseReader(
  db: Pick<SqlDatabase, 'query' | 'location'>,
  pageRecords = VERIFY_PAGE_RECORDS,
): RecordReader {
  return {
    description: `database ${db.location}`,
    async chains() {
      return eventLog.chainNames(db);
    },
    async lastSeq(chain) {
      const seq = await eventLog.lastSeq(db, chain);
      if (seq !== null) return seq;
      if (!(await eventLog.readHead(db, chain))) {
        throw new CodedError('UNKNOWN_CHAIN', `chain ${JSON.stringify(chain)} is not in ${db.location}`, { chain });
      }
      return 0;
    },
    async *pages(chain, fromSeq, toSeq) {
      let next = fromSeq;
      while (next <= toSeq) {
        const rows = await eventLog.readChainTexts(db, chain, next, toSeq, pageRecords);
        if (rows.length === 0) return;
        yield rows.map((row) => row.record);
        next = rows[rows.length - 1]!.seq + 1;
      }
    },
    async hashAt(chain, seq) {
      const text = await eventLog.recordTextAt(db, chain, seq);
      if (text === undefined) return undefined;
      try {
        const hash = (JSON.parse(text) as { hash?: unknown }).hash;
        return typeof hash === 'string' && HASH_PATTERN.test(hash) ? hash : undefined;
      } catch {
        return undefined;
      }
    },
    async delegationRecord(chain, kid, beforeSeq) {
      return eventLog.delegationRecordText(db, chain, kid, beforeSeq);
    },
    async claimedHead(chain) {
      const head = await eventLog.readHead(db, chain);
      return head && { seq: head.seq, hash: head.hash };
    },
    close: async () => undefined,
  };
}
