// The mirror's index as stac-geoparquet: `<mirror>/items.parquet`, one row per item of the STAC
// catalog, for GeoPandas, DuckDB, pyarrow, QGIS (README "Query the mirror"). One file for every
// collection: a mirror holds one or a few collections of the same products (same properties, same
// assets), and a query spans them ("every LST item over this field"); the collections' documents are
// in the file metadata.
//
// Fed from the same state as the catalog writer: the items whose JSON is in the catalog, read from
// that JSON (stac-export.ts), so its rows are the catalog's items and its asset hrefs the same
// files, relative to the mirror root. Kept current like the catalog: the catalog says when it
// changed, and the index is rewritten at most once per delay. Written atomically: a temporary file
// under the reserved folder, fsync, rename, fsync of the folder; a crash leaves the previous complete
// file or the new one. Never ahead of the files it points to: an item is in the catalog only once
// its files are in place, and before reconcile removes files the index is rewritten without their
// items (beforeRemove), or removed when that fails. With replicas, one writer at a time (the lock).
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { crashPoint } from '../lib/crash-point.js';
import type { Logger } from '../lib/logger.js';
import type { CatalogStore } from '../store/catalog-store.js';
import { fsyncDir } from './fs-safe.js';
import { writeStacGeoParquet, type WriteResult } from './geoparquet.js';
import { stacItems } from './stac-export.js';
import { newTmpDir } from './stac-files.js';
import { collectionFile, INDEX_FILE } from './stac-names.js';

export { INDEX_FILE };
/** How long after a catalog change the index is rewritten (changes meanwhile join that rewrite). */
export const INDEX_DELAY_MS = 1000;
/** After a failed rewrite (disk full, a file system error): tried again after this, doubling up to 5 min. */
export const INDEX_RETRY_MS = 10_000;
const INDEX_RETRY_MAX_MS = 300_000;
const STRUCTURAL = new Set(['self', 'root', 'parent', 'child', 'item', 'items', 'collection']);

export interface IndexDeps {
  store: CatalogStore;
  root: string;
  logger: Logger;
  /** Held while writing: one writer at a time across replicas. Resolves once held. */
  lock: () => Promise<{ release(): void }>;
  delayMs?: number;
  retryMs?: number;
}

/** The collection documents of the catalog, without their links (relative to collection.json). */
async function collectionDocs(store: CatalogStore, root: string): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const c of await store.collections()) {
    try {
      const doc = JSON.parse(await fsp.readFile(path.join(root, ...collectionFile(c).split('/')), 'utf8')) as Record<string, unknown> & { links?: { rel: string }[] };
      out[c] = { ...doc, links: (doc.links ?? []).filter((l) => !STRUCTURAL.has(l.rel)) };
    } catch {
      // no written item in it (yet): not in the catalog, not in the index
    }
  }
  return out;
}

/**
 * Write the index of the catalog at `root` to `dest` atomically: `tmp` (same filesystem), fsync,
 * rename, fsync of dest's folder. Also `export --format stac-geoparquet`.
 */
export async function writeIndexFile(store: CatalogStore, root: string, dest: string, tmp: string, stats: { missing: number } = { missing: 0 }): Promise<WriteResult> {
  const fh = await fsp.open(tmp, 'wx', 0o644);
  let r: WriteResult;
  try {
    const collections = await collectionDocs(store, root);
    r = await writeStacGeoParquet(fh, () => stacItems(store, root, stats), collections);
    await fh.sync();
  } catch (e) {
    await fh.close().catch(() => undefined);
    await fsp.rm(tmp, { force: true });
    throw e;
  }
  await fh.close();
  crashPoint('index_synced');
  try {
    await fsp.rename(tmp, dest);
  } catch (e) {
    await fsp.rm(tmp, { force: true });
    throw e;
  }
  crashPoint('index_renamed');
  await fsyncDir(path.dirname(dest));
  return r;
}

