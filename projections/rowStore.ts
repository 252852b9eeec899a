/**
 * Set-based reads and writes of projection rows: one statement per table per
 * batch of records, whatever the batch size (`unnest` of one array per
 * column). The same SQL runs on PostgreSQL and PGlite.
 *
 * Projections need only this small executor; infra's SqlExecutor satisfies it.
 */
import { createHash } from 'node:crypto';
import { jcs } from '../chain/canonical.ts';

export interface ProjectionExecutor {
  query<Row = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<{ rows: Row[] }>;
}

export type ColumnType = 'text' | 'int8' | 'int4' | 'bool';
export type Cell = string | number | boolean | null;
export type Row = Record<string, Cell>;

export interface TableSpec {
  readonly name: string;
  /** Primary key columns, in order: rows are loaded, saved and digested by them. */
  readonly key: readonly string[];
  /** Every column, in digest order. */
  readonly columns: Readonly<Record<string, ColumnType>>;
}

/** Rows per page when a table is read whole (digests). */
export const TABLE_PAGE_ROWS = 1000;

function columnNames(spec: TableSpec): string[] {
  return Object.keys(spec.columns);
}

function arrayParameters(spec: TableSpec, names: readonly string[], offset = 0): string {
  return names.map((name, index) => `$${index + 1 + offset}::${spec.columns[name]}[]`).join(', ');
}

export function keyOf(spec: TableSpec, row: Row): string {
  return JSON.stringify(spec.key.map((column) => row[column]));
}

/**
 * The rows with these keys, locked until the transaction ends (a concurrent
 * append on another chain waits instead of overwriting). Keys are sorted so
 * that two transactions lock in the same order.
 */
export async function loadRows(
  tx: ProjectionExecutor,
  spec: TableSpec,
  keys: readonly Row[],
): Promise<Map<string, Row>> {
  const rows = new Map<string, Row>();
  if (keys.length === 0) return rows;
  const unique = [...new Map(keys.map((key) => [keyOf(spec, key), key])).values()];
  const keyList = spec.key.join(', ');
  const sql = `SELECT ${columnNames(spec).join(', ')} FROM ${spec.name}
    WHERE (${keyList}) IN (SELECT * FROM unnest(${arrayParameters(spec, spec.key)}))
    ORDER BY ${keyList} FOR UPDATE`;
  const { rows: found } = await tx.query<Row>(
    sql,
    spec.key.map((column) => unique.map((key) => key[column] ?? null)),
  );
  for (const row of found) rows.set(keyOf(spec, row), row);
  return rows;
}

function insertSql(spec: TableSpec): string {
  const names = columnNames(spec);
  return `INSERT INTO ${spec.name} (${names.join(', ')}) SELECT * FROM unnest(${arrayParameters(spec, names)})`;
}

function columnArrays(spec: TableSpec, rows: readonly Row[]): Cell[][] {
  return columnNames(spec).map((name) => rows.map((row) => row[name] ?? null));
}

/** Inserts new rows or replaces existing ones (by key). */
export async function upsertRows(tx: ProjectionExecutor, spec: TableSpec, rows: readonly Row[]): Promise<void> {
  if (rows.length === 0) return;
  const updates = columnNames(spec)
    .filter((name) => !spec.key.includes(name))
    .map((name) => `${name} = EXCLUDED.${name}`);
  await tx.query(
    `${insertSql(spec)} ON CONFLICT (${spec.key.join(', ')}) DO UPDATE SET ${updates.join(', ')}`,
    columnArrays(spec, rows),
  );
}

/** Inserts rows that must be new (a key already present is an error). */
export async function insertRows(tx: ProjectionExecutor, spec: TableSpec, rows: readonly Row[]): Promise<void> {
  if (rows.length === 0) return;
  await tx.query(insertSql(spec), columnArrays(spec, rows));
}

/** Every row of a table in key order, page by page (keyset pagination). */
export async function* tableRows(
  tx: ProjectionExecutor,
  spec: TableSpec,
  pageRows = TABLE_PAGE_ROWS,
): AsyncGenerator<Row[]> {
  const keyList = spec.key.join(', ');
  const select = `SELECT ${columnNames(spec).join(', ')} FROM ${spec.name}`;
  const after = `WHERE (${keyList}) > (${spec.key.map((column, index) => `$${index + 1}::${spec.columns[column]}`).join(', ')})`;
  let last: Row | undefined;
  for (;;) {
    const params = last ? spec.key.map((column) => last![column]) : [];
    const limit = `ORDER BY ${keyList} LIMIT ${pageRows}`;
    const { rows } = await tx.query<Row>(last ? `${select} ${after} ${limit}` : `${select} ${limit}`, params);
    if (rows.length === 0) return;
    yield rows;
    if (rows.length < pageRows) return;
    last = rows[rows.length - 1];
  }
}

function isPlainCell(value: Cell): boolean {
  if (typeof value === 'string') return value.isWellFormed();
  return value === null || typeof value === 'boolean' || Number.isFinite(value);
}

/**
 * JCS of a row's values. For well-formed strings, finite numbers, booleans
 * and null, JCS is JSON.stringify (RFC 8785 section 3.2.2), several times
 * cheaper than the general serialiser the digests used to spend most of their
 * time in; anything else takes the general path (which refuses what JCS does).
 */
function rowJcs(values: readonly Cell[]): string {
  return values.every(isPlainCell) ? JSON.stringify(values) : jcs(values);
}

/**
 * SHA-256 over the tables' rows in key order: a line `#<table>` per table,
 * then one line per row, the JCS of its values in column order.
 */
export async function tablesDigest(
  tx: ProjectionExecutor,
  label: string,
  tables: readonly TableSpec[],
): Promise<string> {
  const hash = createHash('sha256').update(`${label}\n`);
  for (const spec of tables) {
    hash.update(`#${spec.name}\n`);
    const names = columnNames(spec);
    for await (const page of tableRows(tx, spec)) {
      for (const row of page) hash.update(`${rowJcs(names.map((name) => row[name] ?? null))}\n`);
    }
  }
  return hash.digest('hex');
}
