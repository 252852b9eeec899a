/**
 * The pattern every projection follows for a batch: load the rows the batch
 * touches (one statement), fold the records into them in memory in seq order,
 * write the changed rows back (one statement).
 */
import { CodedError } from '../domain/errors.ts';
import type { ProjectedRecord } from './projection.ts';
import { keyOf, loadRows, upsertRows, type ProjectionExecutor, type Row, type TableSpec } from './rowStore.ts';

export interface RowFold<Event extends ProjectedRecord['event']> {
  spec: TableSpec;
  /** The key of the row an event changes. */
  keyOf(event: Event): Row;
  /** The row after the event; `row` is undefined when the key has no row yet. */
  evolve(row: Row | undefined, event: Event, record: ProjectedRecord): Row;
}

export async function foldRows<Event extends ProjectedRecord['event']>(
  tx: ProjectionExecutor,
  fold: RowFold<Event>,
  records: readonly ProjectedRecord[],
): Promise<Map<string, Row>> {
  const keys = records.map((record) => fold.keyOf(record.event as Event));
  const rows = await loadRows(tx, fold.spec, keys);
  const changed = new Map<string, Row>();
  records.forEach((record, index) => {
    const key = keyOf(fold.spec, keys[index]!);
    const next = fold.evolve(rows.get(key), record.event as Event, record);
    rows.set(key, next);
    changed.set(key, next);
  });
  await upsertRows(tx, fold.spec, [...changed.values()]);
  return changed;
}

/** A row an event needs: its absence means the chain holds an event its decider could not have made. */
export function requireRow(row: Row | undefined, record: ProjectedRecord): Row {
  if (row === undefined) {
    throw new CodedError(
      'INVALID_DOMAIN_EVENT',
      `${record.event.type} at seq ${record.seq} refers to something the chain never created`,
      {
        seq: record.seq,
        type: record.event.type,
      },
    );
  }
  return row;
}
