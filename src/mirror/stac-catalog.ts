// The mirror as a self-contained STAC catalog (stac.catalog): catalog.json at the root, one
// <collection>/collection.json per collection, one item JSON beside each item's asset files (names and
// the rule that keeps them apart from asset files: stac-names.ts). Links are
// relative, there is no `self`, each item keeps a `canonical` link to the API, asset hrefs point at the
// local files and carry file:size and file:checksum of the bytes written.
//
// One writer per process, serialised: the worker only says "this key is done", the writer rebuilds that
// item and its collection from the state (the DB is the source of truth). Order makes every crash safe:
// assets before the item JSON, the item JSON before the collection links it, the collection before the
// catalog links it; for removals the other way round. Replicas may write the same files: each write
// is a rename of complete content, and a collection is rewritten until the state it was built from
// stopped changing (the root too), so the last writer never leaves a stale link set behind. A write
// error never escapes: logged once with its path, recorded for `status`, retried at the next kick.
import path from 'node:path';
import { crashPoint } from '../lib/crash-point.js';
import { ItemRefSet, type ItemRef } from '../lib/item-ref.js';
import { isFolderPath } from '../lib/key-kind.js';
import type { Logger } from '../lib/logger.js';
import type { CatalogStore, StacItemRecord, StoredItem } from '../store/catalog-store.js';
import type { Job, OperatorStore, StatusStore } from '../store/types.js';
import { lstatOrNull } from './fs-safe.js';
import { CatalogFileError, digest, holds, newTmpDir, removeCatalogFile, writeCatalogFile } from './stac-files.js';
import { buildCatalog, buildCollection, buildItem } from './stac-documents.js';
import { itemExtent, withExtents } from './stac-extent.js';
import { keptCollectionJson } from './stac-hrefs.js';
import { CATALOG_FILE, COLLECTION_FILE, collectionDir, collectionFile, itemJsonFile, itemOfKey, takesCatalogName } from './stac-names.js';

export { CATALOG_FILE, COLLECTION_FILE, collectionDir, itemJsonFile, itemOfKey };
export { buildCatalog, buildCollection, buildItem, FILE_EXTENSION, STAC_VERSION } from './stac-documents.js';
/** How long a kick waits to gather more completions before writing. */
const KICK_DELAY_MS = 200;

export interface CatalogDeps {
  store: CatalogStore;
  /** requeue: a done asset an earlier version placed where the layout rule now reserves is fetched again. */
  jobs: Pick<StatusStore, 'getJobs'> & Partial<Pick<OperatorStore, 'requeue'>>;
  root: string;
  logger: Logger;
  clock: () => number;
  /** The collection document from the API; without it a minimal collection is written. */
  fetchCollection?: ((id: string) => Promise<Record<string, unknown>>) | undefined;
  /** The GeoParquet index (stac-index.ts), told of every change; null when stac.geoparquet is off. */
  index?: CatalogIndex | null | undefined;
}

/** What the catalog tells its index: a change (rewrite soon), files about to go (rewrite now). */
export interface CatalogIndex {
  changed(): void;
  beforeRemove(): Promise<void>;
  flush(): Promise<void>;
}

/** The catalog writer's current failure (null: the last flush wrote everything it had). */
export interface CatalogFailure {
  path: string | null;
  errorClass: string;
  message: string;
  since: number;
}

type Ready = { ok: true; jobs: Job[] } | { ok: false; gone: boolean };

export class StacCatalog {
  readonly #d: CatalogDeps;
  readonly #dirty = new ItemRefSet();
  /** Collections to rewrite even if none of their items changed (markAll). */
  readonly #staleCollections = new Set<string>();
  /**
   * Items whose JSON on disk is not trusted (rebuild): rewritten even when the state says it is
   * unchanged, and taken out while incomplete. An item leaves the set once it was looked at.
   */
  readonly #suspect = new ItemRefSet();
  /** The root is rewritten at the next drain whatever it holds (rebuild). */
  #rootStale = false;
  #running: Promise<void> | null = null;
  /** This writer's own temporary folder (replicas never share one). */
  readonly #tmp = newTmpDir();
  #failure: CatalogFailure | null = null;
  /** Whether the state may still hold an error (of this or a previous process) to clear. */
  #statusDirty = true;

  constructor(deps: CatalogDeps) {
    this.#d = deps;
  }
  /** The current failure, if the last flush did not get everything written. */
  get failure(): CatalogFailure | null {
    return this.#failure;
  }

  #rootChecked = false;

  /** Keep listed items (before their jobs are upserted) and rebuild them later. */
  async record(records: readonly StacItemRecord[]): Promise<void> {
    if (records.length === 0) return;
    await this.#d.store.putItems(records, this.#d.clock());
    for (const r of records) this.#dirty.add(r);
  }

