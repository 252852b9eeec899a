/**
 * All projections, and what is done to them as a whole: fold records (inline
 * in the append transaction, or a page at a time in replay), keep a checkpoint
 * per chain, compute digests, drop them for a rebuild.
 */
import type { StoredRecord } from '../chain/record.ts';
import { isDomainEventType, parseDomainEvent } from '../domain/domainEvents.ts';
import { CodedError } from '../domain/errors.ts';
import { streamOf } from '../domain/streams.ts';
import { catalogProjection } from './catalog/catalogProjection.ts';
import { deliveryProjection } from './delivery/deliveryProjection.ts';
import { governanceProjection } from './governance/governanceProjection.ts';
import { ledgerProjection } from './ledger/ledgerProjection.ts';
import { ordersProjection } from './orders/ordersProjection.ts';
import { payoutsProjection } from './payouts/payoutsProjection.ts';
import { previewsProjection } from './previews/previewsProjection.ts';
import { reconciliationProjection } from './reconciliation/reconciliationProjection.ts';
import type { Projection, ProjectedRecord } from './projection.ts';
import { tablesDigest, type ProjectionExecutor } from './rowStore.ts';

export const PROJECTIONS: readonly Projection[] = [
  catalogProjection,
  ordersProjection,
  deliveryProjection,
  ledgerProjection,
  governanceProjection,
  payoutsProjection,
  reconciliationProjection,
  previewsProjection,
];

/**
 * The domain event of a record, checked against its schema and its stream;
 * undefined for event types the domain does not define (they are recorded,
 * not projected).
 */
export function projectedRecord({ record }: StoredRecord): ProjectedRecord | undefined {
  if (!isDomainEventType(record.type)) return undefined;
  const event = parseDomainEvent(record.type, record.data);
  const expected = streamOf(event);
  if (record.stream !== expected) {
    throw new CodedError(
      'INVALID_DOMAIN_EVENT',
      `${record.type} at seq ${record.seq} is in stream ${record.stream}, its data belongs in ${expected}`,
      {
        seq: record.seq,
        stream: record.stream,
      },
    );
  }
  const { chain, seq, id, hash, ts, stream, actor } = record;
  return { chain, seq, id, hash, ts, stream, actor, event };
}

const CHECKPOINT_SQL = `WITH current AS (SELECT coalesce((SELECT seq FROM projection_checkpoints WHERE chain = $1), 0) AS seq)
  INSERT INTO projection_checkpoints (chain, seq) SELECT $1, $3 FROM current WHERE current.seq = $2
  ON CONFLICT (chain) DO UPDATE SET seq = EXCLUDED.seq
  RETURNING seq`;

/**
 * Moves the chain's checkpoint from `fromSeq - 1` to `toSeq`. Refuses when the
 * projections are not at `fromSeq - 1`: records were appended without them
 * (a raw `chainbook append`), and folding more would build on a gap.
 */
async function advanceCheckpoint(tx: ProjectionExecutor, chain: string, fromSeq: number, toSeq: number): Promise<void> {
  const { rows } = await tx.query(CHECKPOINT_SQL, [chain, fromSeq - 1, toSeq]);
  if (rows.length === 1) return;
  throw new CodedError(
    'PROJECTIONS_BEHIND',
    `the projections of chain ${chain} are not at seq ${fromSeq - 1}; run \`chainbook replay\` to rebuild them`,
    {
      chain,
      expectedSeq: fromSeq - 1,
    },
  );
}

/** Folds the records of one chain, in seq order and contiguous, into every projection. */
export async function projectRecords(tx: ProjectionExecutor, records: readonly StoredRecord[]): Promise<void> {
  const first = records[0]?.record;
  const last = records[records.length - 1]?.record;
  if (!first || !last) return;
  await advanceCheckpoint(tx, first.chain, first.seq, last.seq);
  const projected = records.map(projectedRecord).filter((record) => record !== undefined);
  for (const projection of PROJECTIONS) {
    const mine = projected.filter((record) => projection.eventTypes.has(record.event.type));
    if (mine.length > 0) await projection.apply(tx, mine);
  }
}

/** SHA-256 of each projection's rows (see rowStore.tablesDigest), by projection name. */
export async function projectionDigests(tx: ProjectionExecutor): Promise<Record<string, string>> {
  const digests: Record<string, string> = {};
  for (const projection of PROJECTIONS)
    digests[projection.name] = await tablesDigest(tx, `${projection.name}@${projection.version}`, projection.tables);
  return digests;
}

/** Empties every projection and its checkpoints, and records the versions being rebuilt. Call inside a transaction. */
export async function dropProjections(tx: ProjectionExecutor): Promise<void> {
  const tables = PROJECTIONS.flatMap((projection) => projection.tables.map((table) => table.name));
  await tx.query(`TRUNCATE ${[...tables, 'projection_checkpoints'].join(', ')}`);
  await tx.query(
    `INSERT INTO projection_versions (name, version) SELECT * FROM unnest($1::text[], $2::int4[])
     ON CONFLICT (name) DO UPDATE SET version = EXCLUDED.version`,
    [PROJECTIONS.map((projection) => projection.name), PROJECTIONS.map((projection) => projection.version)],
  );
}

/** Projections whose stored version is not this software's: their tables must be rebuilt by replay. */
export async function staleProjections(tx: ProjectionExecutor): Promise<string[]> {
  const { rows } = await tx.query<{ name: string; version: number }>('SELECT name, version FROM projection_versions');
  const stored = new Map(rows.map((row) => [row.name, row.version]));
  return PROJECTIONS.filter((projection) => stored.get(projection.name) !== projection.version).map(
    (projection) => projection.name,
  );
}

/** The checkpoint of each chain: the last seq folded into the projections. */
export async function projectionCheckpoints(tx: ProjectionExecutor): Promise<Map<string, number>> {
  const { rows } = await tx.query<{ chain: string; seq: number }>(
    'SELECT chain, seq FROM projection_checkpoints ORDER BY chain',
  );
  return new Map(rows.map((row) => [row.chain, row.seq]));
}
