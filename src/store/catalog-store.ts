// The STAC catalogue's part of the state (migrations 0008, 0011 SQLite / 0005, 0008 PostgreSQL): each item as the
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
  /** The extent of the version written (JSON of WrittenExtent); null when none is written. */
  writtenExtent: string | null;
}

/** The catalogue writer's current error (null fields: none). */
export interface CatalogStatus {
  error: string | null;
  path: string | null;
  code: string | null;
  failingSince: number | null;
  updatedAt: number | null;
}

export interface CatalogStore {
  /** Insert or replace items (the catalogue marks are kept; the writer compares digests). */
  putItems(items: readonly StacItemRecord[], now: number): Promise<void>;
  getItem(collection: string, id: string): Promise<StoredItem | null>;
  /** Items in (collection, id) order after the given one (paging). */
  listItems(after: { collection: string; id: string } | null, limit: number): Promise<StoredItem[]>;
  /** Items of one collection whose JSON is written. */
  writtenItems(collection: string): Promise<StoredItem[]>;
  /** Record what is on disk for an item (null, null: nothing) and the extent of the version written. */
  setWritten(collection: string, id: string, written: string | null, jsonPath: string | null, extent?: string | null): Promise<void>;
  deleteItem(collection: string, id: string): Promise<void>;
  /** Items an older version stored whole (migration: unscrubbed), in (collection, id) order. */
  unscrubbedItems(limit: number): Promise<StoredItem[]>;
  /** Store what the state keeps of these items now (unless a newer listing replaced `was`) and unmark them. */
  scrubItems(rows: readonly ItemRewrite[]): Promise<void>;
  /** Collections with at least one item row. */
  collections(): Promise<string[]>;
  getCollection(id: string): Promise<string | null>;
  putCollection(id: string, raw: string, now: number): Promise<void>;
  /** The writer's error (error null: the last write succeeded). failing_since is kept while it fails. */
  setStatus(e: { error: string; path: string | null; code: string | null } | null, now: number): Promise<void>;
  getStatus(): Promise<CatalogStatus>;
}

const SET_STATUS = `UPDATE catalog_status SET error = $1, error_path = $2, error_code = $3,
  failing_since = CASE WHEN $1::text IS NULL THEN NULL ELSE coalesce(failing_since, $4::bigint) END, updated_at = $4::bigint WHERE id = 1`;

interface StatusRow {
  error: string | null;
  error_path: string | null;
  error_code: string | null;
  failing_since: number | string | null;
  updated_at: number | string | null;
}

function toStatus(r: StatusRow | undefined): CatalogStatus {
  const n = (v: number | string | null | undefined) => (v === null || v === undefined ? null : Number(v));
  return { error: r?.error ?? null, path: r?.error_path ?? null, code: r?.error_code ?? null, failingSince: n(r?.failing_since), updatedAt: n(r?.updated_at) };
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
  written_extent: string | null;
}

function toItem(r: ItemRow): StoredItem {
  return { collection: r.collection, id: r.item_id, raw: r.raw, assets: JSON.parse(r.assets) as ItemAssetRef[], apiUrl: r.api_url, written: r.written, jsonPath: r.json_path, writtenExtent: r.written_extent };
}

const COLS = 'collection, item_id, raw, assets, api_url, written, json_path, written_extent';

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
  async setWritten(collection: string, id: string, written: string | null, jsonPath: string | null, extent: string | null = null): Promise<void> {
    this.#db.prepare('UPDATE stac_items SET written = ?, json_path = ?, written_extent = ? WHERE collection = ? AND item_id = ?').run(written, jsonPath, extent, collection, id);
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
  async setStatus(e: { error: string; path: string | null; code: string | null } | null, now: number): Promise<void> {
    const sql = SET_STATUS.replace(/\$(\d)(::\w+)?/g, (_m, n: string) => `@p${n}`);
    this.#db.prepare(sql).run({ p1: e?.error ?? null, p2: e?.path ?? null, p3: e?.code ?? null, p4: now });
  }
  async getStatus(): Promise<CatalogStatus> {
    return toStatus(this.#db.prepare('SELECT error, error_path, error_code, failing_since, updated_at FROM catalog_status WHERE id = 1').get() as StatusRow | undefined);
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
  async setWritten(collection: string, id: string, written: string | null, jsonPath: string | null, extent: string | null = null): Promise<void> {
    await this.#pool.query('UPDATE stac_items SET written = $1, json_path = $2, written_extent = $3 WHERE collection = $4 AND item_id = $5', [written, jsonPath, extent, collection, id]);
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
  async setStatus(e: { error: string; path: string | null; code: string | null } | null, now: number): Promise<void> {
    await this.#pool.query(SET_STATUS, [e?.error ?? null, e?.path ?? null, e?.code ?? null, now]);
  }
  async getStatus(): Promise<CatalogStatus> {
    return toStatus((await this.#pool.query<StatusRow>('SELECT error, error_path, error_code, failing_since, updated_at FROM catalog_status WHERE id = 1')).rows[0]);
  }
}

/** The catalogue tables of an open state store (same database, same connection pool). */
export function catalogStoreFor(store: StateStore): CatalogStore {
  const s = store as StateStore & { db?: SqliteDb; pool?: pg.Pool };
  if (store.backend === 'sqlite' && s.db) return new SqliteCatalogStore(s.db);
  if (store.backend === 'postgres' && s.pool) return new PostgresCatalogStore(s.pool);
  throw new Error(`the ${store.backend} store does not expose its database handle`);
}