  /** A job of this key finished (done, gone, failed): its item is looked at again. */
  noteKey(key: string): void {
    const it = itemOfKey(key);
    if (it) this.#dirty.add(it);
  }

  /**
   * Every item is looked at again (start-up after a crash, verify --repair), and every collection and
   * the root are rewritten: a writer killed between an item's row and its collection's rewrite left
   * rows that say written, which the items' own check then finds unchanged. An item written by an
   * earlier version's layout has its misplaced assets queued again now, before the workers start.
   */
  async markAll(): Promise<number> {
    for (const c of await this.#d.store.collections()) this.#staleCollections.add(c);
    let after: ItemRef | null = null;
    let n = 0;
    for (;;) {
      const page = await this.#d.store.listItems(after, 1000);
      for (const r of page) this.#dirty.add(r);
      const moved = page.filter((r) => r.jsonPath && r.jsonPath !== itemJsonFile(r.collection, r.id));
      const jobs = await this.#jobsOf(moved);
      for (const r of moved) await this.#ready(r, jobs);
      n += page.length;
      const last = page.at(-1);
      if (!last || page.length < 1000) return n;
      after = { collection: last.collection, id: last.id };
    }
  }

  /**
   * Repair (verify --repair): every item is looked at again as markAll does, and its JSON is not
   * trusted: a complete item is rewritten even when the state says it is unchanged, an incomplete one
   * is taken out while its files are fetched again; the root is rewritten too. Resolves as flush().
   */
  async rebuild(): Promise<CatalogFailure | null> {
    await this.markAll();
    for (const r of this.#dirty) this.#suspect.add(r);
    this.#rootStale = true;
    return this.flush();
  }

  #kicked = false;

  /**
   * Flush soon, in the background; calls within KICK_DELAY_MS are merged, so a burst of completions
   * rewrites each collection once, not once per asset. Never throws.
   */
  kick(): void {
    // A failed write leaves its collections stale (or only the failure): tried again too.
    if (this.#kicked || (this.#dirty.size === 0 && this.#staleCollections.size === 0 && !this.#failure)) return;
    this.#kicked = true;
    const t = setTimeout(() => void this.flush(), KICK_DELAY_MS);
    t.unref();
  }

  /**
   * Write what is dirty; one run at a time, later calls wait for it and run again. Never rejects: a
   * failure is logged (once per path and class), recorded, and resolves as the failure (null: all written).
   */
  flush(): Promise<CatalogFailure | null> {
    const prev = this.#running ?? Promise.resolve();
    const next = prev.then(() => this.#guarded());
    const settled = next.then(() => undefined);
    this.#running = settled;
    void settled.then(() => {
      if (this.#running === settled) this.#running = null;
    });
    return next;
  }

  async #guarded(): Promise<CatalogFailure | null> {
    try {
      const failed = await this.#drain();
      if (failed) throw failed;
      if (this.#failure) this.#d.logger.info({ path: this.#failure.path }, 'the STAC catalog is written again');
      this.#failure = null;
      if (this.#statusDirty) await this.#d.store.setStatus(null, this.#d.clock());
      this.#statusDirty = false;
      return null;
    } catch (e) {
      return this.#fail(e);
    }
  }

  async #fail(e: unknown): Promise<CatalogFailure> {
    const relPath = e instanceof CatalogFileError ? e.relPath : null;
    const errorClass = e instanceof CatalogFileError ? e.errorClass : 'internal';
    const message = (e as Error)?.message ?? String(e);
    const prev = this.#failure;
    const same = prev !== null && prev.path === relPath && prev.errorClass === errorClass;
    this.#failure = { path: relPath, errorClass, message, since: same ? prev.since : this.#d.clock() };
    if (same) this.#d.logger.debug({ path: relPath, errorClass }, 'the STAC catalog still cannot be written');
    else {
      this.#d.logger.error({ path: relPath, errorClass, err: message }, 'could not write the STAC catalog; downloads go on, the catalog is tried again later');
      this.#statusDirty = true;
      await this.#d.store.setStatus({ error: message, path: relPath, code: errorClass }, this.#d.clock()).catch((se: unknown) => this.#d.logger.warn({ err: (se as Error).message }, 'could not record the catalog error in the state'));
    }
    return this.#failure;
  }

  /** Returns the item error that stopped a batch (its items stay dirty), after the collections were written. */
  async #drain(): Promise<unknown> {
    this.#kicked = false;
    // The root exists before the first item JSON can: a tool that opens the mirror mid-way through
    // the first sync (or after a crash there) finds a catalog whose links all resolve. It is written
    // here, inside the one-at-a-time drain, never beside it: a root written between an item's
    // setWritten and its collection's rewrite would link a collection.json that is not there yet.
    if (this.#rootStale || (!this.#rootChecked && !(await lstatOrNull(path.join(this.#d.root, CATALOG_FILE))))) await this.#catalog();
    this.#rootChecked = true;
    this.#rootStale = false;
    while (this.#dirty.size > 0 || this.#staleCollections.size > 0) {
      const batch = this.#dirty.take(500);
      const touched = new Set<string>(this.#staleCollections);
      this.#staleCollections.clear();
      const removeAfter: { path: string; digest: string }[] = [];
      let failed: unknown = null;
      let done = 0;
      try {
        const rows = await this.#d.store.getItems(batch);
        // The jobs of the whole batch in one query, not one per asset.
        const jobs = await this.#jobsOf(rows);
        for (; done < batch.length; done++) {
          const ref = batch[done]!;
          if (await this.#item(ref, rows[done]!, jobs, removeAfter)) touched.add(ref.collection);
          if (this.#suspect.size > 0) this.#suspect.delete(ref);
        }
      } catch (e) {
        // This item and the rest of the batch stay dirty (maintenance kicks again); what was
        // written so far still gets its collection links.
        for (const rest of batch.slice(done)) this.#dirty.add(rest);
        failed = e;
      }
      try {
        for (const c of touched) await this.#collection(c);
        if (touched.size > 0) {
          await this.#catalog();
          this.#d.index?.changed();
        }
      } catch (e) {
        // Collections and the root are rewritten at the next flush whatever changes meanwhile.
        for (const c of touched) this.#staleCollections.add(c);
        throw e;
      }
      // An item's previous JSON goes only if it still holds what was written there (never an asset).
      for (const p of removeAfter) await removeCatalogFile(this.#d.root, p.path, p.digest);
      if (failed) return failed;
    }
    return null;
  }

  /** The jobs of these items' assets, by key, in one query. */
  #jobsOf(rows: readonly (StoredItem | null)[]): Promise<ReadonlyMap<string, Job>> {
    const keys = rows.flatMap((r) => (r ? r.assets.map((a) => a.key) : []));
    return keys.length === 0 ? Promise.resolve(new Map()) : this.#d.jobs.getJobs(keys);
  }

  /**
   * Can the item be written: every selected asset done at its listed version, its file in place.
   * `byKey` holds the jobs of its assets (#jobsOf).
   */
  async #ready(row: StoredItem, byKey: ReadonlyMap<string, Job>): Promise<Ready> {
    const jobs: Job[] = [];
    let gone = true;
    let ok = true;
    const misplaced: number[] = [];
    for (const a of row.assets) {
      const j = byKey.get(a.key);
      // Placed by an earlier version where the rule now reserves a name, or clobbered by its item JSON.
      if (j?.state === 'done' && j.localPath && (takesCatalogName(j.key, j.localPath) || (j.localPath === row.jsonPath && (await holds(this.#d.root, j.localPath, row.written)))))
        misplaced.push(j.id);
      // No job yet is not gone: a listing stores an item's record before its jobs (the poller
      // commits the jobs of many pages together), and a writer that ran in between deleted the
      // record, so the item never came back.
      if (!j || (j.remoteDeletedAt === null && j.state !== 'gone')) gone = false;
      if (!j || j.state !== 'done' || !j.localPath || isFolderPath(j.localPath) || j.remoteDeletedAt !== null || j.remoteModifiedMs !== a.version || j.bytesWritten === null || !j.sha256) {
        ok = false;
        continue;
      }
      const st = await lstatOrNull(path.join(this.#d.root, j.localPath));
      if (!st || !st.isFile() || st.size !== j.bytesWritten) ok = false;
      jobs.push(j);
    }
    if (misplaced.length > 0 && this.#d.jobs.requeue) {
      await this.#d.jobs.requeue(misplaced, { errorClass: 'layout', message: 'placed by an earlier version where the STAC layout now reserves a name; fetched again to its new path' }, this.#d.clock());
      return { ok: false, gone: false };
    }
    return ok ? { ok: true, jobs } : { ok: false, gone };
  }

  /** Rebuild one item; true when its collection's links or extent may have changed. */
  async #item(ref: ItemRef, row: StoredItem | null, byKey: ReadonlyMap<string, Job>, removeAfter: { path: string; digest: string }[]): Promise<boolean> {
    const suspect = this.#suspect.size > 0 && this.#suspect.has(ref);
    if (!row) return false;
    const { collection: c, id } = ref;
    const r = await this.#ready(row, byKey);
    if (!r.ok) {
      // Not complete yet: an older JSON stays until the new assets are in place. A repair (suspect)
      // takes it out instead: its files are missing or different and are being fetched again.
      if (!r.gone && !(suspect && row.jsonPath)) return false;
      if (!r.gone) {
        await this.withdraw([ref]);
        return true;
      }
      if (row.jsonPath) await this.withdraw([ref]);
      await this.#d.store.deleteItem(c, id);
      return true;
    }
    const { text, jsonPath } = buildItem(row, r.jobs);
    const sum = digest(text);
    const extent = JSON.stringify(itemExtent(row.raw));
    if (!suspect && sum === row.written && jsonPath === row.jsonPath && extent === row.writtenExtent) return false;
    await writeCatalogFile(this.#d.root, jsonPath, text, this.#tmp);
    crashPoint('catalog_item_written');
    await this.#d.store.setWritten(c, id, sum, jsonPath, extent);
    if (row.jsonPath && row.jsonPath !== jsonPath && row.written) removeAfter.push({ path: row.jsonPath, digest: row.written });
    return true;
  }

  /**
   * Take items out of the catalog before their files go (reconcile): the collection stops linking
   * them, then their JSON is removed. They come back when their remaining assets are complete.
   */
  async withdraw(items: readonly ItemRef[]): Promise<number> {
    const rows = (await this.#d.store.getItems(items)).filter((r): r is StoredItem => !!r?.jsonPath);
    if (rows.length === 0) return 0;
    const byCollection = new Map<string, Set<string>>();
    for (const r of rows) byCollection.set(r.collection, (byCollection.get(r.collection) ?? new Set()).add(r.id));
    for (const [c, ids] of byCollection) await this.#collection(c, ids);
    await this.#catalog(byCollection);
    crashPoint('catalog_withdrawn');
    for (const r of rows) {
      if (r.written) await removeCatalogFile(this.#d.root, r.jsonPath!, r.written);
      await this.#d.store.setWritten(r.collection, r.id, null, null);
      this.#dirty.add(r);
    }
    for (const c of byCollection.keys()) if ((await this.#d.store.writtenItems(c)).length === 0) await removeCatalogFile(this.#d.root, collectionFile(c));
    this.#d.index?.changed();
    return rows.length;
  }

  /** Reconcile's hook: the items of these jobs leave the catalog before the files are removed. */
  async beforeRemove(jobs: readonly Pick<Job, 'key'>[]): Promise<void> {
    const seen = new ItemRefSet();
    for (const j of jobs) {
      const it = itemOfKey(j.key);
      if (it) seen.add(it);
    }
    // The index stops listing them before their files go, like the catalog.
    if ((await this.withdraw([...seen])) > 0) await this.#d.index?.beforeRemove();
  }

  /** Write the index now if the catalog changed since its last rewrite (shutdown, one-shot commands). */
  async flushIndex(): Promise<void> {
    await this.#d.index?.flush();
  }

  async #collectionDoc(c: string): Promise<Record<string, unknown>> {
    const stored = await this.#d.store.getCollection(c);
    if (stored) return JSON.parse(stored) as Record<string, unknown>;
    if (this.#d.fetchCollection) {
      try {
        const doc = await this.#d.fetchCollection(c);
        await this.#d.store.putCollection(c, keptCollectionJson(doc), this.#d.clock());
        return doc;
      } catch (e) {
        this.#d.logger.warn({ collection: c, err: (e as Error).message }, 'could not fetch the collection document; writing a minimal one for now');
      }
    }
    return { id: c, description: `Collection ${c}`, license: 'other' };
  }

  /** Rewrite one collection.json from the state until the state it was built from stopped changing. */
  async #collection(c: string, without: ReadonlySet<string> = new Set()): Promise<void> {
    const doc = await this.#collectionDoc(c);
    const file = collectionFile(c);
    let basis = '';
    for (let round = 0; round < 5; round++) {
      const items = (await this.#d.store.writtenItems(c)).filter((i) => !without.has(i.id));
      const now = JSON.stringify(items.map((i) => [i.id, i.written, i.jsonPath]));
      if (round > 0 && now === basis) return;
      basis = now;
      if (items.length === 0 && without.size === 0) {
        await this.#catalog();
        await removeCatalogFile(this.#d.root, file);
        return;
      }
      await writeCatalogFile(this.#d.root, file, buildCollection(doc, file, await withExtents(this.#d.root, items)), this.#tmp);
      crashPoint('catalog_collection_written');
    }
  }

  /** Rewrite catalog.json from the state until the collections it was built from stopped changing. */
  async #catalog(without: ReadonlyMap<string, ReadonlySet<string>> = new Map()): Promise<void> {
    let basis = '';
    for (let round = 0; round < 5; round++) {
      const children: string[] = [];
      for (const c of await this.#d.store.collections()) {
        const items = (await this.#d.store.writtenItems(c)).filter((i) => !without.get(c)?.has(i.id));
        if (items.length > 0) children.push(c);
      }
      const now = JSON.stringify(children);
      if (round > 0 && now === basis) return;
      basis = now;
      await writeCatalogFile(this.#d.root, CATALOG_FILE, buildCatalog(children), this.#tmp);
      crashPoint('catalog_root_written');
    }
  }
}
