/** The verifier's view of the event log in PostgreSQL or PGlite: record texts in seq order, nothing else trusted. */
import { CodedError } from '../../../domain/errors.ts';
import { HASH_PATTERN } from '../../../chain/record.ts';
import type { RecordReader } from '../../../verifier/reader.ts';
import type { SqlDatabase } from './sql.ts';

export const VERIFY_PAGE_RECORDS = 1000;

const SQL = {
  // Chains with records (a skip scan over the primary key) or a head row.
  chains: `WITH RECURSIVE c AS (
      SELECT min(chain) AS chain FROM events
      UNION ALL SELECT (SELECT min(chain) FROM events WHERE chain > c.chain) FROM c WHERE c.chain IS NOT NULL
    )
    SELECT chain FROM c WHERE chain IS NOT NULL UNION SELECT chain FROM chain_heads ORDER BY chain`,
  lastSeq: 'SELECT max(seq) AS seq FROM events WHERE chain = $1',
  known: 'SELECT 1 FROM chain_heads WHERE chain = $1',
  page: 'SELECT seq, record FROM events WHERE chain = $1 AND seq >= $2 AND seq <= $3 ORDER BY seq LIMIT $4',
  at: 'SELECT record FROM events WHERE chain = $1 AND seq = $2',
  head: 'SELECT seq, hash FROM chain_heads WHERE chain = $1',
  // The writer puts each delegation on its own stream (chain/writer.ts): one probe of the (stream, version) index.
  delegation: 'SELECT record FROM events WHERE stream = $1 AND version = 1 AND chain = $2 AND seq < $3',
} as const;

/** Reads through any executor with a location: a database, or one transaction of it (replay reads the chain it rebuilds from, under its lock). */
export function databaseReader(db: Pick<SqlDatabase, 'query' | 'location'>, pageRecords = VERIFY_PAGE_RECORDS): RecordReader {
  return {
    description: `database ${db.location}`,
    async chains() {
      return (await db.query<{ chain: string }>(SQL.chains)).rows.map((row) => row.chain);
    },
    async lastSeq(chain) {
      const seq = (await db.query<{ seq: number | null }>(SQL.lastSeq, [chain])).rows[0]?.seq ?? null;
      if (seq !== null) return seq;
      if ((await db.query(SQL.known, [chain])).rows.length === 0) {
        throw new CodedError('UNKNOWN_CHAIN', `chain ${JSON.stringify(chain)} is not in ${db.location}`, { chain });
      }
      return 0;
    },
    async *pages(chain, fromSeq, toSeq) {
      let next = fromSeq;
      while (next <= toSeq) {
        const { rows } = await db.query<{ seq: number; record: string }>(SQL.page, [chain, next, toSeq, pageRecords]);
        if (rows.length === 0) return;
        yield rows.map((row) => row.record);
        next = rows[rows.length - 1]!.seq + 1;
      }
    },
    async hashAt(chain, seq) {
      const text = (await db.query<{ record: string }>(SQL.at, [chain, seq])).rows[0]?.record;
      if (text === undefined) return undefined;
      try {
        const hash = (JSON.parse(text) as { hash?: unknown }).hash;
        return typeof hash === 'string' && HASH_PATTERN.test(hash) ? hash : undefined;
      } catch {
        return undefined;
      }
    },
    async delegationRecord(chain, kid, beforeSeq) {
      return (await db.query<{ record: string }>(SQL.delegation, [`delegation-${chain}.${kid}`, chain, beforeSeq])).rows[0]?.record;
    },
    async claimedHead(chain) {
      return (await db.query<{ seq: number; hash: string }>(SQL.head, [chain])).rows[0];
    },
    close: async () => undefined,
  };
}
