// Which of the API's URLs the catalog keeps, and how. A link or collection asset whose URL expires
// (a pre-signed one) is left out: it stops working anyway. Every other URL in a kept document (links,
// asset fields such as `alternate.*.href`, providers, the `canonical` link) goes through publicUrl():
// no user info, no signature, expiry, token, key or credential parameter (lib/url-safety.ts). The
// state keeps the same: items with their selected assets only, collection documents like the catalog.
import { hrefExpiry } from '../api/stac/items.js';
import { keptItemJson } from '../api/stac/record.js';
import { publicUrl, publicUrlsIn } from '../lib/url-safety.js';
import type { CatalogStore } from '../store/catalog-store.js';

export { publicUrl, publicUrlsIn };

export interface Link {
  rel: string;
  href: string;
  [k: string]: unknown;
}

/** An http(s) URL that says no expiry; false for anything unparseable. */
function lasting(href: unknown): href is string {
  if (typeof href !== 'string' || !/^https?:\/\//i.test(href)) return false;
  try {
    return hrefExpiry(new URL(href)) === null;
  } catch {
    return false;
  }
}

/** The API's links a catalog document keeps: not structural, http(s), not expiring, public. */
export function keptLinks(links: unknown, structural: ReadonlySet<string>): Link[] {
  if (!Array.isArray(links)) return [];
  return (links as Link[]).filter((l) => l !== null && typeof l === 'object' && !structural.has(l.rel) && lasting(l.href)).map((l) => publicUrlsIn(l));
}

/** A collection's own assets (thumbnails, documents) that stay: not expiring, public. */
export function keptCollectionAssets(assets: Record<string, { href?: unknown }>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(assets).filter(([, a]) => a !== null && typeof a === 'object' && lasting(a.href)).map(([k, a]) => [k, publicUrlsIn(a)]));
}

/** What the state keeps of a collection document: expiring links and assets left out, the rest public. */
export function keptCollectionJson(doc: Record<string, unknown>): string {
  const out: Record<string, unknown> = { ...doc };
  if (doc.links !== undefined) out.links = keptLinks(doc.links, new Set());
  if (doc.assets !== undefined) out.assets = keptCollectionAssets((doc.assets ?? {}) as Record<string, { href?: unknown }>);
  return JSON.stringify(publicUrlsIn(out));
}

/**
 * Start-up: rows an older version stored whole (every asset's signed href, links with tokens, a
 * canonical URL with user info; marked by migration) are rewritten to what the state keeps now, a
 * page per transaction; collection documents likewise. Returns how many rows changed. Once done,
 * the items cost one indexed probe per start.
 */
export async function scrubStoredItems(store: CatalogStore, now: number = Date.now()): Promise<number> {
  let n = 0;
  for (;;) {
    const page = await store.unscrubbedItems(500);
    if (page.length === 0) break;
    await store.scrubItems(page.map((row) => ({ collection: row.collection, id: row.id, was: row.raw, raw: keptItemJson(JSON.parse(row.raw) as { assets?: unknown }, row.assets.map((a) => a.asset)), apiUrl: publicUrl(row.apiUrl) })));
    n += page.length;
  }
  for (const c of await store.collections()) {
    const stored = await store.getCollection(c);
    if (stored === null) continue;
    const kept = keptCollectionJson(JSON.parse(stored) as Record<string, unknown>);
    if (kept === stored) continue;
    await store.putCollection(c, kept, now);
    n++;
  }
  return n;
}
