// Paging by GET next links, as pystac-client's get_pages: the pages of a listing endpoint
// (/stac/collections), following links[rel=next] until a page has none or holds nothing. A next link
// that repeats a page or is no URL is an error, never an endless or silently short walk. (Search pages
// are walked by the poller, one page per call, through continuation tokens: search.ts.)
import type { StacApi } from './boundary.js';
import { badListing } from './boundary.js';
import type { StacLink } from './wire.js';

export interface Page {
  links: readonly StacLink[];
  /** How many entries the page holds; an empty page ends the walk whatever its links say. */
  size: number;
}

/** The pages from `first` on, each read by `read` (`context` names the endpoint in errors). */
export async function* getPages<P extends Page>(api: StacApi, first: URL, context: string, read: (body: unknown) => P, signal?: AbortSignal): AsyncGenerator<P> {
  const seen = new Set<string>();
  for (let url: URL | null = first; url; ) {
    if (seen.has(url.href)) throw badListing(`${context}: the next link repeats a page (the listing would loop)`);
    seen.add(url.href);
    const { value: page }: { value: P } = await api.call(url, { method: 'GET', signal }, context, read);
    yield page;
    const next: StacLink | undefined = page.size > 0 ? page.links.find((l) => l.rel === 'next') : undefined;
    if (next && !URL.canParse(next.href, url.href)) throw badListing(`${context}: the next link has an invalid href`);
    url = next ? new URL(next.href, url) : null;
  }
}
