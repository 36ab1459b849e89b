// Paging by GET next links, as pystac-client's get_pages: the pages of a listing endpoint
// (/stac/collections), following links[rel=next] until a page has none or holds nothing. A next link
// that repeats a page or is no URL is a malformed response, never an endless or silently short walk.
// (Search pages are walked by the poller, one page per call, through continuation tokens: search.ts.)
import type { StacApi } from './boundary.js';
import { StacWireError, type StacLink } from './documents.js';

export interface Page {
  links: readonly StacLink[];
  /** How many entries the page holds; an empty page ends the walk whatever its links say. */
  size: number;
}

/** The pages from `first` on, each read by `read` (`context` names the endpoint in errors). */
export async function* getPages<P extends Page>(api: StacApi, first: URL, context: string, read: (body: unknown) => P, signal?: AbortSignal): AsyncGenerator<P> {
  const seen = new Set<string>([first.href]);
  for (let url: URL | null = first; url !== null; ) {
    const at: URL = url;
    const { value } = await api.call(at, { method: 'GET', signal }, context, (body) => {
      const page = read(body);
      return { page, next: nextPage(page, at, seen, context) };
    });
    yield value.page;
    url = value.next;
  }
}

/** The next page's URL, or null at the end. */
function nextPage(page: Page, at: URL, seen: Set<string>, context: string): URL | null {
  const link = page.size > 0 ? page.links.find((l) => l.rel === 'next') : undefined;
  if (!link) return null;
  if (!URL.canParse(link.href, at.href)) throw new StacWireError(`${context}: the next link has an invalid href`);
  const next = new URL(link.href, at);
  if (seen.has(next.href)) throw new StacWireError(`${context}: the next link repeats a page (the listing would loop)`);
  seen.add(next.href);
  return next;
}
