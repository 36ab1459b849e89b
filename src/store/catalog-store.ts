// The STAC catalog's role (CatalogStore: what the catalog writer, the index and export use) and
// its one implementation over the shared SQL (sql/catalog.ts), reached as `store.catalog` of an open
// state store: same database, same connections, same dialect as the jobs.
import type { ItemAssetRef, StacItemRecord } from '../api/wire.js';
import { itemRefKey, type ItemRef } from '../lib/item-ref.js';
import { catalogSql, PUT_ITEM_ROWS, SCRUB_ROWS } from './sql/catalog.js';
import type { Dialect, SqlExec } from './sql/dialect.js';

export type { ItemAssetRef, StacItemRecord };

export interface StoredItem extends StacItemRecord {
  /** Digest of the item JSON on disk; null when none is written. */
  written: string | null;
  /** Where the item JSON is (relative to the mirror root); null when none is written. */
  jsonPath: string | null;
  /** The extent of the version written (JSON of WrittenExtent); null when none is written. */
  writtenExtent: string | null;
}

/** The catalog writer's current error (null fields: none). */
export interface CatalogStatus {
  error: string | null;
  path: string | null;
  code: string | null;
  failingSince: number | null;
  updatedAt: number | null;
}

export interface CatalogStore {
  /** Insert or replace items (the catalog marks are kept; the writer compares digests). */
  putItems(items: readonly StacItemRecord[], now: number): Promise<void>;
  getItem(collection: string, id: string): Promise<StoredItem | null>;
  /** Items by name in one query, in the order asked; null where there is no such item. */
  getItems(refs: readonly ItemRef[]): Promise<(StoredItem | null)[]>;
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

/** A row of ITEM_COLUMNS (sql/catalog.ts). */
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

/** The catalog tables over a store's SqlExec and Dialect (both backends). */
export class SqlCatalogStore implements CatalogStore {
  readonly #x: SqlExec;
  readonly #d: Dialect;
  readonly #q: ReturnType<typeof catalogSql>;

  constructor(x: SqlExec, d: Dialect) {
    this.#x = x;
    this.#d = d;
    this.#q = catalogSql(d);
  }

  async #items(sql: string, params: Record<string, unknown>): Promise<StoredItem[]> {
    return (await this.#x.all<ItemRow>(sql, params)).map(toItem);
  }

  async putItems(items: readonly StacItemRecord[], now: number): Promise<void> {
    if (items.length === 0) return;
    // One statement; ON CONFLICT cannot touch a row twice in one (PostgreSQL), so an item given twice keeps its last record.
    const last = new Map(items.map((i) => [itemRefKey(i), i]));
    const rows = [...last.values()].map((i) => [i.collection, i.id, i.raw, JSON.stringify(i.assets), i.apiUrl]);
    await this.#x.runTable(this.#q.putItems, { param: 'items', columns: PUT_ITEM_ROWS, rows }, { now });
  }
  async getItem(collection: string, id: string): Promise<StoredItem | null> {
    return (await this.#items(this.#q.getItem, { c: collection, i: id }))[0] ?? null;
  }
  async getItems(refs: readonly ItemRef[]): Promise<(StoredItem | null)[]> {
    if (refs.length === 0) return [];
    const list = (values: string[]) => this.#d.listParam([...new Set(values)]);
    const rows = await this.#items(this.#q.getItems, { cs: list(refs.map((r) => r.collection)), ids: list(refs.map((r) => r.id)) });
    const byRef = new Map(rows.map((r) => [itemRefKey(r), r]));
    return refs.map((r) => byRef.get(itemRefKey(r)) ?? null);
  }
  async listItems(after: { collection: string; id: string } | null, limit: number): Promise<StoredItem[]> {
    return after ? this.#items(this.#q.listItemsAfter, { c: after.collection, i: after.id, limit }) : this.#items(this.#q.listItems, { limit });
  }
  async writtenItems(collection: string): Promise<StoredItem[]> {
    return this.#items(this.#q.writtenItems, { c: collection });
  }
  async setWritten(collection: string, id: string, written: string | null, jsonPath: string | null, extent: string | null = null): Promise<void> {
    await this.#x.run(this.#q.setWritten, { c: collection, i: id, written, path: jsonPath, extent });
  }
  async deleteItem(collection: string, id: string): Promise<void> {
    await this.#x.run(this.#q.deleteItem, { c: collection, i: id });
  }
  async unscrubbedItems(limit: number): Promise<StoredItem[]> {
    return this.#items(this.#q.unscrubbedItems, { limit });
  }
  async scrubItems(rows: readonly ItemRewrite[]): Promise<void> {
    if (rows.length === 0) return;
    const table = rows.map((r) => [r.collection, r.id, r.was, r.raw, r.apiUrl]);
    await this.#x.runTable(this.#q.scrubItems, { param: 'rows', columns: SCRUB_ROWS, rows: table });
  }
  async collections(): Promise<string[]> {
    return (await this.#x.all<{ collection: string }>(this.#q.collections)).map((r) => r.collection);
  }
  async getCollection(id: string): Promise<string | null> {
    return (await this.#x.all<{ raw: string | null }>(this.#q.getCollection, { id }))[0]?.raw ?? null;
  }
  async putCollection(id: string, raw: string, now: number): Promise<void> {
    await this.#x.run(this.#q.putCollection, { id, raw, now });
  }
  async setStatus(e: { error: string; path: string | null; code: string | null } | null, now: number): Promise<void> {
    await this.#x.run(this.#q.setStatus, { error: e?.error ?? null, path: e?.path ?? null, code: e?.code ?? null, now });
  }
  async getStatus(): Promise<CatalogStatus> {
    return toStatus((await this.#x.all<StatusRow>(this.#q.getStatus))[0]);
  }
}
