// The STAC catalog's tables, written once (migrations 0008, 0011 SQLite / 0005, 0008 PostgreSQL):
// each item as the API returned it with the jobs of its selected assets, the collection documents and
// the catalog writer's status. Instants here are the caller's (@now, the host clock) on both
// backends: nothing compares them with the database's clock.
import type { Dialect, TableColumns } from './dialect.js';

export const ITEM_COLUMNS = 'collection, item_id, raw, assets, api_url, written, json_path, written_extent';

/** The table parameter of putItems. */
export const PUT_ITEM_ROWS: TableColumns = [
  ['c', 'text'],
  ['i', 'text'],
  ['r', 'text'],
  ['a', 'text'],
  ['u', 'text'],
];

/** The table parameter of scrubItems. */
export const SCRUB_ROWS: TableColumns = [
  ['c', 'text'],
  ['i', 'text'],
  ['was', 'text'],
  ['raw', 'text'],
  ['api', 'text'],
];

export function catalogSql(d: Dialect) {
  return {
    // WHERE true: SQLite needs it to tell an upsert's ON CONFLICT from a join's ON after INSERT … SELECT.
    putItems: `
      INSERT INTO stac_items (collection, item_id, raw, assets, api_url, seen_at)
      SELECT t.c, t.i, t.r, t.a, t.u, @now::bigint FROM ${d.tableRows('items', PUT_ITEM_ROWS, 't')} WHERE true
      ON CONFLICT (collection, item_id) DO UPDATE SET raw = excluded.raw, assets = excluded.assets, api_url = excluded.api_url, seen_at = excluded.seen_at, unscrubbed = 0`,
    getItem: `SELECT ${ITEM_COLUMNS} FROM stac_items WHERE collection = @c AND item_id = @i`,
    // Any of the collections with any of the ids: a superset of the pairs asked for (getItems picks them).
    getItems: `SELECT ${ITEM_COLUMNS} FROM stac_items WHERE ${d.inList('collection', 'cs', 'text')} AND ${d.inList('item_id', 'ids', 'text')}`,
    listItems: `SELECT ${ITEM_COLUMNS} FROM stac_items ORDER BY collection, item_id LIMIT @limit`,
    listItemsAfter: `SELECT ${ITEM_COLUMNS} FROM stac_items WHERE (collection, item_id) > (@c, @i) ORDER BY collection, item_id LIMIT @limit`,
    writtenItems: `SELECT ${ITEM_COLUMNS} FROM stac_items WHERE collection = @c AND json_path IS NOT NULL ORDER BY item_id`,
    setWritten: 'UPDATE stac_items SET written = @written, json_path = @path, written_extent = @extent WHERE collection = @c AND item_id = @i',
    deleteItem: 'DELETE FROM stac_items WHERE collection = @c AND item_id = @i',
    unscrubbedItems: `SELECT ${ITEM_COLUMNS} FROM stac_items WHERE unscrubbed = 1 ORDER BY collection, item_id LIMIT @limit`,
    // A listing that replaced the row meanwhile (raw is no longer `was`) wrote what is kept now: it stays.
    scrubItems: `
      UPDATE stac_items AS s SET raw = CASE WHEN s.raw = u.was THEN u.raw ELSE s.raw END, api_url = CASE WHEN s.raw = u.was THEN u.api ELSE s.api_url END, unscrubbed = 0
      FROM ${d.tableRows('rows', SCRUB_ROWS, 'u')}
      WHERE s.collection = u.c AND s.item_id = u.i`,
    collections: 'SELECT DISTINCT collection FROM stac_items ORDER BY collection',
    getCollection: 'SELECT raw FROM stac_collections WHERE id = @id',
    putCollection: `
      INSERT INTO stac_collections (id, raw, fetched_at) VALUES (@id, @raw, @now)
      ON CONFLICT (id) DO UPDATE SET raw = excluded.raw, fetched_at = excluded.fetched_at`,
    // failing_since is kept while the writer fails, cleared by a success.
    setStatus: `
      UPDATE catalog_status SET error = @error, error_path = @path, error_code = @code,
        failing_since = CASE WHEN @error::text IS NULL THEN NULL ELSE coalesce(failing_since, @now::bigint) END, updated_at = @now::bigint
      WHERE id = 1`,
    getStatus: 'SELECT error, error_path, error_code, failing_since, updated_at FROM catalog_status WHERE id = 1',
  };
}
