/** A PostgreSQL or PGlite database as the target of replay (projections/replay/replay.ts). */
import type { ReplayTarget } from '../../../projections/replay/replay.ts';
import { databaseReader } from './databaseReader.ts';
import * as eventLog from './eventLog.ts';
import { proofListing, sqlProofStore } from './proofDocuments.ts';
import type { SqlDatabase } from './sql.ts';

export function sqlReplayTarget(db: SqlDatabase): ReplayTarget {
  return {
    location: db.location,
    transaction: (work) =>
      db.transaction((tx) =>
        work({
          query: (text, params) => tx.query(text, params),
          // The chain being rebuilt from is read under the same transaction and lock.
          reader: databaseReader({ query: (text, params) => tx.query(text, params), location: db.location }),
          lockAllHeads: () => eventLog.lockAllHeads(tx),
          hasEvents: () => eventLog.hasEvents(tx),
          wipeEventLog: () => eventLog.wipeEventLog(tx),
          copyRecords: (records) => eventLog.copyRecords(tx, records),
          setHead: (record) => eventLog.setHead(tx, record),
          proofDocuments: {
            listing: (chain, afterSeq, limit) => proofListing(tx, chain, afterSeq, limit),
            save: (proof) => sqlProofStore(tx).save(proof),
          },
        }),
      ),
  };
}
