// Walking a listing: every page of the source (GET /assets or POST /stac/search) from one starting
// point, each page retried quickly on retryable errors (honouring Retry-After), a listing that would
// never end (a repeated continuation token or next link, a repeated page, more than maxPages pages)
// treated as an error instead of an endless loop, and shutdown checked between pages. Used by polls,
// reconciles and `ls`.
import { createHash } from 'node:crypto';
import type { Source } from '../api/source.js';
import { SyncError } from '../errors.js';
import { connectFailureReason } from '../lib/unreachable.js';
import type { ListPage } from '../api/wire.js';
import type { Logger } from '../lib/logger.js';
import { retry, type RetryPolicy } from '../lib/retry.js';

export interface ListingOptions {
  /** The source being listed (asset API or STAC). */
  api: Pick<Source, 'listPage'>;
  /** lastModifiedAfter, or null for a full listing. */
  after: number | null;
  pageSize: number;
  /** Quick retries of one page before the walk fails. */
  retries: number;
  retryMinMs?: number | undefined;
  signal?: AbortSignal | undefined;
  logger?: Logger | undefined;
  /** What is walking, for messages: "poll", "reconcile", "ls". */
  what: string;
  onRateLimited?: ((ms: number) => void) | undefined;
  /**
   * A one-shot command fails fast when the API cannot be reached at all (connection refused, host
   * not found, connect timeout): it stops retrying a page after `attempts` tries or `afterMs`,
   * whichever comes first. Without it (`run`), such pages get the usual retries.
   */
  unreachable?: { attempts: number; afterMs: number } | undefined;
  /** The most pages one walk may take (sync.maxListingPages); more means the listing never ends. */
  maxPages?: number | undefined;
}

/** The fail-fast budget of one-shot commands: 3 tries within about one connect timeout (10 s by default). */
export function oneShotUnreachable(connectTimeoutMs: number): { attempts: number; afterMs: number } {
  return { attempts: 3, afterMs: connectTimeoutMs };
}

/** How a listing page (and a poll's preparation) is retried: what to do is the error table's. */
export function pageRetry(o: { retries: number; retryMinMs?: number | undefined; signal?: AbortSignal | undefined }): RetryPolicy {
  return { retries: o.retries, baseMs: o.retryMinMs ?? 1000, maxMs: 30_000, signal: o.signal };
}

/** sync.maxListingPages' default: a billion keys at 1000 per page. */
export const DEFAULT_MAX_LISTING_PAGES = 1_000_000;

function endlessListing(message: string): SyncError {
  return new SyncError(`the listing: ${message} (it would never end); the high-water mark was not moved`, {
    code: 'SYNC_API_BAD_LISTING',
  });
}

/** A fingerprint of a non-empty page's contents (keys, dates, sizes, ETags). */
function pageDigest(page: ListPage): string | null {
  if (page.items.length === 0) return null;
  const h = createHash('sha1');
  for (const it of page.items) h.update(`${it.key}\0${it.lastModifiedMs}\0${it.size}\0${it.etag ?? ''}\n`);
  return h.digest('base64');
}

export async function* listPages(o: ListingOptions): AsyncGenerator<ListPage> {
  const seen = new Set<string>();
  const seenPages = new Set<string>();
  const maxPages = o.maxPages ?? DEFAULT_MAX_LISTING_PAGES;
  let pages = 0;
  const fetchPage = (token: string | null): Promise<ListPage> => {
    if (o.signal?.aborted) return Promise.reject(new SyncError(`${o.what} interrupted by shutdown`, { code: 'SYNC_ABORTED' }));
    const started = performance.now();
    // Unreachable, or answering pages that are not a listing, and out of budget: no further try (a
    // one-shot command reports it at once). A malformed page gets the same few tries, over a few
    // connect timeouts: retrying it a little is right (a proxy's error page), a minute is not.
    const givesUp = (e: SyncError, attemptNumber: number) =>
      o.unreachable !== undefined &&
      (connectFailureReason(e) !== null
        ? attemptNumber >= o.unreachable.attempts || performance.now() - started >= o.unreachable.afterMs
        : e.errorClass === 'bad_listing' && (attemptNumber >= o.unreachable.attempts || performance.now() - started >= o.unreachable.afterMs * o.unreachable.attempts));
    const tries = (attemptNumber: number, retriesLeft: number) =>
      `try ${attemptNumber} of ${o.unreachable !== undefined ? Math.min(o.unreachable.attempts, attemptNumber + retriesLeft) : attemptNumber + retriesLeft} failed`;
    return retry(() => o.api.listPage({ after: o.after, limit: o.pageSize, continuationToken: token, signal: o.signal }), {
      ...pageRetry(o),
      givesUp,
      onRetry: (e, t) => {
        const reason = connectFailureReason(e);
        const { retriesLeft } = t;
        // Name what failed: often it is POST /token, not the listing, that cannot connect.
        if (reason !== null) o.logger?.warn({ errorClass: e.errorClass, retriesLeft, err: e.message }, `${o.what}: cannot reach the API (${reason}); retrying`);
        else if (e.errorClass === 'bad_listing')
          o.logger?.warn({ errorClass: e.errorClass, status: e.status, retriesLeft, err: e.message }, `${o.what}: the API answered a page that is not a listing (${tries(t.attempt, retriesLeft)}); retrying`);
        else o.logger?.warn({ errorClass: e.errorClass, status: e.status, retriesLeft, err: e.message }, `${o.what}: listing page failed; retrying`);
        if (t.retryAfterMs !== undefined) o.onRateLimited?.(t.retryAfterMs);
      },
    });
  };
  // A page fetched ahead is awaited only after the caller has committed the previous one. If it
  // fails first, nobody is awaiting it yet: a handler attached at creation keeps that rejection
  // handled (the same promise still rejects for the `await` below, which reports it).
  const prefetch = (token: string | null): Promise<ListPage> => {
    const p = fetchPage(token);
    p.catch(() => undefined);
    return p;
  };
  let next: Promise<ListPage> | null = prefetch(null);
  try {
    while (next) {
      const page: ListPage = await next;
      next = null;
      pages++;
      // Same contents again under another token: a server looping over its own pages.
      const digest = pageDigest(page);
      if (digest !== null) {
        if (seenPages.has(digest)) throw endlessListing(`the server repeated a page (page ${pages} has the same contents as an earlier one)`);
        seenPages.add(digest);
      }
      if (page.nextToken) {
        if (seen.has(page.nextToken)) throw endlessListing('the server repeated a continuation token or next link');
        if (pages >= maxPages) throw endlessListing(`more than ${maxPages} pages (sync.maxListingPages)`);
        seen.add(page.nextToken);
        // Prefetch: the server prepares the next page while the caller commits this one.
        next = prefetch(page.nextToken);
      }
      yield page;
    }
  } finally {
    // The caller stopped early (an error, shutdown): nobody will await the prefetched page, whose
    // rejection is already handled (prefetch).
    next = null;
  }
}
