// One search page read into what the listing takes: one job per selected asset of each item
// (items.ts), the item records for the mirror's catalog (record.ts), and the request for the next page.
import type { RemoteAsset, StacItemRecord } from '../wire.js';
import { itemToAssets } from './items.js';
import { itemRecord } from './record.js';
import { nextRequest, type SearchRequest, type Strategy } from './search.js';
import { parseFeatureCollection, type OnDroppedLink } from './documents.js';

export interface PageContext {
  /** The request that fetched the page (relative hrefs resolve against it; the next one builds on it). */
  request: SearchRequest;
  /** The collections searched: the one collection of an item that names none, when only one was. */
  collections: readonly string[] | null;
  /** stac.assets: asset keys or roles to take; empty = all. */
  assets: readonly string[];
  strategy: Strategy;
  /** The cap for cursor values (the server's clock minus a margin); null when unknown. */
  cursorCapMs: number | null;
  /** The API's base URL, for the items' canonical links. */
  apiBase: string;
  onDrop: OnDroppedLink;
}

export interface SearchPage {
  items: RemoteAsset[];
  records: StacItemRecord[];
  next: SearchRequest | null;
}

/** Read a search response. Throws StacWireError (malformed page or item) or a bad listing (next link). */
export function readSearchPage(body: unknown, context: string, o: PageContext): SearchPage {
  const page = parseFeatureCollection(body, context, o.onDrop);
  const one = o.collections && o.collections.length === 1 ? o.collections[0]! : null;
  const items: RemoteAsset[] = [];
  const records: StacItemRecord[] = [];
  for (const it of page.items) {
    const assets = itemToAssets(it, { assets: o.assets, defaultCollection: one, cursorField: o.strategy, cursorCapMs: o.cursorCapMs, baseUrl: o.request.href });
    items.push(...assets);
    const rec = itemRecord(it, assets, o.apiBase);
    if (rec) records.push(rec);
  }
  return { items, records, next: nextRequest(o.request, page.links, page.token, page.items.length) };
}
