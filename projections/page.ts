/** Paged reads of the projections: keyset pages (after the last key of the previous page), bounded. */

/** Rows in one page of any projection read. */
export const MAX_PAGE_ROWS = 100;
export const DEFAULT_PAGE_ROWS = 50;

export interface Page<Item> {
  items: Item[];
  /** The key to pass as `after` for the next page; null on the last page. */
  next: string | null;
}

/** Clamps a requested page size to 1..MAX_PAGE_ROWS. */
export function pageSize(limit: number | undefined): number {
  if (limit === undefined) return DEFAULT_PAGE_ROWS;
  return Math.max(1, Math.min(MAX_PAGE_ROWS, Math.floor(limit)));
}

/**
 * Reads one row more than asked to know whether another page follows; `keyOf`
 * names the row the next page starts after.
 */
export function pageOf<Row, Item>(
  rows: readonly Row[],
  limit: number,
  map: (row: Row) => Item,
  keyOf: (row: Row) => string,
): Page<Item> {
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  return { items: items.map(map), next: rows.length > limit && last !== undefined ? keyOf(last) : null };
}
