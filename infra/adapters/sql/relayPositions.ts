/**
 * The relays' positions and leases in the chain's own database (migration
 * 0015, `relay_positions`): per relay and chain, the last seq the target
 * acknowledged and its hash, and which relay process owns the row until
 * when. Times are the database's (`now()`), so the processes' clocks do not
 * have to agree. The same statements run on PostgreSQL and PGlite.
 */
import type { RelayPosition, RelayPositions } from '../stream/relay.ts';
import type { SqlDatabase } from './sql.ts';

interface PositionRow {
  seq: number;
  hash: string;
}

function position(row: PositionRow | undefined): RelayPosition | undefined {
  return row === undefined ? undefined : { seq: Number(row.seq), hash: row.hash };
}

export function sqlRelayPositions(db: SqlDatabase): RelayPositions {
  return {
    async read(relay, chain) {
      const { rows } = await db.query<PositionRow>(
        'SELECT seq, hash FROM relay_positions WHERE relay = $1 AND chain = $2',
        [relay, chain],
      );
      return position(rows[0]);
    },

    async claim(relay, chain, owner, leaseMs, start) {
      // Taken when nobody holds it, its lease lapsed, or it is ours already (a renewal).
      const { rows } = await db.query<PositionRow>(
        `INSERT INTO relay_positions (relay, chain, seq, hash, owner, lease_until)
         VALUES ($1, $2, $3, $4, $5, now() + $6 * interval '1 millisecond')
         ON CONFLICT (relay, chain) DO UPDATE SET owner = EXCLUDED.owner, lease_until = EXCLUDED.lease_until
         WHERE relay_positions.owner IS NULL OR relay_positions.owner = EXCLUDED.owner
            OR relay_positions.lease_until < now()
         RETURNING seq, hash`,
        [relay, chain, start.seq, start.hash, owner, leaseMs],
      );
      return position(rows[0]);
    },

    async advance(relay, chain, owner, leaseMs, to) {
      const { rows } = await db.query<PositionRow>(
        `UPDATE relay_positions SET seq = $4, hash = $5, updated_at = now(),
           lease_until = now() + $6 * interval '1 millisecond'
         WHERE relay = $1 AND chain = $2 AND owner = $3 AND seq < $4
         RETURNING seq, hash`,
        [relay, chain, owner, to.seq, to.hash, leaseMs],
      );
      return rows.length === 1;
    },

    async release(relay, chain, owner) {
      await db.query(
        'UPDATE relay_positions SET owner = NULL, lease_until = now() WHERE relay = $1 AND chain = $2 AND owner = $3',
        [relay, chain, owner],
      );
    },

    async reset(relay, chain, to, lease) {
      // The owner is replaced too, in the same statement: by the caller's lease (a replay that runs now: no other
      // process can claim the row between the reset and its first claim), or by nobody. A relay running on the old
      // position loses its lease at its next move or renewal.
      await db.query(
        `INSERT INTO relay_positions (relay, chain, seq, hash, owner, lease_until)
         VALUES ($1, $2, $3, $4, $5, now() + $6 * interval '1 millisecond')
         ON CONFLICT (relay, chain) DO UPDATE SET seq = EXCLUDED.seq, hash = EXCLUDED.hash, owner = EXCLUDED.owner,
           lease_until = EXCLUDED.lease_until, updated_at = now()`,
        [relay, chain, to.seq, to.hash, lease?.owner ?? null, lease?.leaseMs ?? 0],
      );
    },
  };
}
