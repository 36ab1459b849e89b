// Pre-signed URLs. Downloads go to the hrefs the items list, without credentials. A URL that is
// expired, about to expire, or refused by storage is replaced by fetching the item again (one request
// in flight per item; the last 10,000 items kept), and a URL so fetched stands in for a job's own only
// for the version it was fetched at.
import { SyncError, isSyncError } from '../../errors.js';
import { itemRefKey } from '../../lib/item-ref.js';
import type { Logger } from '../../lib/logger.js';
import type { DownloadParams, DownloadResponse } from '../client.js';
import type { Location, SourceJob } from '../source.js';
import { fromWire, type StacApi } from './boundary.js';
import { assetUrl, assetVersion, hrefExpiry, isJobVersion } from './items.js';
import { parseLocator, type Locator } from './locator.js';
import { parseItem, type OnDroppedLink, type StacItem } from './documents.js';

/** A pre-signed URL this close to its expiry is refreshed before the download starts. */
export const EXPIRY_MARGIN_MS = 30_000;
/** Storage statuses that mean "this URL is no longer good" (expired, signature refused). */
const REFUSED = new Set([400, 401, 403]);
const CACHED_ITEMS = 10_000;

interface FetchedItem {
  item: StacItem;
  /** The URL it was fetched from, for relative hrefs. */
  base: string;
}

interface Candidate {
  href: string;
  expiresAt: number | null;
}

export interface LocateOptions {
  /** The job's own URL failed: only a URL fetched since (or a new fetch) will do. */
  refresh?: boolean;
  signal?: AbortSignal | undefined;
  /** A URL known to fail, never handed out again. */
  stale?: string;
}

const itemKey = (l: Locator): string => itemRefKey({ collection: l.collection, id: l.item });

export class PresignedUrls {
  readonly #api: StacApi;
  readonly #onDrop: OnDroppedLink;
  readonly #log: Logger | undefined;
  readonly #items = new Map<string, FetchedItem>();
  readonly #inflight = new Map<string, Promise<FetchedItem>>();

  constructor(api: StacApi, onDrop: OnDroppedLink, log?: Logger) {
    this.#api = api;
    this.#onDrop = onDrop;
    this.#log = log;
  }

  /** Where the job's bytes are now: its own href, one fetched since for the same version, or a new one. */
  async locate(job: SourceJob, opts: LocateOptions = {}): Promise<Location> {
    const loc = parseLocator(job.locator, job.key);
    const now = this.#api.now();
    const usable = (c: Candidate | null): c is Candidate => c !== null && c.href !== opts.stale && (c.expiresAt === null || c.expiresAt - EXPIRY_MARGIN_MS > now);
    const shared = this.#shared(job, loc);
    const own = loc.href === null ? null : { href: loc.href, expiresAt: loc.expiresAt };
    const ok = opts.refresh ? (usable(shared) ? shared : null) : [shared, own].find(usable);
    if (ok) return { url: new URL(ok.href), credentials: false, expiresAt: ok.expiresAt };
    return this.#fresh(job, loc, opts.signal);
  }

  /** Start the download; a URL storage refuses is replaced once by fetching the item again. */
  async download(job: SourceJob, params: DownloadParams): Promise<{ res: DownloadResponse; url: URL }> {
    const context = `GET ${job.key}`;
    let loc = await this.locate(job, { signal: params.signal });
    for (let refreshes = 0; ; refreshes++) {
      try {
        // Never any credentials to storage: downloadUrl sends none, on any hop.
        return { res: await this.#api.client.downloadUrl(loc.url, context, params), url: loc.url };
      } catch (e) {
        if (!isSyncError(e) || e.status === undefined || !REFUSED.has(e.status)) throw e;
        if (refreshes >= 1)
          throw new SyncError(`${context}: storage refused a freshly fetched pre-signed URL (HTTP ${e.status})`, { code: 'SYNC_STAC_URL_REFUSED', status: e.status });
        this.#log?.info({ key: job.key, status: e.status }, 'storage refused the pre-signed URL; fetching the item again');
        loc = await this.locate(job, { refresh: true, stale: loc.url.href, signal: params.signal });
      }
    }
  }

  /**
   * A sibling asset may already have refreshed this item, but its URL serves the version it was
   * fetched at: it stands in for the job's own href only when that is the version the job wants.
   */
  #shared(job: SourceJob, loc: Locator): Candidate | null {
    const cached = this.#items.get(itemKey(loc));
    const asset = cached?.item.assets[loc.asset];
    if (!cached || !asset || !isJobVersion(job, assetVersion(cached.item, asset))) return null;
    try {
      const u = assetUrl(cached.item, loc.asset, asset.href, cached.base);
      return { href: u.href, expiresAt: hrefExpiry(u) };
    } catch {
      return null; // not a usable URL: the item is fetched again
    }
  }

  async #fresh(job: SourceJob, loc: Locator, signal: AbortSignal | undefined): Promise<Location> {
    const fresh = await this.#refetch(loc, signal);
    const a = fresh.item.assets[loc.asset];
    if (!a) throw new SyncError(`GET item ${JSON.stringify(loc.item)}: asset ${JSON.stringify(loc.asset)} is no longer part of the item`, { code: 'SYNC_STAC_ASSET_GONE', status: 404 });
    // Another version's URL would give other bytes than the job expects (a checksum failure at best).
    if (!isJobVersion(job, assetVersion(fresh.item, a)))
      throw new SyncError(`GET item ${JSON.stringify(loc.item)}: asset ${JSON.stringify(loc.asset)} changed upstream since it was listed; the next listing brings the new version`, {
        code: 'SYNC_STAC_ITEM_CHANGED',
      });
    const url = fromWire(() => assetUrl(fresh.item, loc.asset, a.href, fresh.base));
    this.#log?.debug({ key: job.key }, 'refreshed the pre-signed URL');
    return { url, credentials: false, expiresAt: hrefExpiry(url) };
  }

  /** Fetch the item again, one request in flight per item. */
  #refetch(loc: Locator, signal: AbortSignal | undefined): Promise<FetchedItem> {
    const k = itemKey(loc);
    const running = this.#inflight.get(k);
    if (running) return running;
    const p = this.#fetchItem(k, loc, signal).finally(() => this.#inflight.delete(k));
    this.#inflight.set(k, p);
    return p;
  }

  async #fetchItem(k: string, loc: Locator, signal: AbortSignal | undefined): Promise<FetchedItem> {
    const path = `stac/collections/${encodeURIComponent(loc.collection)}/items/${encodeURIComponent(loc.item)}`;
    let item: StacItem;
    try {
      item = await this.#api.get(path, (body, context) => parseItem(body, context, this.#onDrop), signal);
    } catch (e) {
      if (isSyncError(e) && e.kind === 'gone')
        throw new SyncError(`GET /${path}: the item ${JSON.stringify(loc.item)} vanished after it was listed (HTTP ${e.status})`, { code: 'SYNC_STAC_ITEM_GONE', status: e.status });
      throw e;
    }
    const got: FetchedItem = { item, base: this.#api.url(path).href };
    this.#items.set(k, got);
    if (this.#items.size > CACHED_ITEMS) this.#items.delete(this.#items.keys().next().value!);
    return got;
  }
}
