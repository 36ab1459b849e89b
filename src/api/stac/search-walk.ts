// The listing side of the STAC source: before each poll, resolve the collections, read conformance
// and probe the incremental strategy; then one search page per call, the first narrowed to the poll's
// start, the rest from the continuation token (the next request, serialised).
import type { Logger } from '../../lib/logger.js';
import type { ListParams } from '../client.js';
import type { ListPage } from '../wire.js';
import { fromWire, type StacApi } from './boundary.js';
import { resolveCollections } from './collections.js';
import { Conformance } from './conformance.js';
import { firstRequest, parseSearchToken, printSearchToken, type SearchRequest, type SearchScope } from './search.js';
import { readSearchPage } from './search-page.js';
import { NOT_PROBED, probeStrategy, type StrategyChoice } from './strategy.js';
import type { OnDroppedLink } from './documents.js';

/** The mark stays this far behind the server's clock (items still being written at "now"). */
export const CLOCK_MARGIN_MS = 60_000;

/** The configured scope (collections null: every collection the API lists), assets and page size. */
export interface WalkSettings extends SearchScope {
  assets: readonly string[];
  pageSize: number;
}

export class SearchWalk {
  readonly #api: StacApi;
  readonly #s: WalkSettings;
  readonly #onDrop: OnDroppedLink;
  readonly #log: Logger | undefined;
  readonly #conformance = new Conformance();
  #strategy: StrategyChoice = NOT_PROBED;
  #collections: string[] | null = null;
  /** begin() prepared the scope; the next first page uses it instead of preparing again. */
  #prepared = false;
  /** The cap of cursor values for this walk: the first page's server Date minus CLOCK_MARGIN_MS. */
  #cursorCapMs: number | null = null;

  constructor(api: StacApi, settings: WalkSettings, onDrop: OnDroppedLink, log?: Logger) {
    this.#api = api;
    this.#s = settings;
    this.#onDrop = onDrop;
    this.#log = log;
  }

  /** The strategy in use, and why. */
  get strategy(): StrategyChoice {
    return this.#strategy;
  }

  /** Prepare the next walk (called before each poll's first page). */
  async begin(signal?: AbortSignal): Promise<StrategyChoice> {
    await this.#prepare(signal);
    this.#prepared = true;
    return this.#strategy;
  }

  async #prepare(signal?: AbortSignal): Promise<void> {
    this.#collections = await resolveCollections(this.#api, this.#s.collections, this.#s.pageSize, signal);
    await this.#conformance.load(this.#api, signal);
    const chosen = await probeStrategy(this.#api, this.#scope(), signal);
    if (chosen.strategy !== this.#strategy.strategy || chosen.reason !== this.#strategy.reason)
      this.#log?.info({ strategy: chosen.strategy, reason: chosen.reason }, 'STAC incremental strategy');
    this.#strategy = chosen;
    this.#cursorCapMs = null;
  }

  #scope(): SearchScope {
    return { collections: this.#collections, filter: this.#s.filter, bbox: this.#s.bbox, datetime: this.#s.datetime };
  }

  async #request(params: ListParams): Promise<SearchRequest> {
    if (params.continuationToken) return parseSearchToken(params.continuationToken);
    if (!this.#prepared) await this.#prepare(params.signal);
    this.#prepared = false;
    const { strategy } = this.#strategy;
    const limit = Math.min(params.limit, this.#s.pageSize);
    const serverSorts = this.#conformance.has('ITEM_SEARCH_SORT');
    return firstRequest(this.#scope(), { href: this.#api.url('stac/search').href, strategy, serverSorts, after: params.after ?? null, limit });
  }

  /** One page of the walk. */
  async page(params: ListParams): Promise<ListPage> {
    const req = await this.#request(params);
    const context = `${req.method} /stac/search`;
    const init = { method: req.method, body: req.method === 'POST' ? req.body : undefined, headers: req.headers, signal: params.signal };
    const { body, serverDateMs } = await this.#api.client.requestJson(new URL(req.href), init, context);
    const receivedAtMs = this.#api.now();
    // The clock rule: the mark never runs ahead of the server's clock (its Date, minus a margin).
    if (this.#cursorCapMs === null && serverDateMs !== null) this.#cursorCapMs = serverDateMs - CLOCK_MARGIN_MS;
    const o = { request: req, collections: this.#collections, assets: this.#s.assets, strategy: this.#strategy.strategy, cursorCapMs: this.#cursorCapMs, apiBase: this.#api.client.baseUrl, onDrop: this.#onDrop };
    const page = fromWire(() => readSearchPage(body, context, o));
    // The poller caps the mark and measures the clock skew from the first page's Date (sync/poller.ts).
    return { items: page.items, nextToken: page.next ? printSearchToken(page.next) : null, serverDateMs, receivedAtMs, records: page.records };
  }
}