export class StacIndex {
  readonly #d: IndexDeps;
  #dirty = false;
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<void> | null = null;
  #failures = 0;
  /** How long the last rewrite took. */
  #lastMs = 0;
  /** This writer's own temporary folder (a replica's start-up leaves it alone; stac-files.ts). */
  readonly #tmpRel = newTmpDir();
  /** Rewrites done (tests, logs). */
  writes = 0;

  constructor(deps: IndexDeps) {
    this.#d = deps;
  }

  get file(): string {
    return path.join(this.#d.root, INDEX_FILE);
  }

  get dirty(): boolean {
    return this.#dirty;
  }

  /**
   * The catalog changed: rewrite after the delay, or after three times the last rewrite's duration
   * when that is longer, so a large index (a minute per rewrite at 100,000 items on a busy machine)
   * takes at most a quarter of the time while a first sync keeps changing it. Never throws.
   */
  changed(): void {
    this.#dirty = true;
    this.#arm(Math.max(this.#d.delayMs ?? INDEX_DELAY_MS, 3 * this.#lastMs));
  }

  /** Flush after `ms`; a failure arms a retry (the index stays dirty), backing off. */
  #arm(ms: number): void {
    if (this.#timer) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      void this.flush().then(
        () => {
          this.#failures = 0;
        },
        (e: unknown) => {
          this.#failures++;
          const retryMs = Math.min(INDEX_RETRY_MAX_MS, (this.#d.retryMs ?? INDEX_RETRY_MS) * 2 ** (this.#failures - 1));
          this.#d.logger.error({ err: (e as Error).message, retryMs }, 'could not write the GeoParquet index; trying again');
          this.#arm(retryMs);
        },
      );
    }, ms);
    this.#timer.unref();
  }

  /** Rewrite now if the catalog changed since the last rewrite; one at a time. */
  flush(): Promise<void> {
    return this.#serial(async () => {
      if (this.#dirty) await this.#write();
    });
  }

  /** Rewrite now, changed or not (start-up, verify --repair). */
  rewrite(): Promise<void> {
    return this.#serial(() => this.#write());
  }

  /**
   * Before reconcile removes files: the index stops listing items the catalog withdrew. If it cannot
   * be rewritten, it is removed (a missing index points at nothing); if that fails too, this throws
   * and the files stay.
   */
  async beforeRemove(): Promise<void> {
    this.#dirty = true;
    try {
      await this.flush();
    } catch (e) {
      this.#d.logger.error({ err: (e as Error).message }, 'could not rewrite the GeoParquet index before removing files; removing the index until the next rewrite');
      await this.#serial(async () => {
        await fsp.rm(this.file, { force: true });
        await fsyncDir(this.#d.root);
      });
    }
  }

  /** Run after whatever runs now; the caller gets fn's outcome, the queue never holds a rejection. */
  #serial(fn: () => Promise<void>): Promise<void> {
    const next = (this.#running ?? Promise.resolve()).then(fn);
    const settled: Promise<void> = next.then(
      () => {
        if (this.#running === settled) this.#running = null;
      },
      () => {
        if (this.#running === settled) this.#running = null;
      },
    );
    this.#running = settled;
    return next;
  }

  async #write(): Promise<void> {
    const held = await this.#d.lock();
    try {
      // Changes from here on are after what this rewrite reads: they make it dirty again.
      this.#dirty = false;
      const tmpDir = path.join(this.#d.root, this.#tmpRel);
      await fsp.mkdir(tmpDir, { recursive: true });
      const stats = { missing: 0 };
      const started = Date.now();
      const r = await writeIndexFile(this.#d.store, this.#d.root, this.file, path.join(tmpDir, `${randomBytes(8).toString('hex')}.parquet`), stats);
      this.writes++;
      this.#lastMs = Date.now() - started;
      this.#d.logger.debug({ items: r.rows, bytes: r.bytes, ms: this.#lastMs, unreadable: stats.missing }, 'GeoParquet index written');
    } catch (e) {
      this.#dirty = true;
      throw e;
    } finally {
      held.release();
    }
  }
}
