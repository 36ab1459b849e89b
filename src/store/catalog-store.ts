// The STAC catalogue's part of the state (migrations 0008 SQLite / 0005 PostgreSQL): each item as the
// API returned it with the jobs of its selected assets, and the collection documents. Both backends;
// SQL for these two tables lives here only. No network I/O inside a transaction.
import type pg from 'pg';
import type { ItemAssetRef, StacItemRecord } from '../api/wire.js';
import type { SqliteDb } from './sqlite.js';
import type { StateStore } from './types.js';

export type { ItemAssetRef, StacItemRecord };

export interface StoredItem extends StacItemRecord {
  /** Digest of the item JSON on disk; null when none is written. */
  written: string | null;
  /** Where the item JSON is (relative to the mirror root); null when none is written. */
  jsonPath: string | null;
}

export interface CatalogStore {
  /** Insert or replace items (the catalogue marks are kept; the writer compares digests). */
  putItems(items: readonly StacItemRecord[], now: number): Promise<void>;
  getItem(collection: string, id: string): Promise<StoredItem | null>;
  /** Items in (collection, id) order after the given one (paging). */
  listItems(after: { collection: string; id: string } | null, limit: number): Promise<StoredItem[]>;
  /** Items of one collection whose JSON is written. */
  writtenItems(collection: string): Promise<StoredItem[]>;
  /** Record what is on disk for an item (null, null: nothing). */
  setWritten(collection: string, id: string, written: string | null, jsonPath: string | null): Promise<void>;
  deleteItem(collection: string, id: string): Promise<void>;
  /** Items an older version stored whole (migration: unscrubbed), in (collection, id) order. */
  unscrubbedItems(limit: number): Promise<StoredItem[]>;
  /** Store what the state keeps of these items now (unless a newer listing replaced `was`) and unmark them. */
  scrubItems(rows: readonly ItemRewrite[]): Promise<void>;
  /** Collections with at least one item row. */
  collections(): Promise<string[]>;
  getCollection(id: string): Promise<string | null>;
  putCollection(id: string, raw: string, now: number): Promise<void>;
}

export interface ItemRewrite {
  collection: string;
  id: string;
  /** The raw JSON the rewrite was computed from. */
  was: string;
  raw: string;
  apiUrl: string;
}

interface ItemRow {
  collection: string;
  item_id: string;
  raw: string;
  assets: string;
  api_url: string;
  written: string | null;
  json_path: string | null;
}

function toItem(r: ItemRow): StoredItem {
  return { collection: r.collection, id: r.item_id, raw: r.raw, assets: JSON.parse(r.assets) as ItemAssetRef[], apiUrl: r.api_url, written: r.written, jsonPath: r.json_path };
}

const COLS = 'collection, item_id, raw, assets, api_url, written, json_path';

