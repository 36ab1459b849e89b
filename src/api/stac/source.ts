// The STAC API as a source: POST /stac/search over the configured scope, paged by links[rel=next]
// (href, method, body with merge, headers) or a bare token; items become one job per selected asset
// (items.ts). Downloads go to pre-signed hrefs without credentials; a refused or expired href is
// refreshed by fetching the item again (one request in flight per item) and the download resumes.
import type { ApiClient, DownloadParams, DownloadResponse, ListParams } from '../client.js';
import { SyncError, isSyncError } from '../../errors.js';
import type { ListPage, RemoteAsset, StacItemRecord } from '../wire.js';
import type { Expectation, Location, Source, SourceInfo, SourceJob } from '../source.js';
import type { Logger } from '../../lib/logger.js';
import { StacWireError, parseCollections, parseConformance, parseFeatureCollection, parseItem, type DroppedLink, type StacItem, type StacLink } from './wire.js';
import { assetUrl, assetVersion, hrefExpiry, isJobVersion, itemToAssets, parseLocator } from './items.js';
import { itemRecord, parseCollectionDoc } from './record.js';
import { otherName, probeFileName } from '../file-name.js';

export interface StacSettings {
  collections: readonly string[] | null;
  filter: Record<string, unknown> | null;
  bbox: readonly number[] | null;
  datetime: string | null;
  assets: readonly string[];
  pageSize: number;
  /** The datetime window's lookback (stac.lookback). */
  lookbackMs: number;
}

/** One search request; serialised, it is the listing's opaque continuation token. */
interface SearchRequest {
  method: 'GET' | 'POST';
  href: string;
  body?: Record<string, unknown> | undefined;
  headers?: Record<string, string> | undefined;
}

type Strategy = 'updated' | 'datetime';

/** The mark stays this far behind the server's clock (items still being written at "now"). */
export const CLOCK_MARGIN_MS = 60_000;
/** A pre-signed URL this close to its expiry is refreshed before the download starts. */
export const EXPIRY_MARGIN_MS = 30_000;
/** Storage statuses that mean "this URL is no longer good" (expired, signature refused). */
const REFUSED = new Set([400, 401, 403]);
/** Headers a next link may not set: credentials and framing stay ours. */
const FORBIDDEN_LINK_HEADERS = /^(authorization|x-api-key|cookie|host|content-length|transfer-encoding|connection)$/i;

function badListing(message: string): SyncError {
  return new SyncError(message, { code: 'SYNC_API_BAD_LISTING' });
}

