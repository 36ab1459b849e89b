// Which of the API's URLs the catalogue keeps, and how. A link or collection asset whose URL expires
// (a pre-signed one) is left out: it stops working anyway. Every other URL in a kept document (links,
// asset fields such as `alternate.*.href`, providers, the `canonical` link) goes through publicUrl():
// no user info, no signature, expiry, token, key or credential parameter (lib/url-safety.ts).
import { hrefExpiry } from '../api/stac/items.js';
import { publicUrl, publicUrlsIn } from '../lib/url-safety.js';

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

/** The API's links a catalogue document keeps: not structural, http(s), not expiring, public. */
export function keptLinks(links: unknown, structural: ReadonlySet<string>): Link[] {
  if (!Array.isArray(links)) return [];
  return (links as Link[]).filter((l) => l !== null && typeof l === 'object' && !structural.has(l.rel) && lasting(l.href)).map((l) => publicUrlsIn(l));
}

/** A collection's own assets (thumbnails, documents) that stay: not expiring, public. */
export function keptCollectionAssets(assets: Record<string, { href?: unknown }>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(assets).filter(([, a]) => a !== null && typeof a === 'object' && lasting(a.href)).map(([k, a]) => [k, publicUrlsIn(a)]));
}