class SqliteCatalogStore implements CatalogStore {
  readonly #db: SqliteDb;
  constructor(db: SqliteDb) {
    this.#db = db;
  }
  async putItems(items: readonly StacItemRecord[], now: number): Promise<void> {
    const st = this.#db.prepare(`
      INSERT INTO stac_items (collection, item_id, raw, assets, api_url, seen_at) VALUES (?, ?, ?, ?, ?, ?)
      ON CONFLICT (collection, item_id) DO UPDATE SET raw = excluded.raw, assets = excluded.assets, api_url = excluded.api_url, seen_at = excluded.seen_at, unscrubbed = 0`);
    this.#db.transaction(() => {
      for (const it of items) st.run(it.collection, it.id, it.raw, JSON.stringify(it.assets), it.apiUrl, now);
    }).immediate();
  }
  async getItem(collection: string, id: string): Promise<StoredItem | null> {
    const r = this.#db.prepare(`SELECT ${COLS} FROM stac_items WHERE collection = ? AND item_id = ?`).get(collection, id) as ItemRow | undefined;
    return r ? toItem(r) : null;
  }
  async listItems(after: { collection: string; id: string } | null, limit: number): Promise<StoredItem[]> {
    const rows = after
      ? this.#db.prepare(`SELECT ${COLS} FROM stac_items WHERE (collection, item_id) > (?, ?) ORDER BY collection, item_id LIMIT ?`).all(after.collection, after.id, limit)
      : this.#db.prepare(`SELECT ${COLS} FROM stac_items ORDER BY collection, item_id LIMIT ?`).all(limit);
    return (rows as ItemRow[]).map(toItem);
  }
  async writtenItems(collection: string): Promise<StoredItem[]> {
    const rows = this.#db.prepare(`SELECT ${COLS} FROM stac_items WHERE collection = ? AND json_path IS NOT NULL ORDER BY item_id`).all(collection);
    return (rows as ItemRow[]).map(toItem);
  }
  async setWritten(collection: string, id: string, written: string | null, jsonPath: string | null): Promise<void> {
    this.#db.prepare('UPDATE stac_items SET written = ?, json_path = ? WHERE collection = ? AND item_id = ?').run(written, jsonPath, collection, id);
  }
  async deleteItem(collection: string, id: string): Promise<void> {
    this.#db.prepare('DELETE FROM stac_items WHERE collection = ? AND item_id = ?').run(collection, id);
  }
  async unscrubbedItems(limit: number): Promise<StoredItem[]> {
    return (this.#db.prepare(`SELECT ${COLS} FROM stac_items WHERE unscrubbed = 1 ORDER BY collection, item_id LIMIT ?`).all(limit) as ItemRow[]).map(toItem);
  }
  async scrubItems(rows: readonly ItemRewrite[]): Promise<void> {
    // A listing that replaced the row meanwhile (raw is no longer `was`) wrote what is kept now: it stays.
    const st = this.#db.prepare(`
      UPDATE stac_items SET raw = CASE WHEN raw = @was THEN @raw ELSE raw END, api_url = CASE WHEN raw = @was THEN @api ELSE api_url END, unscrubbed = 0
      WHERE collection = @c AND item_id = @i`);
    this.#db.transaction(() => {
      for (const r of rows) st.run({ c: r.collection, i: r.id, was: r.was, raw: r.raw, api: r.apiUrl });
    }).immediate();
  }
  async collections(): Promise<string[]> {
    return (this.#db.prepare('SELECT DISTINCT collection FROM stac_items ORDER BY collection').all() as { collection: string }[]).map((r) => r.collection);
  }
  async getCollection(id: string): Promise<string | null> {
    const r = this.#db.prepare('SELECT raw FROM stac_collections WHERE id = ?').get(id) as { raw: string | null } | undefined;
    return r?.raw ?? null;
  }
  async putCollection(id: string, raw: string, now: number): Promise<void> {
    this.#db.prepare('INSERT INTO stac_collections (id, raw, fetched_at) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET raw = excluded.raw, fetched_at = excluded.fetched_at').run(id, raw, now);
  }
}

class PostgresCatalogStore implements CatalogStore {
  readonly #pool: pg.Pool;
  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }
  async putItems(items: readonly StacItemRecord[], now: number): Promise<void> {
    if (items.length === 0) return;
    // One statement: unnest keeps it a single round trip and one transaction.
    await this.#pool.query(
      `INSERT INTO stac_items (collection, item_id, raw, assets, api_url, seen_at)
       SELECT c, i, r, a, u, $6 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) AS t(c, i, r, a, u)
       ON CONFLICT (collection, item_id) DO UPDATE SET raw = excluded.raw, assets = excluded.assets, api_url = excluded.api_url, seen_at = excluded.seen_at, unscrubbed = 0`,
      [items.map((i) => i.collection), items.map((i) => i.id), items.map((i) => i.raw), items.map((i) => JSON.stringify(i.assets)), items.map((i) => i.apiUrl), now],
    );
  }
  async getItem(collection: string, id: string): Promise<StoredItem | null> {
    const r = await this.#pool.query<ItemRow>(`SELECT ${COLS} FROM stac_items WHERE collection = $1 AND item_id = $2`, [collection, id]);
    return r.rows[0] ? toItem(r.rows[0]) : null;
  }
  async listItems(after: { collection: string; id: string } | null, limit: number): Promise<StoredItem[]> {
    const r = after
      ? await this.#pool.query<ItemRow>(`SELECT ${COLS} FROM stac_items WHERE (collection, item_id) > ($1, $2) ORDER BY collection, item_id LIMIT $3`, [after.collection, after.id, limit])
      : await this.#pool.query<ItemRow>(`SELECT ${COLS} FROM stac_items ORDER BY collection, item_id LIMIT $1`, [limit]);
    return r.rows.map(toItem);
  }
  async writtenItems(collection: string): Promise<StoredItem[]> {
    const r = await this.#pool.query<ItemRow>(`SELECT ${COLS} FROM stac_items WHERE collection = $1 AND json_path IS NOT NULL ORDER BY item_id`, [collection]);
    return r.rows.map(toItem);
  }
  async setWritten(collection: string, id: string, written: string | null, jsonPath: string | null): Promise<void> {
    await this.#pool.query('UPDATE stac_items SET written = $1, json_path = $2 WHERE collection = $3 AND item_id = $4', [written, jsonPath, collection, id]);
  }
  async deleteItem(collection: string, id: string): Promise<void> {
    await this.#pool.query('DELETE FROM stac_items WHERE collection = $1 AND item_id = $2', [collection, id]);
  }
  async unscrubbedItems(limit: number): Promise<StoredItem[]> {
    return (await this.#pool.query<ItemRow>(`SELECT ${COLS} FROM stac_items WHERE unscrubbed = 1 ORDER BY collection, item_id LIMIT $1`, [limit])).rows.map(toItem);
  }
  async scrubItems(rows: readonly ItemRewrite[]): Promise<void> {
    if (rows.length === 0) return;
    await this.#pool.query(
      `UPDATE stac_items s SET raw = CASE WHEN s.raw = u.was THEN u.raw ELSE s.raw END, api_url = CASE WHEN s.raw = u.was THEN u.api ELSE s.api_url END, unscrubbed = 0
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) AS u(c, i, was, raw, api)
       WHERE s.collection = u.c AND s.item_id = u.i`,
      [rows.map((r) => r.collection), rows.map((r) => r.id), rows.map((r) => r.was), rows.map((r) => r.raw), rows.map((r) => r.apiUrl)],
    );
  }
  async collections(): Promise<string[]> {
    return (await this.#pool.query<{ collection: string }>('SELECT DISTINCT collection FROM stac_items ORDER BY collection')).rows.map((r) => r.collection);
  }
  async getCollection(id: string): Promise<string | null> {
    return (await this.#pool.query<{ raw: string | null }>('SELECT raw FROM stac_collections WHERE id = $1', [id])).rows[0]?.raw ?? null;
  }
  async putCollection(id: string, raw: string, now: number): Promise<void> {
    await this.#pool.query('INSERT INTO stac_collections (id, raw, fetched_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO UPDATE SET raw = excluded.raw, fetched_at = excluded.fetched_at', [id, raw, now]);
  }
}

/** The catalogue tables of an open state store (same database, same connection pool). */
export function catalogStoreFor(store: StateStore): CatalogStore {
  const s = store as StateStore & { db?: SqliteDb; pool?: pg.Pool };
  if (store.backend === 'sqlite' && s.db) return new SqliteCatalogStore(s.db);
  if (store.backend === 'postgres' && s.pool) return new PostgresCatalogStore(s.pool);
  throw new Error(`the ${store.backend} store does not expose its database handle`);
}