function iso(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

/** The configured datetime narrowed to start no earlier than `after` (an instant is left alone). */
export function windowDatetime(configured: string | null, after: number): string {
  if (configured === null) return `${iso(after)}/..`;
  const parts = configured.split('/');
  if (parts.length !== 2) return configured;
  const [a, b] = parts as [string, string];
  const start = a === '' || a === '..' ? null : Date.parse(a);
  const from = start === null || Number.isNaN(start) || start < after ? iso(after) : a;
  return `${from}/${b === '' ? '..' : b}`;
}

function and(a: Record<string, unknown> | null, b: Record<string, unknown>): Record<string, unknown> {
  return a ? { op: 'and', args: [a, b] } : b;
}

interface ItemHrefs {
  item: StacItem;
  fetchedAt: number;
  /** The URL it was fetched from, for relative hrefs. */
  base: string;
}

export class StacSource implements Source {
  readonly kind = 'stac' as const;
  readonly #api: ApiClient;
  readonly #s: StacSettings;
  readonly #log: Logger | undefined;
  #conformance: string[] | null = null;
  #strategy: { strategy: Strategy; reason: string } = { strategy: 'datetime', reason: 'not probed yet (no poll has run in this process)' };
  #collections: string[] | null = null;
  /** beginPoll prepared the scope; the next first page uses it instead of preparing again. */
  #prepared = false;
  #cursorCapMs: number | null = null;
  readonly #items = new Map<string, ItemHrefs>();
  readonly #inflight = new Map<string, Promise<ItemHrefs>>();
  /** Links already reported as dropped: one warning each, not one per poll that lists the item again. */
  readonly #dropped = new Set<string>();
  /** Whether a Content-Disposition that differs from an href's name was reported (once per process). */
  #namesDiffer = false;
  readonly #onDrop = (d: DroppedLink): void => {
    const k = `${d.owner}\u0000${d.index}\u0000${d.rel ?? ''}\u0000${d.why}`;
    if (this.#dropped.has(k)) return;
    if (this.#dropped.size >= 10_000) this.#dropped.clear();
    this.#dropped.add(k);
    // The href is not logged: a link may carry a signature.
    this.#log?.warn({ owner: d.owner, link: d.index, rel: d.rel, why: d.why }, `dropped a malformed link of ${d.owner}`);
  };

  constructor(api: ApiClient, settings: StacSettings, logger?: Logger) {
    this.#api = api;
    this.#s = settings;
    this.#log = logger;
  }

  #url(path: string): URL {
    return new URL(path, this.#api.baseUrl);
  }

  async #json(url: URL, init: { method: 'GET' | 'POST'; body?: unknown; headers?: Record<string, string> | undefined; signal?: AbortSignal | undefined }, context: string) {
    return this.#api.requestJson(url, init, context);
  }

  /** Collections to search: the configured ones, or every one GET /stac/collections lists (paged). */
  async #resolveCollections(signal?: AbortSignal): Promise<string[]> {
    if (this.#s.collections) return [...this.#s.collections];
    const ids: string[] = [];
    const seen = new Set<string>();
    let url: URL | null = this.#url('stac/collections');
    url.searchParams.set('limit', String(Math.min(this.#s.pageSize, 1000)));
    for (let pages = 0; url; pages++) {
      if (seen.has(url.href)) throw badListing('GET /stac/collections: the next link repeats a page (the listing would loop)');
      seen.add(url.href);
      const { body } = await this.#json(url, { method: 'GET', signal }, 'GET /stac/collections');
      let page;
      try {
        page = parseCollections(body, 'GET /stac/collections');
      } catch (e) {
        throw e instanceof StacWireError ? badListing(e.message) : e;
      }
      ids.push(...page.ids);
      const next = page.links.find((l) => l.rel === 'next');
      if (next && page.ids.length > 0 && !URL.canParse(next.href, url.href)) throw badListing('GET /stac/collections: the next link has an invalid href');
      url = next && page.ids.length > 0 ? new URL(next.href, url) : null;
    }
    return [...new Set(ids)];
  }

  async #conformanceClasses(signal?: AbortSignal): Promise<string[]> {
    if (this.#conformance) return this.#conformance;
    const { body } = await this.#json(this.#url('stac/conformance'), { method: 'GET', signal }, 'GET /stac/conformance');
    try {
      this.#conformance = parseConformance(body, 'GET /stac/conformance');
    } catch (e) {
      throw e instanceof StacWireError ? badListing(e.message) : e;
    }
    return this.#conformance;
  }

  /**
   * How polls list incrementally. A high-water mark on properties.updated needs the server to filter
   * and sort on it and the items to carry it. What the server does is the judge, not which conformance
   * URLs it advertises (some sort correctly and advertise only ogcapi-features#sort, or nothing): a
   * one-item probe with a CQL2 filter and a sortby on updated; a 400/422/501 or items without updated
   * fall back to a window on datetime with stac.lookback, and the scheduled reconcile catches the rest.
   */
  async #chooseStrategy(signal?: AbortSignal): Promise<{ strategy: Strategy; reason: string }> {
    await this.#conformanceClasses(signal);
    const body = this.#baseBody(1);
    body.filter = and(this.#s.filter, { op: '>=', args: [{ property: 'updated' }, { timestamp: '1970-01-01T00:00:00Z' }] });
    body['filter-lang'] = 'cql2-json';
    body.sortby = [{ field: 'updated', direction: 'desc' }];
    let page;
    try {
      const { body: res } = await this.#json(this.#url('stac/search'), { method: 'POST', body, signal }, 'POST /stac/search (probe)');
      page = parseFeatureCollection(res, 'POST /stac/search (probe)');
    } catch (e) {
      if (isSyncError(e) && (e.status === 400 || e.status === 422 || e.status === 501))
        return { strategy: 'datetime', reason: `the server refused a CQL2-JSON filter and sortby on updated (HTTP ${e.status})` };
      if (e instanceof StacWireError) throw badListing(e.message);
      throw e;
    }
    const first = page.items[0];
    if (!first) {
      // Nothing has an updated: is the scope empty, or do the items lack it?
      const { body: any } = await this.#json(this.#url('stac/search'), { method: 'POST', body: this.#baseBody(1), signal }, 'POST /stac/search (probe)');
      let items;
      try {
        items = parseFeatureCollection(any, 'POST /stac/search (probe)').items;
      } catch (e) {
        throw e instanceof StacWireError ? badListing(e.message) : e;
      }
      return items.length > 0
        ? { strategy: 'datetime', reason: 'the items do not carry properties.updated' }
        : { strategy: 'datetime', reason: 'no item matched the scope yet, so nothing shows whether items carry updated' };
    }
    if (!first.properties.updated) return { strategy: 'datetime', reason: 'the items do not carry properties.updated' };
    return { strategy: 'updated', reason: 'the items carry properties.updated and the server accepts a CQL2-JSON filter and sortby on it (probe)' };
  }

  async #prepare(signal?: AbortSignal): Promise<void> {
    this.#collections = await this.#resolveCollections(signal);
    const chosen = await this.#chooseStrategy(signal);
    if (chosen.strategy !== this.#strategy.strategy || chosen.reason !== this.#strategy.reason)
      this.#log?.info({ strategy: chosen.strategy, reason: chosen.reason }, 'STAC incremental strategy');
    this.#strategy = chosen;
    this.#cursorCapMs = null;
  }

  async beginPoll(signal?: AbortSignal): Promise<{ lookbackMs?: number | undefined }> {
    await this.#prepare(signal);
    this.#prepared = true;
    return { lookbackMs: this.#strategy.strategy === 'datetime' ? this.#s.lookbackMs : undefined };
  }

  #baseBody(limit: number): Record<string, unknown> {
    const body: Record<string, unknown> = { limit };
    if (this.#collections) body.collections = this.#collections;
    if (this.#s.bbox) body.bbox = [...this.#s.bbox];
    if (this.#s.datetime) body.datetime = this.#s.datetime;
    if (this.#s.filter) {
      body.filter = this.#s.filter;
      body['filter-lang'] = 'cql2-json';
    }
    return body;
  }

  /** The first request of a walk: the scope, narrowed to `after` for an incremental poll. */
  #firstRequest(after: number | null, limit: number): SearchRequest {
    const body = this.#baseBody(limit);
    const field = this.#strategy.strategy;
    if (after !== null) {
      if (field === 'updated') {
        body.filter = and(this.#s.filter, { op: '>=', args: [{ property: 'updated' }, { timestamp: iso(after) }] });
        body['filter-lang'] = 'cql2-json';
      } else {
        body.datetime = windowDatetime(this.#s.datetime, after);
      }
    }
    // The updated strategy was chosen because the server accepted sortby on /search; for datetime, its
    // conformance says (item-search#sort: other sort classes are about other endpoints).
    const sortable = field === 'updated' || (this.#conformance ?? []).some((c) => /item-search#sort/.test(c));
    if (sortable) body.sortby = [{ field, direction: 'asc' }];
    return { method: 'POST', href: this.#url('stac/search').href, body };
  }

  /** The request for the next page, from a next link (or a bare token), or null at the end. */
  #nextRequest(prev: SearchRequest, links: StacLink[], token: string | null, returned: number): SearchRequest | null {
    const next = links.find((l) => l.rel === 'next');
    if (!next) {
      if (token === null || returned === 0 || prev.method !== 'POST') return null;
      return { ...prev, body: { ...(prev.body ?? {}), token } };
    }
    let href: URL;
    try {
      href = new URL(next.href, prev.href);
    } catch {
      throw badListing('POST /stac/search: the next link has an invalid href');
    }
    if (href.protocol !== 'http:' && href.protocol !== 'https:') throw badListing(`POST /stac/search: the next link is a ${href.protocol} URL`);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(next.headers ?? {})) if (!FORBIDDEN_LINK_HEADERS.test(k)) headers[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
    const method = (next.method ?? 'GET').toUpperCase();
    if (method !== 'GET' && method !== 'POST') throw badListing(`POST /stac/search: the next link asks for method ${method}`);
    if (method === 'GET') return { method: 'GET', href: href.href, headers };
    // STAC API: with merge, the link's body is merged into the previous request's; else it replaces it.
    const body = next.merge ? { ...(prev.body ?? {}), ...(next.body ?? {}) } : (next.body ?? prev.body ?? {});
    return { method: 'POST', href: href.href, body, headers };
  }

  async listPage(params: ListParams): Promise<ListPage> {
    let req: SearchRequest;
    if (!params.continuationToken) {
      if (!this.#prepared) await this.#prepare(params.signal);
      this.#prepared = false;
      req = this.#firstRequest(params.after ?? null, Math.min(params.limit, this.#s.pageSize));
    } else {
      req = JSON.parse(params.continuationToken) as SearchRequest;
    }
    const context = `${req.method} /stac/search`;
    const { body, serverDateMs } = await this.#json(new URL(req.href), { method: req.method, body: req.method === 'POST' ? req.body : undefined, headers: req.headers, signal: params.signal }, context);
    const receivedAtMs = this.#api.clock();
    // The clock rule: the mark never runs ahead of the server's clock (its Date, minus a margin).
    if (this.#cursorCapMs === null && serverDateMs !== null) this.#cursorCapMs = serverDateMs - CLOCK_MARGIN_MS;
    let items: RemoteAsset[];
    let records: StacItemRecord[];
    let next: SearchRequest | null;
    try {
      const page = parseFeatureCollection(body, context, this.#onDrop);
      const one = this.#collections && this.#collections.length === 1 ? this.#collections[0]! : null;
      items = [];
      records = [];
      for (const it of page.items) {
        const assets = itemToAssets(it, { assets: this.#s.assets, defaultCollection: one, cursorField: this.#strategy.strategy, cursorCapMs: this.#cursorCapMs, baseUrl: req.href });
        items.push(...assets);
        const rec = itemRecord(it, assets, this.#api.baseUrl);
        if (rec) records.push(rec);
      }
      next = this.#nextRequest(req, page.links, page.token, page.items.length);
    } catch (e) {
      throw e instanceof StacWireError ? badListing(e.message) : e;
    }
    // The poller caps the mark and measures the clock skew from the first page's Date (sync/poller.ts).
    return { items, nextToken: next ? JSON.stringify(next) : null, serverDateMs, receivedAtMs, records };
  }

  /** Fetch the item again (one request in flight per item) for fresh hrefs. */
  #refetch(c: string, id: string, signal?: AbortSignal): Promise<ItemHrefs> {
    const k = `${c}\u0000${id}`;
    const running = this.#inflight.get(k);
    if (running) return running;
    const p = (async () => {
      const path = `stac/collections/${encodeURIComponent(c)}/items/${encodeURIComponent(id)}`;
      const context = `GET /${path}`;
      let body: unknown;
      try {
        ({ body } = await this.#json(this.#url(path), { method: 'GET', signal }, context));
      } catch (e) {
        if (isSyncError(e) && e.kind === 'gone')
          throw new SyncError(`${context}: the item ${JSON.stringify(id)} vanished after it was listed (HTTP ${e.status})`, { code: 'SYNC_STAC_ITEM_GONE', status: e.status });
        throw e;
      }
      let item: StacItem;
      try {
        item = parseItem(body, context, this.#onDrop);
      } catch (e) {
        throw e instanceof StacWireError ? badListing(e.message) : e;
      }
      const got: ItemHrefs = { item, fetchedAt: this.#api.clock(), base: this.#url(path).href };
      this.#items.set(k, got);
      if (this.#items.size > 10_000) this.#items.delete(this.#items.keys().next().value!);
      return got;
    })().finally(() => this.#inflight.delete(k));
    this.#inflight.set(k, p);
    return p;
  }

  async locate(job: SourceJob, opts: { refresh?: boolean; signal?: AbortSignal | undefined; stale?: string } = {}): Promise<Location> {
    const loc = parseLocator(job.locator, job.key);
    const now = this.#api.clock();
    const usable = (c: { href: string; x: number | null }) => c.href !== opts.stale && (c.x === null || c.x - EXPIRY_MARGIN_MS > now);
    // A sibling asset may already have refreshed this item, but its URL serves the version it was
    // fetched at: it stands in for the job's own href only when that is the version the job wants.
    const cached = this.#items.get(`${loc.c}\u0000${loc.i}`);
    const ca = cached?.item.assets[loc.a];
    let shared: { href: string; x: number | null } | null = null;
    if (cached && ca && isJobVersion(job, assetVersion(cached.item, ca))) {
      try {
        const u = assetUrl(cached.item, loc.a, ca.href, cached.base);
        shared = { href: u.href, x: hrefExpiry(u) };
      } catch {
        /* not a usable URL: fetch the item again below */
      }
    }
    const own = { href: loc.h, x: loc.x };
    const ok = opts.refresh ? (shared && usable(shared) ? shared : null) : [shared, own].find((c) => c !== null && usable(c));
    if (ok) return { url: new URL(ok.href), credentials: false, expiresAt: ok.x };
    const fresh = await this.#refetch(loc.c, loc.i, opts.signal);
    const a = fresh.item.assets[loc.a];
    if (!a)
      throw new SyncError(`GET item ${JSON.stringify(loc.i)}: asset ${JSON.stringify(loc.a)} is no longer part of the item`, { code: 'SYNC_STAC_ASSET_GONE', status: 404 });
    // Another version's URL would give other bytes than the job expects (a checksum failure at best).
    if (!isJobVersion(job, assetVersion(fresh.item, a)))
      throw new SyncError(`GET item ${JSON.stringify(loc.i)}: asset ${JSON.stringify(loc.a)} changed upstream since it was listed; the next listing brings the new version`, {
        code: 'SYNC_STAC_ITEM_CHANGED',
      });
    let url: URL;
    try {
      url = assetUrl(fresh.item, loc.a, a.href, fresh.base);
    } catch (e) {
      throw e instanceof StacWireError ? badListing(e.message) : e;
    }
    this.#log?.debug({ key: job.key }, 'refreshed the pre-signed URL');
    return { url, credentials: false, expiresAt: hrefExpiry(url) };
  }

  async download(job: SourceJob, params: DownloadParams): Promise<DownloadResponse> {
    const context = `GET ${job.key}`;
    let loc = await this.locate(job, { signal: params.signal });
    for (let refreshes = 0; ; refreshes++) {
      try {
        // Never any credentials to storage: downloadUrl sends none, on any hop.
        const res = await this.#api.downloadUrl(loc.url, context, params);
        this.#checkName(job, loc.url, res.contentDisposition);
        return res;
      } catch (e) {
        if (!isSyncError(e) || e.status === undefined || !REFUSED.has(e.status)) throw e;
        if (refreshes >= 1)
          throw new SyncError(`${context}: storage refused a freshly fetched pre-signed URL (HTTP ${e.status})`, {
            code: 'SYNC_STAC_URL_REFUSED',
            status: e.status,
          });
        this.#log?.info({ key: job.key, status: e.status }, 'storage refused the pre-signed URL; fetching the item again');
        loc = await this.locate(job, { refresh: true, stale: loc.url.href, signal: params.signal });
      }
    }
  }

  /**
   * Constellr's script names a file by Content-Disposition: when storage names a file otherwise than
   * its href's path (which names it here), say so once, so a difference from the script is not silent.
   */
  #checkName(job: SourceJob, url: URL, disposition: string | null): void {
    const given = this.#namesDiffer || disposition === null || this.namedByServer(job) ? null : otherName(url, disposition);
    if (given === null) return;
    this.#namesDiffer = true;
    this.#log?.warn({ key: job.key, contentDisposition: given }, "storage names this file otherwise than its href (Content-Disposition); files are named by their hrefs, so names can differ from the official download script's");
  }

  /**
   * For a job whose href names no file (locator `n`): one GET of its first byte, to read the name
   * the server gives it, as Constellr's download script does (Content-Disposition, else the last path
   * segment of the URL that answered). The body is not read.
   */
  namedByServer(job: SourceJob): boolean {
    try {
      return parseLocator(job.locator, job.key).n === true;
    } catch {
      return false; // download() reports the missing locator
    }
  }

  async fileName(job: SourceJob, signal?: AbortSignal): Promise<string | null> {
    return this.namedByServer(job) ? probeFileName((p) => this.download(job, p), signal) : null;
  }

  expect(job: SourceJob): Expectation {
    let sha256: string | null = null;
    try {
      sha256 = parseLocator(job.locator, job.key).s;
    } catch {
      /* download() reports the missing locator */
    }
    return { size: job.remoteSize >= 0 ? job.remoteSize : null, etag: null, sha256 };
  }

  /** A collection document as the API has it (validated), for the mirror's catalogue. */
  async fetchCollection(id: string, signal?: AbortSignal): Promise<Record<string, unknown>> {
    const path = `stac/collections/${encodeURIComponent(id)}`;
    const { body } = await this.#json(this.#url(path), { method: 'GET', signal }, `GET /${path}`);
    try {
      return parseCollectionDoc(body, id, `GET /${path}`, this.#onDrop);
    } catch (e) {
      throw e instanceof StacWireError ? badListing(e.message) : e;
    }
  }

  describe(): SourceInfo {
    return { source: 'stac', strategy: this.#strategy.strategy, reason: this.#strategy.reason };
  }
}
